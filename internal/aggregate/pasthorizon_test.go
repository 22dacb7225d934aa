package aggregate

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/predlog/predlog/pkg/events"
)

// TestPredictionsPastHorizon: predictions ingested after their windows'
// label horizon are counted once, when the count is due, and predictions
// within the horizon are not.
func TestPredictionsPastHorizon(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	e.insertModel("m", "v1", events.ProblemBinary, 0.5, "1")
	a := e.aggregator(cfg)
	a.pastHorizonEvery = time.Hour
	cycle(t, a) // sets the watermarks

	now := time.Now().UTC()
	old := floorTo(now.Add(-cfg.LabelHorizon-2*time.Hour), time.Minute)
	var preds []events.PredictionLog
	for i, at := range []time.Time{old, old.Add(time.Minute), old.Add(-24 * time.Hour), now.Add(-time.Hour), now.Add(-cfg.LabelHorizon + time.Hour)} {
		preds = append(preds, events.PredictionLog{RequestID: string(rune('a' + i)), ModelID: "m", ModelVersion: "v1", EventTime: ms(at),
			Score: 0.7, HasScore: true, LatencyMs: 1, Status: events.StatusOK, Provenance: events.Provenance{IngestTime: ms(time.Now())}})
	}
	e.insertPredictions(preds)
	const want = 3 // the first three: their windows are final

	past := func() float64 { return testutil.ToFloat64(a.m.pastHorizon) }
	cycle(t, a)
	if got := past(); got != 0 {
		t.Errorf("%v counted before the count was due (every hour here), want 0", got)
	}
	a.pastHorizonEvery = 0
	cycle(t, a)
	if got := past(); got != want {
		t.Errorf("predictions_past_horizon_total = %v, want %d", got, want)
	}
	cycle(t, a)
	if got := past(); got != want {
		t.Errorf("predictions_past_horizon_total = %v after another cycle, want %d (each counted once)", got, want)
	}
}
