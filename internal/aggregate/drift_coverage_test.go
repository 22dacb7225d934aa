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

// TestDriftInsertBins: the drift states summed from the histograms counted
// at insert time (feature_bins_1m, category_counts_1m) equal those counted
// from the raw rows, and the aggregator counts the raw rows of every
// (window, version) a view cannot vouch for: a numeric baseline newer than
// the rows, view rows lost, base windows that are not whole minutes.
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
					{Feature: "c", Type: events.FeatureCategorical, Count: 1000,
						Categories: events.Float64Map{Keys: []string{"a", "b"}, Values: []float64{0.6, 0.4}}},
				}})
		})
	}
	baseline("v1", now.Add(-48*time.Hour), []float64{-1, 0, 1})
	baseline("v2", now.Add(-48*time.Hour), []float64{-0.5, 0.5})

	// x has a baseline, y none (rounded keys), the score none; values on
	// the edges, tiny, negative and zero included; some rows without x.
	// Categorical: c has a baseline (d and e are __other__), k none, with
	// more than 100 values (the rarest become __other__), and the predicted
	// label.
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
		p.CatFeatures.Keys = []string{"c", "k"}
		p.CatFeatures.Values = []string{[]string{"a", "b", "d", "e"}[r.IntN(4)], fmt.Sprint("k", r.IntN(150))}
		p.Label = []string{"yes", "no"}[r.IntN(2)]
		ps = append(ps, p)
	}
	// Two inserts, so the view's rows of a minute come from two blocks.
	e.insertPredictions(ps[:500])
	e.insertPredictions(ps[500:])

	// states returns the drift states of the newest generation:
	// (version, feature, window, kind, baseline) -> counts.
	states := func() map[string]string {
		rows := e.rows(`SELECT model_version, feature, toString(window_start) AS ws, toString(kind) AS kind,
				toString(baseline_computed_at) AS bl, toString(mapSort(counts)) AS c
			FROM drift_states FINAL
			WHERE base_seconds = 60 AND (window_start, feature_type, computed_at) IN
				(SELECT window_start, feature_type, max(computed_at) FROM drift_states
				 WHERE base_seconds = 60 GROUP BY window_start, feature_type)`)
		out := map[string]string{}
		for _, r := range rows {
			out[fmt.Sprint(r["model_version"], "/", r["feature"], "/", r["ws"], "/", r["kind"], "/", r["bl"])] = r["c"].(string)
		}
		return out
	}
	cfg := e.config()
	a := e.aggregator(cfg)
	// compute computes the states of starts and returns the pairs counted
	// from the views and raw: numeric, categorical.
	type split struct{ num, cat [2]float64 }
	compute := func(a *Aggregator) split {
		t.Helper()
		read := func() split {
			v := func(typ, src string) float64 { return testutil.ToFloat64(a.m.driftPairs.WithLabelValues(typ, src)) }
			return split{[2]float64{v("numeric", "insert"), v("numeric", "raw")}, [2]float64{v("categorical", "insert"), v("categorical", "raw")}}
		}
		before := read()
		wins := make([]window, len(starts))
		for i, s := range starts {
			wins[i] = window{start: s, reason: reasonBackfill}
		}
		if err := a.computeStates(context.Background(), wins); err != nil {
			t.Fatal(err)
		}
		after := read()
		return split{[2]float64{after.num[0] - before.num[0], after.num[1] - before.num[1]},
			[2]float64{after.cat[0] - before.cat[0], after.cat[1] - before.cat[1]}}
	}
	pairs := float64(2 * len(starts))
	check := func(what string, got split, num, cat [2]float64) {
		t.Helper()
		if got.num != num || got.cat != cat {
			t.Fatalf("%s: (view, raw) pairs numeric %v, categorical %v; want %v, %v", what, got.num, got.cat, num, cat)
		}
	}

	check("fresh rows", compute(a), [2]float64{pairs, 0}, [2]float64{pairs, 0})
	fromView := states()
	if want := 2 * (3 + 3) * len(starts); len(fromView) != want {
		t.Fatalf("%d states, want %d (2 versions x x, y, __score__, c, k, __label__ x %d windows): %v", len(fromView), want, len(starts), fromView)
	}

	// Base windows of 30 s are not sums of minutes: all raw.
	half := cfg
	half.Granularities = []time.Duration{30 * time.Second, time.Hour}
	if got := compute(e.aggregator(half)); got.num[0] != 0 || got.cat[0] != 0 || got.num[1] == 0 || got.cat[1] == 0 {
		t.Errorf("30 s base windows: (view, raw) pairs numeric %v, categorical %v; want none from the views", got.num, got.cat)
	}

	// A new baseline for v1: v1's numeric states are binned raw with it,
	// v2's still come from the view; categorical counts apply baselines
	// on reading.
	at := now.Add(-time.Hour).Truncate(time.Millisecond)
	baseline("v1", at, []float64{-2, 0, 2})
	n := float64(len(starts))
	check("v1 baseline replaced", compute(a), [2]float64{n, n}, [2]float64{pairs, 0})
	mixed := states()
	blAt := at.Format("2006-01-02 15:04:05.000")
	for _, s := range starts {
		for _, f := range []string{"x/", "c/"} {
			k := fmt.Sprint("v1/", f, s.Format(time.DateTime), "/bins/", blAt)
			if _, ok := mixed[k]; !ok {
				t.Errorf("no state %s counted with the new baseline", k)
			}
		}
	}

	// The views' rows lost, one after the other: raw, and the same states.
	e.st.Exec(t, e.db, "TRUNCATE TABLE feature_bins_1m")
	check("numeric view truncated", compute(a), [2]float64{0, pairs}, [2]float64{pairs, 0})
	if got := states(); !maps.Equal(got, mixed) {
		t.Errorf("raw numeric states differ from the view's:\nraw  %v\nview %v", got, mixed)
	}
	e.st.Exec(t, e.db, "TRUNCATE TABLE category_counts_1m")
	check("categorical view truncated", compute(a), [2]float64{0, pairs}, [2]float64{0, pairs})
	if got := states(); !maps.Equal(got, mixed) {
		t.Errorf("raw categorical states differ from the view's:\nraw  %v\nview %v", got, mixed)
	}
	for k, c := range mixed {
		if k[:2] == "v2" && fromView[k] != c {
			t.Errorf("%s: %s, want %s as from the view", k, c, fromView[k])
		}
	}
}

// TestDriftInsertBinsSameBaselineTime: a baseline re-sent with the same
// computed_at but other edges makes the view's bins stale (their edges
// hash differs): the version is binned raw, with the new edges.
func TestDriftInsertBinsSameBaselineTime(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-time.Hour), 24*time.Hour).Add(-24*time.Hour + 9*time.Hour)
	at := now.Add(-48 * time.Hour).Truncate(time.Millisecond)
	baseline := func(edges []float64) {
		props := make([]float64, len(edges)+1)
		for i := range props {
			props[i] = 1 / float64(len(props))
		}
		e.insertJSON("feature_baselines", func(b *chwriter.JSONBlock) error {
			return b.AppendFeatureBaseline(&events.FeatureBaseline{ModelID: "m", ModelVersion: "v1", Source: events.SourceTraining,
				ComputedAt: at.UnixMilli(), Features: []events.FeatureDistribution{
					{Feature: "x", Type: events.FeatureNumeric, Count: 1000, BinEdges: edges, BinProportions: props},
				}})
		})
	}
	baseline([]float64{-1, 0, 1})
	var ps []events.PredictionLog
	for i := range 200 {
		p := events.PredictionLog{RequestID: fmt.Sprint("r", i), ModelID: "m", ModelVersion: "v1",
			EventTime: ms(h.Add(time.Duration(i) * time.Second / 4)), Status: events.StatusOK, LatencyMs: 1,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		p.NumFeatures.Keys, p.NumFeatures.Values = []string{"x"}, []float64{float64(i%5) - 2}
		ps = append(ps, p)
	}
	e.insertPredictions(ps)
	baseline([]float64{0})

	a := e.aggregator(e.config())
	if err := a.computeStates(context.Background(), []window{{start: h, reason: reasonBackfill}}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(a.m.driftPairs.WithLabelValues("numeric", "raw")); got != 1 {
		t.Errorf("%v pairs binned raw, want 1 (the view's bins have the old edges)", got)
	}
	// x in {-2, -1, 0, 1, 2}, 40 each: below the one edge 80, from it 120.
	rows := e.rows(`SELECT toString(mapSort(counts)) AS c FROM drift_states FINAL WHERE feature = 'x'`)
	if len(rows) != 1 || rows[0]["c"] != "{'0':80,'1':120}" {
		t.Errorf("x histogram %v, want {'0':80,'1':120} (the new edges)", rows)
	}
}
