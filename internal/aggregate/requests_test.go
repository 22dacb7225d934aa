package aggregate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

func TestOutcomesQuery(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	until, notBefore := t0.Add(10*24*time.Hour), t0.Add(3*24*time.Hour)
	tests := []struct {
		name       string
		scan       bool
		marks      map[string]time.Time
		want       string
		wantFrom   time.Time // index.requests written; zero: none
		wantParam  bool      // indexed_from passed
		wantRouted time.Time // index.outcomes written; zero: none
	}{
		{"cluster scans", true, map[string]time.Time{markIngestPredictions: t0}, "dirty_outcomes_scan", time.Time{}, false, time.Time{}},
		{"first cycle: the index starts now", false, nil, "dirty_outcomes_fallback", until, true, until},
		{"upgrade: from the predictions watermark", false, map[string]time.Time{markIngestPredictions: until.Add(-time.Minute)},
			"dirty_outcomes_fallback", until.Add(-time.Minute), true, until},
		{"upgrade: copies from the outcomes watermark", false,
			map[string]time.Time{markIndexedRequests: t0, markIngestPredictions: until, markIngestOutcomes: until.Add(-time.Minute)},
			"dirty_outcomes", t0, false, until.Add(-time.Minute)},
		{"started within the horizon", false, map[string]time.Time{markIndexedRequests: notBefore, markIngestPredictions: until},
			"dirty_outcomes_fallback", notBefore, true, until},
		{"started before the horizon", false, map[string]time.Time{markIndexedRequests: notBefore.Add(-time.Second), markRoutedOutcomes: t0,
			markIngestOutcomes: until}, "dirty_outcomes", notBefore.Add(-time.Second), false, t0},
		{"mark past until stays", false, map[string]time.Time{markIndexedRequests: until.Add(time.Hour), markRoutedOutcomes: until.Add(time.Hour)},
			"dirty_outcomes_fallback", until.Add(time.Hour), true, until.Add(time.Hour)},
		{"predictions watermark past until stays", false, map[string]time.Time{markIngestPredictions: until.Add(time.Hour)},
			"dirty_outcomes_fallback", until.Add(time.Hour), true, until},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Aggregator{cfg: Config{RequestScan: tt.scan}}
			newMarks := map[string]time.Time{}
			got, params := a.outcomesQuery(tt.marks, newMarks, until, notBefore, until)
			if got != tt.want {
				t.Errorf("query %s, want %s", got, tt.want)
			}
			if from, ok := newMarks[markIndexedRequests]; ok != !tt.wantFrom.IsZero() || !from.Equal(tt.wantFrom) {
				t.Errorf("index.requests = %v (%v), want %v", from, ok, tt.wantFrom)
			}
			if _, ok := params["indexed_from"]; ok != tt.wantParam {
				t.Errorf("params %v: indexed_from %v, want %v", params, ok, tt.wantParam)
			}
			if _, ok := params["routed_at"]; ok == tt.scan {
				t.Errorf("params %v: routed_at %v, want %v", params, ok, !tt.scan)
			}
			if r, ok := newMarks[markRoutedOutcomes]; ok != !tt.wantRouted.IsZero() || !r.Equal(tt.wantRouted) {
				t.Errorf("index.outcomes = %v (%v), want %v", r, ok, tt.wantRouted)
			}
		})
	}
}

func TestRoutedFrom(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		scan  bool
		marks map[string]time.Time
		want  time.Time
	}{
		{"before the first cycle", false, nil, time.Time{}},
		{"cluster", true, map[string]time.Time{markRoutedOutcomes: t0, markIndexedRequests: t0}, time.Time{}},
		{"outcomes copied after the index", false, map[string]time.Time{markRoutedOutcomes: t0, markIndexedRequests: t0.Add(-time.Hour)},
			t0.Add(routeMargin)},
		{"index started after the copies", false, map[string]time.Time{markRoutedOutcomes: t0, markIndexedRequests: t0.Add(time.Hour)},
			t0.Add(time.Hour + routeMargin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Aggregator{cfg: Config{RequestScan: tt.scan}}
			if got := a.routedFrom(tt.marks); !got.Equal(tt.want) {
				t.Errorf("routedFrom = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBackfillIndexesRequests: predictions that became visible after the
// cycles' watermark passed their ingest time are in neither the late-data
// scan nor prediction_requests; aggregator backfill of their range indexes
// them, so that their outcomes find their windows again.
func TestBackfillIndexesRequests(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	h := floorTo(time.Now().UTC().Add(-2*time.Hour), time.Hour)
	a := e.aggregator(e.config())
	if _, err := a.RunOnce(ctx, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	var preds []events.PredictionLog
	for i := range 10 {
		preds = append(preds, events.PredictionLog{RequestID: fmt.Sprint("late-", i), ModelID: "m", ModelVersion: "v1",
			EventTime: ms(h.Add(time.Duration(i) * time.Minute)), Score: 0.5, HasScore: true, Status: events.StatusOK,
			Provenance: events.Provenance{IngestTime: ms(time.Now().Add(-time.Hour))}})
	}
	e.insertPredictions(preds)
	if _, err := a.RunOnce(ctx, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	indexed := func() float64 { return num(t, e.rows(`SELECT count() AS n FROM prediction_requests`)[0], "n") }
	if n := indexed(); n != 0 {
		t.Fatalf("%v predictions indexed by a cycle that could not see them", n)
	}
	// From before the label horizon (6h): only what is not final counts.
	old := events.PredictionLog{RequestID: "final", ModelID: "m", ModelVersion: "v1",
		EventTime: ms(h.Add(-24 * time.Hour)), Status: events.StatusOK,
		Provenance: events.Provenance{IngestTime: ms(time.Now().Add(-time.Hour))}}
	e.insertPredictions([]events.PredictionLog{old})
	if _, err := a.Backfill(ctx, h.Add(-25*time.Hour), h.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := indexed(); n != 10 {
		t.Errorf("backfill indexed %v predictions, want the 10 of windows not final", n)
	}
}
