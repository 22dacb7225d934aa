package aggregate

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/pkg/events"
)

// TestDriftInsertBins: the numeric drift states summed from the histograms
// binned at insert time (feature_bins_1m) equal those binned from the raw
// rows, and the aggregator bins the raw rows of every (window, version)
// the view cannot vouch for: a baseline newer than the rows, view rows
// lost, base windows that are not whole minutes.
func TestDriftInsertBins(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-time.Hour), 24*time.Hour).Add(-24*time.Hour + 9*time.Hour)
	starts := []time.Time{h, h.Add(time.Minute), h.Add(2 * time.Minute), h.Add(3 * time.Minute)}

	baseline := func(version string, at time.Time, edges []float64) {
		props := make([]float64, len(edges)+1)
		for i := range props {
			props[i] = 1 / float64(len(props))
		}
		e.insertJSON("feature_baselines", func(b *chwriter.JSONBlock) error {
			return b.AppendFeatureBaseline(&events.FeatureBaseline{ModelID: "m", ModelVersion: version, Source: events.SourceTraining,
				ComputedAt: at.UnixMilli(), Features: []events.FeatureDistribution{
					{Feature: "x", Type: events.FeatureNumeric, Count: 1000, BinEdges: edges, BinProportions: props},
				}})
		})
	}
	baseline("v1", now.Add(-48*time.Hour), []float64{-1, 0, 1})
	baseline("v2", now.Add(-48*time.Hour), []float64{-0.5, 0.5})

	// x has a baseline, y none (rounded keys), the score none; values on
	// the edges, tiny, negative and zero included; some rows without x.
	r := rand.New(rand.NewPCG(3, 4))
	special := []float64{-1, 0, 1, 0.5, -0.5, 1.23456e-20, -7e-300, 12345.678}
	var ps []events.PredictionLog
	for i := range 1200 {
		v := []string{"v1", "v2"}[i%2]
		x, y := r.NormFloat64(), r.NormFloat64()*100
		if i%7 == 0 {
			x, y = special[i%len(special)], special[(i/7)%len(special)]
		}
		p := events.PredictionLog{RequestID: fmt.Sprint("r", i), ModelID: "m", ModelVersion: v,
			EventTime: ms(h.Add(time.Duration(r.Int64N(int64(4 * time.Minute))))), Status: events.StatusOK,
			Score: r.Float64(), HasScore: i%5 != 0, LatencyMs: 1,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		p.NumFeatures.Keys, p.NumFeatures.Values = []string{"x", "y"}, []float64{x, y}
		if i%11 == 0 {
			p.NumFeatures.Keys, p.NumFeatures.Values = []string{"y"}, []float64{y}
		}
		ps = append(ps, p)
	}
	// Two inserts, so the view's rows of a minute come from two blocks.
	e.insertPredictions(ps[:500])
	e.insertPredictions(ps[500:])

	// states returns the numeric drift states of the newest generation:
	// (version, feature, window, kind, baseline) -> counts.
	states := func() map[string]string {
		rows := e.rows(`SELECT model_version, feature, toString(window_start) AS ws, toString(kind) AS kind,
				toString(baseline_computed_at) AS bl, toString(mapSort(counts)) AS c
			FROM drift_states FINAL
			WHERE feature_type = 'numeric' AND base_seconds = 60 AND (window_start, computed_at) IN
				(SELECT window_start, max(computed_at) FROM drift_states
				 WHERE feature_type = 'numeric' AND base_seconds = 60 GROUP BY window_start)`)
		out := map[string]string{}
		for _, r := range rows {
			out[fmt.Sprint(r["model_version"], "/", r["feature"], "/", r["ws"], "/", r["kind"], "/", r["bl"])] = r["c"].(string)
		}
		return out
	}
	cfg := e.config()
	a := e.aggregator(cfg)
	compute := func(a *Aggregator) (insert, raw float64) {
		t.Helper()
		i0, r0 := testutil.ToFloat64(a.m.driftPairs.WithLabelValues("insert")), testutil.ToFloat64(a.m.driftPairs.WithLabelValues("raw"))
		wins := make([]window, len(starts))
		for i, s := range starts {
			wins[i] = window{start: s, reason: reasonBackfill}
		}
		if err := a.computeStates(context.Background(), wins); err != nil {
			t.Fatal(err)
		}
		return testutil.ToFloat64(a.m.driftPairs.WithLabelValues("insert")) - i0, testutil.ToFloat64(a.m.driftPairs.WithLabelValues("raw")) - r0
	}
	pairs := 2 * len(starts)

	ins, raw := compute(a)
	if ins != float64(pairs) || raw != 0 {
		t.Fatalf("fresh rows: %v pairs from the view and %v raw, want %d and 0", ins, raw, pairs)
	}
	fromView := states()
	if len(fromView) != 2*3*len(starts) {
		t.Fatalf("%d numeric states, want %d (2 versions x x, y, __score__ x %d windows): %v", len(fromView), 2*3*len(starts), len(starts), fromView)
	}

	// Base windows of 30 s are not sums of minutes: all raw.
	half := cfg
	half.Granularities = []time.Duration{30 * time.Second, time.Hour}
	if ins, raw := compute(e.aggregator(half)); ins != 0 || raw == 0 {
		t.Errorf("30 s base windows: %v pairs from the view and %v raw, want 0 and all", ins, raw)
	}

	// A new baseline for v1: v1's minutes are binned raw with it, v2's
	// still come from the view.
	at := now.Add(-time.Hour).Truncate(time.Millisecond)
	baseline("v1", at, []float64{-2, 0, 2})
	if ins, raw := compute(a); ins != float64(len(starts)) || raw != float64(len(starts)) {
		t.Fatalf("v1 baseline replaced: %v pairs from the view and %v raw, want %d each", ins, raw, len(starts))
	}
	mixed := states()
	for k, c := range mixed {
		if k[:2] == "v2" && fromView[k] != c {
			t.Errorf("%s: %s, want %s as before", k, c, fromView[k])
		}
	}
	blAt := at.Format("2006-01-02 15:04:05.000")
	for _, s := range starts {
		k := fmt.Sprint("v1/x/", s.Format(time.DateTime), "/bins/", blAt)
		if _, ok := mixed[k]; !ok {
			t.Errorf("no state %s binned with the new baseline", k)
		}
	}

	// The view's rows lost: everything raw, and the same states.
	e.st.Exec(t, e.db, "TRUNCATE TABLE feature_bins_1m")
	if ins, raw := compute(a); ins != 0 || raw != float64(pairs) {
		t.Fatalf("view truncated: %v pairs from the view and %v raw, want 0 and %d", ins, raw, pairs)
	}
	if got := states(); !maps.Equal(got, mixed) {
		t.Errorf("raw states differ from the view's:\nraw  %v\nview %v", got, mixed)
	}
}
