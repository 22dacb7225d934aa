package aggregate

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/predlog/predlog/pkg/events"
)

// TestDriftInsertBins: the numeric drift states summed from the histograms
// binned at insert time (feature_bins_1m; the unbinned score from the
// score column) equal those binned from the raw rows, and the aggregator
// bins the raw rows of every (window, version) the view cannot vouch for:
// a version without a baseline or with a feature the baseline does not
// list, a baseline newer than the rows, view rows lost, base windows that
// are not whole minutes.
func TestDriftInsertBins(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-time.Hour), 24*time.Hour).Add(-24*time.Hour + 9*time.Hour)
	starts := []time.Time{h, h.Add(time.Minute), h.Add(2 * time.Minute), h.Add(3 * time.Minute)}

	// v1: both features binned, the score not (fine keys); v2: y has no
	// baseline (raw); v3: no baseline at all (raw).
	old := now.Add(-48 * time.Hour)
	e.insertBaseline("m", "v1", old, uniformBins("x", []float64{-1, 0, 1}), uniformBins("y", []float64{-100, 0, 100}))
	e.insertBaseline("m", "v2", old, uniformBins("x", []float64{-0.5, 0.5}))

	// Values on the edges, tiny, negative and zero included; some rows
	// without x, some without a score.
	r := rand.New(rand.NewPCG(3, 4))
	special := []float64{-1, 0, 1, 0.5, -0.5, 1.23456e-20, -7e-300, 12345.678}
	gen := func(from time.Time, n, id int) []events.PredictionLog {
		var ps []events.PredictionLog
		for i := range n {
			x, y := r.NormFloat64(), r.NormFloat64()*100
			if i%7 == 0 {
				x, y = special[i%len(special)], special[(i/7)%len(special)]
			}
			p := events.PredictionLog{RequestID: fmt.Sprint("r", id+i), ModelID: "m", ModelVersion: []string{"v1", "v2", "v3"}[i%3],
				EventTime: ms(from.Add(time.Duration(r.Int64N(int64(4 * time.Minute))))), Status: events.StatusOK,
				Score: r.Float64(), HasScore: i%5 != 0, LatencyMs: 1,
				Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
			p.NumFeatures.Keys, p.NumFeatures.Values = []string{"x", "y"}, []float64{x, y}
			if i%11 == 0 {
				p.NumFeatures.Keys, p.NumFeatures.Values = []string{"y"}, []float64{y}
			}
			ps = append(ps, p)
		}
		return ps
	}
	cfg := e.config()
	cfg.InsertTimeBins = true
	a := e.aggregator(cfg)
	viewExists := func() string {
		return strings.TrimSpace(e.st.Exec(t, "", "SELECT count() FROM system.tables WHERE database = '"+e.db+"' AND name = 'feature_bins_1m_mv'"))
	}
	if got := viewExists(); got != "0" {
		t.Fatalf("feature_bins_1m_mv exists before drift.insert_time_bins asked for it (%s)", got)
	}
	a.ensureInsertViews(context.Background())
	if got := viewExists(); got != "1" {
		t.Fatalf("feature_bins_1m_mv not created (%s)", got)
	}
	ps := gen(h, 1800, 0)
	// Two inserts, so the view's rows of a minute come from two blocks.
	e.insertPredictions(ps[:700])
	e.insertPredictions(ps[700:])

	// states returns the numeric drift states of the newest generation:
	// (version, feature, window, kind, baseline) -> counts.
	states := func() map[string]string {
		rows := e.rows(`SELECT model_version, feature, toString(window_start) AS ws, toString(kind) AS kind,
				toString(baseline_computed_at) AS bl, toString(mapSort(counts)) AS c
			FROM drift_window_states FINAL
			WHERE feature_type = 'numeric' AND base_seconds = 60 AND (window_start, computed_at) IN
				(SELECT window_start, max(computed_at) FROM drift_window_states
				 WHERE feature_type = 'numeric' AND base_seconds = 60 GROUP BY window_start)`)
		out := map[string]string{}
		for _, r := range rows {
			out[fmt.Sprint(r["model_version"], "/", r["feature"], "/", r["ws"], "/", r["kind"], "/", r["bl"])] = r["c"].(string)
		}
		return out
	}
	compute := func(a *Aggregator, ss []time.Time) (view, raw float64) { return computePairs(t, a, ss, "numeric") }
	check := func(what string, view, raw, wantView, wantRaw float64) {
		t.Helper()
		if view != wantView || raw != wantRaw {
			t.Fatalf("%s: %v pairs from the view and %v raw, want %v and %v", what, view, raw, wantView, wantRaw)
		}
	}
	n := float64(len(starts))

	view, raw := compute(a, starts)
	check("fresh rows", view, raw, n, 2*n)
	fromView := states()
	if want := 3 * 3 * len(starts); len(fromView) != want {
		t.Fatalf("%d states, want %d (3 versions x x, y, __score__ x %d windows): %v", len(fromView), want, len(starts), fromView)
	}

	// Base windows of 30 s are not sums of minutes: all raw.
	half := cfg
	half.Granularities = []time.Duration{30 * time.Second, time.Hour}
	if view, raw := compute(e.aggregator(half), starts); view != 0 || raw == 0 {
		t.Errorf("30 s base windows: %v pairs from the view and %v raw, want 0 and all", view, raw)
	}

	// The view's rows lost: everything raw, and the same states.
	e.st.Exec(t, e.db, "TRUNCATE TABLE feature_bins_1m")
	view, raw = compute(a, starts)
	check("view truncated", view, raw, 0, 3*n)
	if got := states(); !maps.Equal(got, fromView) {
		t.Errorf("raw states differ from the view's:\nraw  %v\nview %v", got, fromView)
	}

	// New rows in the next minutes, then a new baseline for v1: v1 is
	// binned raw with it.
	later := []time.Time{h.Add(10 * time.Minute), h.Add(11 * time.Minute), h.Add(12 * time.Minute), h.Add(13 * time.Minute)}
	e.insertPredictions(gen(later[0], 1800, 10000))
	at := now.Add(-time.Hour).Truncate(time.Millisecond)
	e.insertBaseline("m", "v1", at, uniformBins("x", []float64{-2, 0, 2}), uniformBins("y", []float64{-50, 50}))
	view, raw = compute(a, later)
	check("v1 baseline replaced", view, raw, 0, 3*n)
	blAt := at.Format("2006-01-02 15:04:05.000")
	got := states()
	for _, s := range later {
		for _, f := range []string{"x", "y"} {
			k := fmt.Sprint("v1/", f, "/", s.Format(time.DateTime), "/bins/", blAt)
			if _, ok := got[k]; !ok {
				t.Errorf("no state %s binned with the new baseline", k)
			}
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "v1/x/") && strings.Contains(k, later[0].Format(time.DateTime)) && !strings.HasSuffix(k, blAt) {
			t.Errorf("state %s binned with the old baseline", k)
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
	e.insertBaseline("m", "v1", at, uniformBins("x", []float64{-1, 0, 1}))
	cfg := e.config()
	cfg.InsertTimeBins = true
	a := e.aggregator(cfg)
	a.ensureInsertViews(context.Background())
	var ps []events.PredictionLog
	for i := range 200 {
		p := events.PredictionLog{RequestID: fmt.Sprint("r", i), ModelID: "m", ModelVersion: "v1",
			EventTime: ms(h.Add(time.Duration(i) * time.Second / 4)), Status: events.StatusOK, LatencyMs: 1,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		p.NumFeatures.Keys, p.NumFeatures.Values = []string{"x"}, []float64{float64(i%5) - 2}
		ps = append(ps, p)
	}
	e.insertPredictions(ps)
	e.insertBaseline("m", "v1", at, uniformBins("x", []float64{0})) // same computed_at, other edges

	if err := a.computeStates(context.Background(), []window{{start: h, reason: reasonBackfill}}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(a.m.driftPairs.WithLabelValues("numeric", "raw")); got != 1 {
		t.Errorf("%v pairs binned raw, want 1 (the view's bins have the old edges)", got)
	}
	// x in {-2, -1, 0, 1, 2}, 40 each: below the one edge 80, from it 120.
	rows := e.rows(`SELECT toString(mapSort(counts)) AS c FROM drift_window_states FINAL WHERE feature = 'x'`)
	if len(rows) != 1 || rows[0]["c"] != "{'0':80,'1':120}" {
		t.Errorf("x histogram %v, want {'0':80,'1':120} (the new edges)", rows)
	}
}

// computePairs computes the states of the base windows at ss and returns
// how many (window, version) pairs of states (numeric or categorical) came
// from what the views counted at insert time and how many were counted raw.
func computePairs(t *testing.T, a *Aggregator, ss []time.Time, states string) (view, raw float64) {
	t.Helper()
	insert, rawPairs := a.m.driftPairs.WithLabelValues(states, "insert"), a.m.driftPairs.WithLabelValues(states, "raw")
	v0, r0 := testutil.ToFloat64(insert), testutil.ToFloat64(rawPairs)
	wins := make([]window, len(ss))
	for i, s := range ss {
		wins[i] = window{start: s, reason: reasonBackfill}
	}
	if err := a.computeStates(context.Background(), wins, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return testutil.ToFloat64(insert) - v0, testutil.ToFloat64(rawPairs) - r0
}
