package aggregate

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestDriftPredictedLabel: the predicted label is output drift under the
// feature name __label__: its counts per window are those generated, and a
// switch from mostly "cat" to mostly "dog" against the previous window is
// flagged.
func TestDriftPredictedLabel(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	w1 := floorTo(now.Add(-2*time.Hour), time.Minute)
	w0 := w1.Add(-time.Minute)
	want := map[time.Time]map[string]uint64{w0: {}, w1: {}}
	var preds []events.PredictionLog
	for wi, w := range []time.Time{w0, w1} {
		for i := range 2000 {
			label := "cat"
			if (i%10 < 8) == (wi == 1) { // w0: 20 % dog, w1: 80 % dog
				label = "dog"
			}
			if i%50 == 0 {
				label = "" // no predicted label: not counted
			}
			preds = append(preds, events.PredictionLog{RequestID: fmt.Sprint(wi, "-", i), ModelID: "m", ModelVersion: "v1",
				EventTime: ms(w.Add(time.Duration(i) * 25 * time.Millisecond)), Status: events.StatusOK, LatencyMs: 1,
				Label: label, Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
			if label != "" {
				want[w][label]++
			}
		}
	}
	e.insertPredictions(preds)
	e.computeBase(w0, w1)
	for _, w := range []time.Time{w0, w1} {
		kind, got := e.driftState("__label__", w)
		if kind != "fine" || len(got) != len(want[w]) || got["cat"] != want[w]["cat"] || got["dog"] != want[w]["dog"] {
			t.Errorf("%v: __label__ %s counts %v, want fine %v", w, kind, got, want[w])
		}
	}
	rows := e.rows(`SELECT feature_type, flagged, flag_reasons FROM drift_metrics FINAL
		WHERE granularity = '1m' AND feature = '__label__' AND window_start = '%s'`, chTime(w1))
	if len(rows) != 1 {
		t.Fatalf("__label__ drift rows: %v", rows)
	}
	reasons, _ := rows[0]["flag_reasons"].([]any)
	if rows[0]["feature_type"] != "categorical" || rows[0]["flagged"] != true || !slices.Contains(reasons, any("js")) {
		t.Errorf("__label__ drift row %v: want categorical, flagged by js", rows[0])
	}
}
