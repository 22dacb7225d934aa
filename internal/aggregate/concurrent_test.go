package aggregate

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestConcurrentAggregators runs two aggregators over the same database at
// the same time, twice: the outputs must hold one row per key, equal to
// what one aggregator alone writes.
func TestConcurrentAggregators(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	e.insertModel("m", "v1", events.ProblemBinary, 0.5, "1")
	var preds []events.PredictionLog
	var outs []events.Outcome
	for i := range 300 {
		p := events.PredictionLog{RequestID: fmt.Sprintf("r%d", i), ModelID: "m", ModelVersion: "v1",
			EventTime: ms(h.Add(time.Duration(i) * 10 * time.Second)), Score: float64(i%100) / 100, HasScore: true,
			LatencyMs: float64(5 + i%17), Status: events.StatusOK,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		preds = append(preds, p)
		outs = append(outs, events.Outcome{RequestID: p.RequestID, ModelID: "m", EventTime: ms(now.Add(-time.Minute)),
			Label: fmt.Sprint(i % 3 % 2), HasLabel: true, Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
	}
	e.insertPredictions(preds)
	e.insertOutcomes(outs)

	a, b := e.aggregator(e.config()), e.aggregator(e.config())
	for round := range 2 {
		at := now.Add(time.Duration(round) * time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, agg := range []*Aggregator{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := agg.RunOnce(ctx, at); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	const keyQuery = `SELECT count() AS n, uniqExact(model_version, granularity, slice_key, slice_value, window_start) AS keys,
		sum(prediction_count) AS preds, sum(tp + fp + tn + fn) AS labeled
		FROM performance_metrics FINAL WHERE granularity = '1h' AND slice_key = ''`
	rows := e.rows(keyQuery)
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	// One hour, two rows (v1 and '*'), each counting every prediction once.
	if num(t, r, "n") != 2 || num(t, r, "keys") != 2 || num(t, r, "preds") != 600 || num(t, r, "labeled") != 600 {
		t.Fatalf("after concurrent runs: %v, want 2 rows, 2 keys, 600 predictions and 600 labeled (2 × 300)", r)
	}
	drift := e.rows(`SELECT count() AS n, uniqExact(model_version, granularity, window_start, feature) AS keys FROM drift_metrics FINAL`)
	if len(drift) == 1 && num(t, drift[0], "n") != num(t, drift[0], "keys") {
		t.Fatalf("drift_metrics: %v rows for %v keys", drift[0]["n"], drift[0]["keys"])
	}
}
