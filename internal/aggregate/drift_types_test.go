package aggregate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestDriftMixedTypes: a feature sent as a number in some messages and as
// a string in others keeps its row of the reference's type, with the
// other type's values counted as nulls: against the previous window (v1,
// half and then three quarters strings) and against a numeric baseline
// (v2, only strings), and a categorical feature (v3) that some messages
// send as a number. Without the feature type in drift_window_states' key
// a window kept one of its two states; without matchTypes the type read
// first (numeric) was compared with a categorical reference, and a
// window without values of its baseline's type had no row.
func TestDriftMixedTypes(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	w0 := floorTo(now.Add(-2*time.Hour), time.Minute)
	w1, w2 := w0.Add(time.Minute), w0.Add(2*time.Minute)
	e.insertBaseline("m", "v2", now.Add(-48*time.Hour), uniformBins("amount", []float64{0.5}))
	var preds []events.PredictionLog
	// add sends amount in n predictions of window w, the first strs of
	// them as a string.
	add := func(version string, w time.Time, n, strs int) {
		for i := range n {
			p := events.PredictionLog{RequestID: fmt.Sprint(version, w.Unix(), i), ModelID: "m", ModelVersion: version,
				EventTime: ms(w.Add(time.Duration(i) * 250 * time.Millisecond)), Status: events.StatusOK, LatencyMs: 1,
				Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
			v := float64(i%10) / 10
			if i < strs {
				p.CatFeatures.Keys, p.CatFeatures.Values = []string{"amount"}, []string{fmt.Sprint(v)}
			} else {
				p.NumFeatures.Keys, p.NumFeatures.Values = []string{"amount"}, []float64{v}
			}
			preds = append(preds, p)
		}
	}
	add("v1", w0, 200, 0)
	add("v1", w1, 200, 100)
	add("v1", w2, 200, 150)
	add("v2", w0, 200, 0)
	add("v2", w1, 200, 200)
	add("v3", w0, 200, 200)
	add("v3", w1, 200, 120)
	e.insertPredictions(preds)

	e.computeBase(w0, w1, w2)
	rows := e.rows(`SELECT model_version, toString(window_start) AS ws, feature_type, null_rate, flagged, flag_reasons
		FROM drift_metrics FINAL WHERE granularity = '1m' AND feature = 'amount' AND window_start IN ('%s', '%s') ORDER BY model_version, ws`,
		chTime(w1), chTime(w2))
	got := map[string]map[string]any{}
	for _, r := range rows {
		k := fmt.Sprint(r["model_version"], "@", r["ws"])
		if _, dup := got[k]; dup {
			t.Errorf("%s: two rows", k)
		}
		got[k] = r
	}
	for _, tt := range []struct {
		version  string
		w        time.Time
		typ      string
		nullRate float64
	}{
		{"v1", w1, "numeric", 0.5},
		{"v1", w2, "numeric", 0.75},
		{"v2", w1, "numeric", 1},
		{"v3", w1, "categorical", 0.4},
	} {
		k := fmt.Sprint(tt.version, "@", tt.w.Format(time.DateTime))
		r, ok := got[k]
		if !ok {
			t.Errorf("%s: no drift row for amount in %v", k, slices.Sorted(maps.Keys(got)))
			continue
		}
		reasons, _ := r["flag_reasons"].([]any)
		if r["feature_type"] != tt.typ || num(t, r, "null_rate") != tt.nullRate || r["flagged"] != true || !slices.Contains(reasons, any("null_rate")) {
			t.Errorf("%s: %v row, null rate %v, flagged %v %v; want %s, %v, flagged null_rate",
				k, r["feature_type"], r["null_rate"], r["flagged"], reasons, tt.typ, tt.nullRate)
		}
	}
}

// TestDriftMixedTypesHour: the same at a granularity rolled up from the
// base windows' states, which drift_read sums per feature type (summed
// together, the string values counted as numbers and the null rate read
// 0).
func TestDriftMixedTypesHour(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h0 := floorTo(now.Add(-5*time.Hour), time.Hour)
	h1 := h0.Add(time.Hour)
	var preds []events.PredictionLog
	for hi, h := range []time.Time{h0, h1} {
		for i := range 200 {
			p := events.PredictionLog{RequestID: fmt.Sprint(hi, "-", i), ModelID: "m", ModelVersion: "v1",
				EventTime: ms(h.Add(time.Duration(i) * 250 * time.Millisecond)), Status: events.StatusOK, LatencyMs: 1,
				Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
			v := float64(i%10) / 10
			if hi == 1 && i%2 == 0 {
				p.CatFeatures.Keys, p.CatFeatures.Values = []string{"amount"}, []string{fmt.Sprint("c", i%10)}
			} else {
				p.NumFeatures.Keys, p.NumFeatures.Values = []string{"amount"}, []float64{v}
			}
			preds = append(preds, p)
		}
	}
	e.insertPredictions(preds)
	e.computeBase(h0, h1)
	a := e.aggregator(e.config())
	if err := a.computeOutputs(context.Background(), a.grans[1], []window{{start: h0, reason: reasonBackfill}, {start: h1, reason: reasonBackfill}}); err != nil {
		t.Fatal(err)
	}
	rows := e.rows(`SELECT feature_type, null_rate, flagged, flag_reasons FROM drift_metrics FINAL
		WHERE granularity = '1h' AND feature = 'amount' AND window_start = '%s'`, chTime(h1))
	if len(rows) != 1 {
		t.Fatalf("1h rows for amount: %v, want one", rows)
	}
	r := rows[0]
	reasons, _ := r["flag_reasons"].([]any)
	if r["feature_type"] != "numeric" || num(t, r, "null_rate") != 0.5 || r["flagged"] != true || !slices.Contains(reasons, any("null_rate")) {
		t.Errorf("1h row %v; want numeric, null rate 0.5, flagged null_rate", r)
	}
}
