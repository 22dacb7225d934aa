package aggregate

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/predlog/predlog/pkg/events"
)

// TestPredictionsPastHorizon: predictions ingested after their windows'
// label horizon are counted once, when the count is due; predictions
// within the horizon are not, nor one that was within it when it arrived
// (and was counted in its window) but is past it when the count runs.
func TestPredictionsPastHorizon(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	e.insertModel("m", "v1", events.ProblemBinary, 0.5, "1")
	a := e.aggregator(cfg)
	a.pastHorizonEvery = time.Hour
	now := time.Now().UTC()
	if sec := now.Second(); sec >= 45 {
		// The edge window below turns final when the minute does: start
		// with the next one, so that it is in time for the next cycle.
		time.Sleep(time.Duration(61-sec) * time.Second)
		now = time.Now().UTC()
	}
	cycle(t, a) // sets the watermarks

	old := floorTo(now.Add(-cfg.LabelHorizon-2*time.Hour), time.Minute)
	edge := floorTo(now.Add(-cfg.LabelHorizon), time.Minute) // the oldest window not final now
	var preds []events.PredictionLog
	for i, at := range []time.Time{old, old.Add(time.Minute), old.Add(-24 * time.Hour), now.Add(-time.Hour), now.Add(-cfg.LabelHorizon + time.Hour), edge.Add(30 * time.Second)} {
		preds = append(preds, events.PredictionLog{RequestID: string(rune('a' + i)), ModelID: "m", ModelVersion: "v1", EventTime: ms(at),
			Score: 0.7, HasScore: true, LatencyMs: 1, Status: events.StatusOK, Provenance: events.Provenance{IngestTime: ms(time.Now())}})
	}
	e.insertPredictions(preds)
	const want = 3 // the first three: their windows are final

	past := func() float64 { return testutil.ToFloat64(a.m.pastHorizon) }
	cycle(t, a)
	if got := past(); got != 0 {
		t.Errorf("%v counted before the count was due (every hour here), want 0", got)
	}
	rows := e.rows(`SELECT prediction_count FROM performance_metrics FINAL WHERE model_id = 'm' AND model_version = 'v1'
		AND granularity = '1m' AND slice_key = '' AND window_start = '%s'`, chTime(edge))
	if len(rows) != 1 || num(t, rows[0], "prediction_count") != 1 {
		t.Fatalf("edge window %s: %v, want its prediction counted", edge, rows)
	}

	// Twenty minutes on, the edge window is final too; its prediction was
	// in time when it came.
	later := func(d time.Duration) {
		t.Helper()
		if _, err := a.RunOnce(context.Background(), time.Now().UTC().Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	a.pastHorizonEvery = 0
	later(20 * time.Minute)
	if got := past(); got != want {
		t.Errorf("predictions_past_horizon_total = %v, want %d", got, want)
	}
	later(21 * time.Minute)
	if got := past(); got != want {
		t.Errorf("predictions_past_horizon_total = %v after another cycle, want %d (each counted once)", got, want)
	}
}
