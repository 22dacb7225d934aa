package aggregate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestSliceTopNChange recomputes a window whose top N slice values change
// (late predictions lift r3 above r2): the row of r2, which now counts in
// other, is retired (zero predictions, every metric NULL), so that the
// window's slice rows add up to its predictions again, and the retirement
// is not repeated by the cycles after it.
func TestSliceTopNChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	w := floorTo(now.Add(-2*time.Hour), time.Hour).Add(10 * time.Minute)
	e.insertModel("m", "v1", events.ProblemBinary, 0.5, "1")
	pred := func(i int, region string, ingest time.Time) events.PredictionLog {
		return events.PredictionLog{RequestID: fmt.Sprintf("%s-%d", region, i), ModelID: "m", ModelVersion: "v1",
			EventTime: ms(w.Add(time.Duration(i) * time.Second)), Score: 0.7, HasScore: true, LatencyMs: 10,
			Status: events.StatusOK, Metadata: events.StringMap{Keys: []string{"region"}, Values: []string{region}},
			Provenance: events.Provenance{IngestTime: ms(ingest)}}
	}
	var preds []events.PredictionLog
	for region, n := range map[string]int{"r1": 5, "r2": 4, "r3": 3} {
		for i := range n {
			preds = append(preds, pred(i, region, now.Add(-time.Minute)))
		}
	}
	e.insertPredictions(preds)
	cfg := e.config()
	cfg.SliceKeys, cfg.TopN = []string{"region"}, 2
	a := e.aggregator(cfg)
	if _, err := a.RunOnce(ctx, now); err != nil {
		t.Fatal(err)
	}
	// slices returns the window's region rows as value -> predictions.
	slices := func(g string, start time.Time) map[string]float64 {
		out := map[string]float64{}
		for _, r := range e.rows(`SELECT slice_value, prediction_count, precision, latency_p50_ms FROM performance_metrics FINAL
			WHERE model_id = 'm' AND model_version = 'v1' AND granularity = '%s' AND slice_key = 'region'
			  AND window_start = '%s'`, g, chTime(start)) {
			n := num(t, r, "prediction_count")
			if n == 0 && (r["precision"] != nil || r["latency_p50_ms"] != nil) {
				t.Errorf("%s %s: retired row with metrics: %v", g, r["slice_value"], r)
			}
			out[r["slice_value"].(string)] = n
		}
		return out
	}
	check := func(stage string, want map[string]float64) {
		t.Helper()
		for _, g := range []struct {
			name  string
			start time.Time
		}{{"1m", w}, {"1h", floorTo(w, time.Hour)}} {
			got := slices(g.name, g.start)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s, %s slices: %v, want %v", stage, g.name, got, want)
			}
		}
	}
	check("first cycle", map[string]float64{"r1": 5, "r2": 4, "other": 3})

	var late []events.PredictionLog
	for i := range 5 {
		late = append(late, pred(10+i, "r3", time.Now()))
	}
	e.insertPredictions(late)
	time.Sleep(10 * time.Millisecond) // ingest_time strictly before the cycle's scan bound
	if _, err := a.RunOnce(ctx, time.Now().UTC().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"r3": 8, "r1": 5, "r2": 0, "other": 4}
	check("late predictions", want)
	retired := func() string {
		return fmt.Sprint(e.rows(`SELECT toString(computed_at) AS at FROM performance_metrics FINAL
			WHERE granularity = '1m' AND slice_key = 'region' AND slice_value = 'r2'`))
	}
	at := retired()

	// Late outcomes recompute the window again: r2 stays retired, and its
	// retirement is not written again.
	e.insertOutcomes([]events.Outcome{{RequestID: "r1-0", ModelID: "m", EventTime: ms(now), Label: "1", HasLabel: true,
		Provenance: events.Provenance{IngestTime: ms(time.Now().Add(2 * time.Second))}}})
	if _, err := a.RunOnce(ctx, time.Now().UTC().Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	check("late outcome", want)
	if n := e.rows(`SELECT count() AS n FROM performance_metrics WHERE model_version = 'v1' AND granularity = '1m' AND slice_value = 'r2' AND prediction_count = 0`); num(t, n[0], "n") != 1 {
		t.Errorf("r2 retired %v times, want once", n[0]["n"])
	}
	if got := retired(); got != at {
		t.Errorf("retired row rewritten: %s -> %s", at, got)
	}

	// Once the window is final, so is its retired row.
	cfg.LabelHorizon = time.Hour
	if _, err := e.aggregator(cfg).Backfill(ctx, w, w.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	check("final", want)
	if rows := e.rows(`SELECT final FROM performance_metrics FINAL WHERE model_version = 'v1' AND granularity = '1m'
			AND slice_key = 'region' AND slice_value = 'r2'`); len(rows) != 1 || rows[0]["final"] != true {
		t.Errorf("r2 in the final window: %v, want one final row", rows)
	}
}
