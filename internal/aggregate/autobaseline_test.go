package aggregate

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/predlog/predlog/pkg/events"
)

// TestAutoBaseline: with drift.auto_baseline, a cycle freezes a version's
// first span of serving as its baseline once that window has closed, and
// the next cycle measures the version's windows against it. Not frozen: a
// version whose window is still open, one with a baseline of its own, one
// not serving within the label horizon, and one without an ok prediction;
// one with fewer than drift.min_samples in its first span gets its next.
func TestAutoBaseline(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	t0 := floorTo(now.Add(-4*time.Hour), time.Hour)
	var preds []events.PredictionLog
	add := func(model, version string, from time.Time, d time.Duration, status events.Status) {
		for at := from; at.Before(from.Add(d)) && at.Before(now.Add(-2*time.Minute)); at = at.Add(15 * time.Second) {
			x := float64(len(preds)%100) / 100
			preds = append(preds, events.PredictionLog{RequestID: fmt.Sprint("r", len(preds)), ModelID: model, ModelVersion: version,
				EventTime: ms(at), Status: status, LatencyMs: 1, Score: x, HasScore: true,
				NumFeatures: events.Float64Map{Keys: []string{"x"}, Values: []float64{x}},
				CatFeatures: events.StringMap{Keys: []string{"c"}, Values: []string{fmt.Sprint("v", len(preds)%3)}},
				Provenance:  events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
		}
	}
	add("m", "v1", t0.Add(90*time.Second), 3*time.Hour, events.StatusOK) // its first minute is t0+1m
	from, want := t0.Add(time.Minute), 0
	for _, p := range preds {
		if at := time.UnixMilli(p.EventTime); !at.Before(from) && at.Before(from.Add(time.Hour)) {
			want++
		}
	}
	add("few", "v1", t0, time.Hour, events.StatusError)                 // its first hour: 240 errors,
	add("few", "v1", t0.Add(time.Minute), time.Minute, events.StatusOK) // 4 ok predictions;
	add("few", "v1", t0.Add(time.Hour), 2*time.Hour, events.StatusOK)   // then busy
	add("m", "v2", now.Add(-30*time.Minute), time.Hour, events.StatusOK)
	add("e", "v1", t0, 2*time.Hour, events.StatusError)
	add("k", "v1", t0, 2*time.Hour, events.StatusOK)
	add("old", "v1", now.Add(-9*time.Hour), time.Hour, events.StatusOK)
	e.insertPredictions(preds)
	e.insertBaseline("k", "v1", now.Add(-time.Hour), uniformBins("x", []float64{0.25, 0.5, 0.75}))

	cfg := e.config()
	cfg.AutoBaseline = time.Hour
	cfg.MinSamples = 100
	a := e.aggregator(cfg)
	cycle(t, a)

	baselines := func() []map[string]any {
		return e.rows(`SELECT model_id, model_version, toString(source) AS source, toString(window_start) AS ws, toString(window_end) AS we,
			sample_count, count() OVER (PARTITION BY model_id, model_version) AS features
			FROM feature_baselines FINAL ORDER BY model_id, model_version, feature LIMIT 1 BY model_id, model_version`)
	}
	got := baselines()
	if len(got) != 2 {
		t.Fatalf("baselines: %v, want m/v1's and k/v1's own", got)
	}
	k, m := got[0], got[1]
	if k["model_id"] != "k" || k["source"] != "training" || num(t, k, "features") != 1 {
		t.Errorf("k/v1: %v, want its own training baseline alone", k)
	}
	if m["model_id"] != "m" || m["model_version"] != "v1" || m["source"] != "reference_window" ||
		m["ws"] != from.Format("2006-01-02 15:04:05.000") || m["we"] != from.Add(time.Hour).Format("2006-01-02 15:04:05.000") ||
		num(t, m, "sample_count") != float64(want) || num(t, m, "features") != 3 {
		t.Errorf("m/v1: %v, want reference_window [%v, +1h) of %d predictions, features x, c and __score__", m, from, want)
	}
	if n := testutil.ToFloat64(a.m.autoBaselines); n != 1 {
		t.Errorf("auto_baselines_total = %v, want 1", n)
	}
	// e (errors only) and few (4 ok predictions, fewer than
	// drift.min_samples) move on to their next hour.
	for _, k := range []string{"e\x00v1", "few\x00v1"} {
		if st := a.autoBaseline[k]; !st.from.Equal(t0.Add(time.Hour)) {
			t.Errorf("%q: next window %v, want %v", k, st.from, t0.Add(time.Hour))
		}
	}

	// The next cycle, after a restart, measures m/v1's minutes against it.
	a = e.aggregator(cfg)
	cycle(t, a)
	kinds := map[string]int{}
	for _, r := range e.rows(`SELECT kind, count() AS n FROM drift_window_states FINAL
		WHERE model_id = 'm' AND model_version = 'v1' AND feature = 'x'
		  AND (window_start, feature_type, computed_at) IN (SELECT window_start, feature_type, max(computed_at) FROM drift_window_states GROUP BY ALL)
		GROUP BY kind`) {
		kinds[fmt.Sprint(r["kind"])] = int(num(t, r, "n"))
	}
	if kinds["fine"] != 0 || kinds["bins"] < 170 {
		t.Errorf("m/v1's minutes of x after the next cycle: %v, want all binned against the baseline", kinds)
	}
	// few's second hour is busy: frozen by the next cycle, which knows
	// from the watermark that its first hour had too few.
	got = baselines()
	if len(got) != 3 || got[0]["model_id"] != "few" || got[0]["ws"] != t0.Add(time.Hour).Format("2006-01-02 15:04:05.000") ||
		num(t, got[0], "sample_count") != 240 {
		t.Errorf("baselines after the next cycle: %v, want few/v1's from its second hour (240 predictions)", got)
	}
	if n := testutil.ToFloat64(a.m.autoBaselines); n != 1 {
		t.Errorf("auto_baselines_total = %v after the next cycle, want 1", n)
	}

	// Marks more than 90 days old are dropped at merges (migration 0029);
	// other watermarks as old are kept.
	old := now.AddDate(0, 0, -91).Format("2006-01-02 15:04:05.000")
	e.st.Exec(t, e.db, `INSERT INTO aggregator_watermarks (name, value, updated_at) VALUES
		('auto_baseline.next\0gone\0v1', '`+old+`', now64(3)), ('closed.test', '`+old+`', now64(3))`)
	e.st.Exec(t, e.db, `OPTIMIZE TABLE aggregator_watermarks FINAL`)
	marks := map[string]bool{}
	for _, r := range e.rows(`SELECT replaceAll(name, '\0', '/') AS name FROM aggregator_watermarks FINAL`) {
		marks[fmt.Sprint(r["name"])] = true
	}
	if marks["auto_baseline.next/gone/v1"] || !marks["closed.test"] || !marks["auto_baseline.next/few/v1"] {
		t.Errorf("watermarks after a merge: %v, want the 91-day-old mark dropped, closed.test and few/v1's mark kept", marks)
	}
}
