package aggregate

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/predlog/predlog/pkg/events"
)

// TestDriftInsertValues: the categorical drift states and the score's fine
// histogram summed from what feature_values_1m counted at insert time equal
// those counted from the raw rows (baseline categories and __other__, a
// feature with more than 100 values, the predicted label, scores without a
// baseline including edge values), and the aggregator counts the raw rows
// of every (window, version) the view cannot vouch for: its rows lost, base
// windows that are not whole minutes; base windows of several minutes add
// the minutes' counts up.
func TestDriftInsertValues(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-time.Hour), 24*time.Hour).Add(-24*time.Hour + 10*time.Hour)
	starts := []time.Time{h, h.Add(time.Minute), h.Add(2 * time.Minute), h.Add(3 * time.Minute)}

	// v1: numeric and categorical baselines (the score unbinned: its fine
	// keys from the view); v2: numeric only (c counted as fine values); v3:
	// no baseline (numeric raw, categorical still from the view). v4 and v5
	// are regressions (a predicted value, no score): v4 with a numeric
	// baseline (the value unbinned: its fine keys from the view), v5
	// without (raw).
	old := now.Add(-48 * time.Hour)
	e.insertBaseline("m", "v1", old, uniformBins("x", []float64{0}),
		events.FeatureDistribution{Feature: "c", Type: events.FeatureCategorical, Count: 1000,
			Categories: events.Float64Map{Keys: []string{"a", "b"}, Values: []float64{0.6, 0.4}}})
	e.insertBaseline("m", "v2", old, uniformBins("x", []float64{0}))
	e.insertBaseline("m", "v4", old, uniformBins("x", []float64{0}))

	r := rand.New(rand.NewPCG(5, 6))
	scores := []float64{0, 1, 0.5, 1.23456e-20, 0.0009995, 0.123456}
	var ps []events.PredictionLog
	for i := range 4000 {
		p := events.PredictionLog{RequestID: fmt.Sprint("r", i), ModelID: "m", ModelVersion: []string{"v1", "v2", "v3", "v4", "v5"}[i%5],
			EventTime: ms(h.Add(time.Duration(r.Int64N(int64(4 * time.Minute))))), Status: events.StatusOK,
			Score: r.Float64(), HasScore: i%7 != 0, LatencyMs: 1,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		if i%4 == 0 {
			p.Score = scores[(i/4)%len(scores)]
		}
		if i%5 >= 3 { // regression: a value (unbounded, negative too), no score
			p.HasScore, p.Value, p.HasValue = false, r.NormFloat64()*1000, i%9 != 0
			if i%4 == 0 {
				p.Value = []float64{0, -12.5, 1e-20, 123456.789}[(i/4)%4]
			}
		}
		p.NumFeatures.Keys, p.NumFeatures.Values = []string{"x"}, []float64{r.NormFloat64()}
		p.CatFeatures.Keys, p.CatFeatures.Values = []string{"c", "id"}, []string{[]string{"a", "b", "c", "d"}[r.IntN(4)], fmt.Sprint("u", r.IntN(400))}
		if i%6 == 1 {
			p.CatFeatures.Keys, p.CatFeatures.Values = []string{"id"}, []string{"u1"}
		}
		if i%2 == 0 {
			p.Label = []string{"yes", "no"}[r.IntN(2)]
		}
		ps = append(ps, p)
	}
	// Without merges each statement's rows stay in their own part, so a pair
	// written by both paths shows as two rows of one generation.
	e.st.Exec(t, e.db, "SYSTEM STOP MERGES drift_window_states")
	cfg := e.config()
	cfg.InsertTimeBins = true
	a := e.aggregator(cfg)
	// An older release's view (its comment names no definition) is replaced.
	e.st.Exec(t, e.db, strings.ReplaceAll(a.q["feature_values_view"], " "+viewDefinition, ""))
	a.ensureInsertViews(context.Background())
	got := strings.TrimSpace(e.st.Exec(t, "", "SELECT name, comment FROM system.tables WHERE database = '"+e.db+"' AND name LIKE 'feature_%_mv' ORDER BY name"))
	for _, v := range insertViews {
		if !strings.Contains(got, v.view+"\t") || strings.Count(got, viewDefinition) != len(insertViews) {
			t.Fatalf("views after ensureInsertViews:\n%s\nwant each with %s", got, viewDefinition)
		}
	}
	// Turned off, the views stay: the aggregator says inserts still pay.
	core, logs := observer.New(zap.WarnLevel)
	off, err := New(e.config(), e.st.Conn(t, e.db), zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	off.ensureInsertViews(context.Background())
	if w := logs.All(); len(w) != 1 || fmt.Sprint(w[0].ContextMap()["views"]) != "[feature_bins_1m_mv feature_values_1m_mv]" {
		t.Errorf("with drift.insert_time_bins off and the views there: warnings %v, want one naming both views", w)
	}
	// A view of an older definition created by hand (on a cluster the
	// aggregator does not replace them): the aggregator says so.
	e.st.Exec(t, e.db, "DROP VIEW feature_values_1m_mv")
	e.st.Exec(t, e.db, strings.ReplaceAll(a.q["feature_values_view"], " "+viewDefinition, ""))
	core, logs = observer.New(zap.WarnLevel)
	if off, err = New(e.config(), e.st.Conn(t, e.db), zap.New(core), nil); err != nil {
		t.Fatal(err)
	}
	off.ensureInsertViews(context.Background())
	if w := logs.All(); len(w) != 2 || w[1].ContextMap()["view"] != "feature_values_1m_mv" {
		t.Errorf("an older view created by hand: warnings %v, want a second one naming feature_values_1m_mv", w)
	}
	e.aggregator(cfg).ensureInsertViews(context.Background()) // replaced again

	// Two inserts, so the view's rows of a minute come from two blocks.
	e.insertPredictions(ps[:1000])
	e.insertPredictions(ps[1000:])

	// states returns the drift states of the newest generation of each
	// window: (type, version, feature, window, kind) -> counts.
	states := func(base int) map[string]string {
		rows := e.rows(`SELECT toString(feature_type) AS ft, model_version, feature, toString(window_start) AS ws, toString(kind) AS kind,
				toString(mapSort(counts)) AS c
			FROM drift_window_states FINAL
			WHERE base_seconds = %d AND (window_start, feature_type, computed_at) IN
				(SELECT window_start, feature_type, max(computed_at) FROM drift_window_states
				 WHERE base_seconds = %[1]d GROUP BY window_start, feature_type)`, base)
		out := map[string]string{}
		for _, r := range rows {
			out[fmt.Sprint(r["ft"], "/", r["model_version"], "/", r["feature"], "/", r["ws"], "/", r["kind"])] = r["c"].(string)
		}
		written := e.rows(`SELECT count() AS n FROM drift_window_states
			WHERE base_seconds = %d AND (window_start, feature_type, computed_at) IN
				(SELECT window_start, feature_type, max(computed_at) FROM drift_window_states
				 WHERE base_seconds = %[1]d GROUP BY window_start, feature_type)`, base)
		if n := fmt.Sprint(written[0]["n"]); n != fmt.Sprint(len(out)) {
			t.Errorf("%v rows written for %d states: some (window, version) counted by both paths", n, len(out))
		}
		return out
	}
	// runs is how often a statement ran.
	runs := func(a *Aggregator, query string) uint64 {
		var m dto.Metric
		if err := a.m.queryDuration.WithLabelValues(query).(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount()
	}
	compute := func(a *Aggregator, ss []time.Time) (view, raw float64) { return computePairs(t, a, ss, "categorical") }
	n := float64(5 * len(starts))

	if view, raw := compute(a, starts); view != n || raw != 0 {
		t.Fatalf("fresh rows: %v pairs from feature_values_1m and %v raw, want %v and 0", view, raw, n)
	}
	for q, want := range map[string]bool{"drift_states_values": true, "drift_states_score_values": true,
		"drift_states_categorical": false, "drift_states_score": false} {
		if got := runs(a, q) > 0; got != want {
			t.Errorf("%s ran: %v, want %v", q, got, want)
		}
	}
	fromView := states(60)
	// Per window: v1, v2, v3 x (x, __score__ numeric; c, id, __label__
	// categorical) and v4, v5 x (x, __value__; c, id, __label__).
	if want := 5 * 5 * len(starts); len(fromView) != want {
		t.Fatalf("%d states, want %d: %v", len(fromView), want, fromView)
	}
	for _, s := range starts {
		ws := s.Format(time.DateTime)
		if got := fromView["categorical/v1/c/"+ws+"/bins"]; !strings.Contains(got, "'__other__':") || strings.Contains(got, "'c':") {
			t.Errorf("v1 c at %s = %s, want the baseline's categories and __other__", ws, got)
		}
		if got := fromView["categorical/v3/id/"+ws+"/fine"]; strings.Count(got, ":") != 101 || !strings.Contains(got, "'__other__':") {
			t.Errorf("v3 id at %s = %s, want the 100 most frequent values and __other__", ws, got)
		}
		if got := fromView["numeric/v1/__score__/"+ws+"/fine"]; !strings.Contains(got, "'1.23e-20':") {
			t.Errorf("v1 score at %s = %s, want fine keys (1.23e-20 among them)", ws, got)
		}
		for _, v := range []string{"v4", "v5"} {
			if got := fromView["numeric/"+v+"/__value__/"+ws+"/fine"]; !strings.Contains(got, "'-12.5':") {
				t.Errorf("%s value at %s = %s, want fine keys (-12.5 among them)", v, ws, got)
			}
		}
	}

	// Base windows of 2 minutes add up the minutes' counts.
	two := cfg
	two.Granularities = []time.Duration{2 * time.Minute, time.Hour}
	twoStarts := []time.Time{starts[0], starts[2]}
	if view, raw := compute(e.aggregator(two), twoStarts); view != 10 || raw != 0 {
		t.Errorf("2 min base windows: %v pairs from the view and %v raw, want 10 and 0", view, raw)
	}
	twoView := states(120)
	if got := twoView["numeric/v1/__score__/"+starts[0].Format(time.DateTime)+"/fine"]; !strings.Contains(got, "'1.23e-20':") {
		t.Errorf("v1 score over 2 minutes = %s, want fine keys (1.23e-20 among them)", got)
	}

	// Base windows of 30 s are not sums of minutes: all raw.
	half := cfg
	half.Granularities = []time.Duration{30 * time.Second, time.Hour}
	if view, raw := compute(e.aggregator(half), starts); view != 0 || raw != n {
		t.Errorf("30 s base windows: %v pairs from the view and %v raw, want 0 and %v", view, raw, n)
	}

	// The view's rows of one version in one minute lost: that pair raw
	// (the minute's other versions still from the view), the same states.
	e.st.Exec(t, e.db, "ALTER TABLE feature_values_1m DELETE WHERE minute = '"+chTime(starts[1])+"' AND model_version = 'v2' SETTINGS mutations_sync = 1")
	if view, raw := compute(a, starts); view != n-1 || raw != 1 {
		t.Errorf("one pair lost: %v pairs from the view and %v raw, want %v and 1", view, raw, n-1)
	}
	if got := states(60); !maps.Equal(got, fromView) {
		t.Errorf("states with one pair raw differ from the view's:\ngot  %v\nview %v", got, fromView)
	}
	// All of them lost: everything raw, the same states.
	e.st.Exec(t, e.db, "TRUNCATE TABLE feature_values_1m")
	if view, raw := compute(a, starts); view != 0 || raw != n {
		t.Errorf("view truncated: %v pairs from the view and %v raw, want 0 and %v", view, raw, n)
	}
	if got := states(60); !maps.Equal(got, fromView) {
		t.Errorf("raw states differ from the view's:\nraw  %v\nview %v", got, fromView)
	}
	if view, raw := compute(e.aggregator(two), twoStarts); view != 0 || raw != 10 {
		t.Errorf("2 min base windows, view truncated: %v pairs from the view and %v raw, want 0 and 10", view, raw)
	}
	if got := states(120); !maps.Equal(got, twoView) {
		t.Errorf("raw 2 min states differ from the view's:\nraw  %v\nview %v", got, twoView)
	}
}
