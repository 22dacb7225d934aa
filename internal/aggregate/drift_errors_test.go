package aggregate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestDriftIgnoresFailedPredictions: drift describes the inputs and outputs
// of successful predictions. A failed one carries no score and often no
// features; counted in the null rates' denominator, a quarter of requests
// failing read as a quarter of every feature and of the score missing,
// flagged null_rate on every feature (PredlogModelFeatureDrift firing for
// an availability incident). The same through the insert-time views and
// from the raw rows.
func TestDriftIgnoresFailedPredictions(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	w := floorTo(now.Add(-3*time.Hour), time.Minute)
	w2 := w.Add(time.Minute)
	e.insertModel("errs", "v1", events.ProblemBinary, 0.5, "1")
	e.insertBaseline("errs", "v1", now.Add(-48*time.Hour), uniformBins("x", []float64{10, 20, 30, 40}))
	cfg := e.config()
	cfg.InsertTimeBins = true
	a := e.aggregator(cfg)
	a.ensureInsertViews(context.Background())

	var preds []events.PredictionLog
	for k, ws := range []time.Time{w, w2} {
		for i := range 1200 {
			p := events.PredictionLog{RequestID: fmt.Sprintf("r%d-%d", k, i), ModelID: "errs", ModelVersion: "v1",
				EventTime: ms(ws.Add(time.Duration(i) * 40 * time.Millisecond)), LatencyMs: 10, Status: events.StatusOK,
				Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
			if k == 1 && i%4 == 0 {
				// Failed before the model ran: nothing but the error.
				p.Status, p.Error = events.StatusError, "timeout"
			} else {
				p.Score, p.HasScore = float64(i%100)/100, true
				p.NumFeatures.Keys, p.NumFeatures.Values = []string{"x"}, []float64{float64(i % 50)}
				p.CatFeatures.Keys, p.CatFeatures.Values = []string{"c"}, []string{[]string{"a", "b", "c"}[i%3]}
			}
			preds = append(preds, p)
		}
	}
	e.insertPredictions(preds)

	check := func(path string) {
		t.Helper()
		rows := e.rows(`SELECT feature, sample_count, null_rate, flagged, flag_reasons FROM drift_metrics FINAL
			WHERE model_id = 'errs' AND model_version = 'v1' AND granularity = '1m' AND window_start = '%s' ORDER BY feature`, chTime(w2))
		if len(rows) != 3 {
			t.Fatalf("%s: %d drift rows, want x, c and __score__: %v", path, len(rows), rows)
		}
		for _, r := range rows {
			if num(t, r, "sample_count") != 900 || num(t, r, "null_rate") != 0 || r["flagged"] != false {
				t.Errorf("%s: %v: want 900 values, null rate 0, not flagged (300 failed predictions are not missing values)", path, r)
			}
		}
	}
	view, raw := computePairs(t, a, []time.Time{w, w2}, "numeric")
	if view != 2 || raw != 0 {
		t.Fatalf("%v pairs from the views and %v raw, want 2 and 0: failed predictions must not break their coverage", view, raw)
	}
	if err := a.computeOutputs(context.Background(), a.grans[0], []window{{start: w, reason: reasonBackfill}, {start: w2, reason: reasonBackfill}}); err != nil {
		t.Fatal(err)
	}
	check("insert-time views")

	e.st.Exec(t, e.db, "TRUNCATE TABLE feature_bins_1m")
	e.st.Exec(t, e.db, "TRUNCATE TABLE feature_values_1m")
	e.computeBase(w, w2)
	check("raw rows")
}
