package aggregate

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestDriftFeatureGone: a feature the producer stopped sending has no values
// to histogram, yet it must show up: with a baseline (v1's b) and against
// the previous window (v2's c), its window gets a row with null rate 1,
// flagged null_rate, while the features still sent are not flagged.
func TestDriftFeatureGone(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	w1 := floorTo(now.Add(-2*time.Hour), time.Minute)
	w0 := w1.Add(-time.Minute)
	b := uniformBins("b", []float64{0.5})
	b.NullRate = 0.02
	e.insertBaseline("m", "v1", now.Add(-48*time.Hour), uniformBins("a", []float64{0.5}), b)
	var preds []events.PredictionLog
	add := func(version string, w time.Time, keys ...string) {
		for i := range 200 {
			p := events.PredictionLog{RequestID: fmt.Sprint(version, w.Unix(), i), ModelID: "m", ModelVersion: version,
				EventTime: ms(w.Add(time.Duration(i) * 250 * time.Millisecond)), Status: events.StatusOK, LatencyMs: 1,
				Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
			for _, k := range keys {
				p.NumFeatures.Keys = append(p.NumFeatures.Keys, k)
				p.NumFeatures.Values = append(p.NumFeatures.Values, float64(i%10)/10)
			}
			preds = append(preds, p)
		}
	}
	add("v1", w0, "a", "b")
	add("v1", w1, "a") // b gone; its baseline expects it
	add("v2", w0, "a", "c")
	add("v2", w1, "a") // c gone; the previous window had it
	e.insertPredictions(preds)

	e.computeBase(w0, w1)
	rows := e.rows(`SELECT model_version, feature, sample_count, null_rate, baseline_null_rate, psi, flagged, flag_reasons
		FROM drift_metrics FINAL WHERE granularity = '1m' AND window_start = '%s' ORDER BY model_version, feature`, chTime(w1))
	got := map[string]map[string]any{}
	for _, r := range rows {
		got[fmt.Sprint(r["model_version"], "/", r["feature"])] = r
	}
	for _, tt := range []struct {
		key          string
		nullRate     float64
		baseNullRate float64
		flagged      bool
	}{
		{"v1/a", 0, 0, false},
		{"v1/b", 1, 0.02, true},
		{"v2/a", 0, 0, false},
		{"v2/c", 1, 0, true},
	} {
		r, ok := got[tt.key]
		if !ok {
			t.Errorf("%s: no drift row in %v", tt.key, slices.Sorted(maps.Keys(got)))
			continue
		}
		if num(t, r, "null_rate") != tt.nullRate || num(t, r, "baseline_null_rate") != tt.baseNullRate || num(t, r, "sample_count") != 200 {
			t.Errorf("%s: null rate %v (baseline %v) of %v predictions, want %v (%v) of 200", tt.key, r["null_rate"], r["baseline_null_rate"], r["sample_count"], tt.nullRate, tt.baseNullRate)
		}
		reasons, _ := r["flag_reasons"].([]any)
		if r["flagged"] != tt.flagged || tt.flagged != slices.Contains(reasons, any("null_rate")) {
			t.Errorf("%s: flagged %v %v, want %v for null_rate", tt.key, r["flagged"], reasons, tt.flagged)
		}
		if tt.nullRate == 1 && r["psi"] != nil {
			t.Errorf("%s: psi %v without any value", tt.key, r["psi"])
		}
	}
}

// TestDriftFeatureGoneStaysFlagged: without a baseline, a feature that
// stopped arriving stays flagged (null rate 1, reference the last window
// with its values) in every window after the first one without it while
// the version has traffic: computed in one span (w1-w3), and in a later
// computation that finds the chain in drift_metrics (w4). A feature that
// is back (w5) is no longer a missing row; a categorical feature is
// carried the same way.
func TestDriftFeatureGoneStaysFlagged(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	w0 := floorTo(now.Add(-2*time.Hour), time.Minute)
	at := func(i int) time.Time { return w0.Add(time.Duration(i) * time.Minute) }
	var preds []events.PredictionLog
	for wi := range 6 {
		for i := range 100 {
			p := events.PredictionLog{RequestID: fmt.Sprint(wi, "-", i), ModelID: "m", ModelVersion: "v1",
				EventTime: ms(at(wi).Add(time.Duration(i) * 500 * time.Millisecond)), Status: events.StatusOK, LatencyMs: 1,
				Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
			p.NumFeatures.Keys, p.NumFeatures.Values = []string{"a"}, []float64{float64(i%10) / 10}
			if wi == 0 || wi == 5 {
				p.NumFeatures.Keys = append(p.NumFeatures.Keys, "c")
				p.NumFeatures.Values = append(p.NumFeatures.Values, float64(i%7)/7)
				if i%4 != 0 { // a quarter of the predictions lack it
					p.CatFeatures.Keys, p.CatFeatures.Values = []string{"k"}, []string{fmt.Sprint("x", i%3)}
				}
			}
			preds = append(preds, p)
		}
	}
	e.insertPredictions(preds)
	e.computeBase(at(0), at(1), at(2), at(3))
	e.computeBase(at(4))
	e.computeBase(at(5))

	rows := e.rows(`SELECT toString(window_start) AS ws, feature, null_rate, baseline_null_rate, flagged, flag_reasons,
			toString(reference_window_start) AS ref
		FROM drift_metrics FINAL WHERE granularity = '1m' AND feature IN ('c', 'k') ORDER BY window_start, feature`)
	got := map[string]map[string]any{}
	for _, r := range rows {
		got[fmt.Sprint(r["ws"], " ", r["feature"])] = r
	}
	for i := 1; i <= 4; i++ {
		for _, f := range []struct {
			name     string
			baseNull float64
		}{{"c", 0}, {"k", 0.25}} {
			key := chTime(at(i)) + " " + f.name
			r, ok := got[key]
			if !ok {
				t.Errorf("%s: no drift row; rows %v", key, rows)
				continue
			}
			reasons, _ := r["flag_reasons"].([]any)
			if num(t, r, "null_rate") != 1 || num(t, r, "baseline_null_rate") != f.baseNull || r["ref"] != chTime(at(0)) ||
				r["flagged"] != true || !slices.Contains(reasons, any("null_rate")) {
				t.Errorf("%s: %v; want null rate 1 against %v of %v, flagged null_rate", key, r, f.baseNull, chTime(at(0)))
			}
		}
	}
	for _, f := range []string{"c", "k"} {
		if r, ok := got[chTime(at(5))+" "+f]; ok && num(t, r, "null_rate") == 1 {
			t.Errorf("w5 %s: back, yet a missing row %v", f, r)
		}
	}
}
