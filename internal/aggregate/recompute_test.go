package aggregate

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/predlog/predlog/pkg/events"
)

// TestRecomputeThrottle: the windows a models record dirties are
// recomputed windows.recompute_per_cycle at a time, newest first, over as
// many cycles as it takes; a record that arrives meanwhile starts again
// from the newest window; in the end every window has the latest metadata
// and another model's window was never recomputed.
func TestRecomputeThrottle(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	const minutes = 5
	rows := map[time.Time][]scored{}
	var preds []events.PredictionLog
	var outs []events.Outcome
	var wins []time.Time
	add := func(model string, w time.Time, i int) {
		p := events.PredictionLog{RequestID: fmt.Sprintf("%s-%d-%d", model, w.Unix(), i), ModelID: model, ModelVersion: "v1",
			EventTime: ms(w.Add(time.Duration(i) * time.Second)), Score: float64(i) / 40, HasScore: true,
			LatencyMs: 10, Status: events.StatusOK, Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		o := events.Outcome{RequestID: p.RequestID, ModelID: model, EventTime: ms(now.Add(-time.Minute)),
			Label: fmt.Sprint(i % 3 % 2), HasLabel: true}
		preds, outs = append(preds, p), append(outs, o)
		if model == "m" {
			rows[w] = append(rows[w], scored{p.Score, o.Label})
		}
	}
	for k := range minutes {
		w := h.Add(time.Duration(10+k) * time.Minute)
		wins = append(wins, w)
		for i := range 40 {
			add("m", w, i)
		}
	}
	other := h.Add(30 * time.Minute)
	for i := range 40 {
		add("other", other, i)
	}
	e.insertModel("other", "v1", events.ProblemBinary, 0.5, "1")
	e.insertPredictions(preds)
	e.insertOutcomes(outs)

	cfg := e.config()
	cfg.RecomputePerCycle = 2 * time.Minute
	a := e.aggregator(cfg)
	cycle(t, a)

	computed := func() map[time.Time]string {
		out := map[time.Time]string{}
		for _, r := range e.rows(`SELECT toString(window_start) AS ws, toString(computed_at) AS at FROM aggregator_windows FINAL WHERE granularity = '1m'`) {
			ws, err := time.Parse(time.DateTime, r["ws"].(string))
			if err != nil {
				t.Fatal(err)
			}
			out[ws] = r["at"].(string)
		}
		return out
	}

	before := computed()
	if len(before) != minutes+1 {
		t.Fatalf("first cycle computed %d minutes, want %d", len(before), minutes+1)
	}
	// Each step: a models record sent before the cycle (or none), the
	// windows of m (by index into wins) the cycle recomputes, and the
	// backlog it leaves.
	steps := []struct {
		name      string
		threshold float64
		positive  string
		record    bool
		want      []int
		backlog   float64
	}{
		{"threshold changed", 0.7, "1", true, []int{3, 4}, 3},
		{"next cycle", 0, "", false, []int{1, 2}, 1},
		{"positive class changed meanwhile", 0.7, "0", true, []int{3, 4}, 3},
		{"continues", 0, "", false, []int{1, 2}, 1},
		{"last", 0, "", false, []int{0}, 0},
		{"done", 0, "", false, nil, 0},
	}
	for _, st := range steps {
		if st.record {
			e.sendModel("m", st.threshold, st.positive)
		}
		cycle(t, a)
		after := computed()
		var got []int
		for i, w := range wins {
			if after[w] != before[w] {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: recomputed minutes %v, want %v", st.name, got, st.want)
		}
		if after[other] != before[other] {
			t.Errorf("%s: the other model's minute was recomputed", st.name)
		}
		if b := testutil.ToFloat64(a.m.backlog.WithLabelValues("models")); b != st.backlog {
			t.Errorf("%s: backlog gauge %v, want %v", st.name, b, st.backlog)
		}
		before = after
	}
	// Done: the watermark has caught up with the last backlog's bound, and
	// an idle cycle no longer reads the horizon's states.
	marks, err := a.readMarks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if seen, mark := marks[markIngestModels+markSeenSuffix], marks[markIngestModels]; seen.IsZero() || seen.After(mark) {
		t.Errorf("after the backlog: %s %v, %s %v; want the watermark at or past it", markIngestModels+markSeenSuffix, seen, markIngestModels, mark)
	}
	runs := func() uint64 { return queryRuns(t, a, "dirty_models") }
	before0 := runs()
	cycle(t, a)
	if n := runs() - before0; n != 0 {
		t.Errorf("an idle cycle ran dirty_models %d times, want 0", n)
	}
	for _, w := range wins {
		got := e.rows(`SELECT precision FROM performance_metrics FINAL WHERE model_id = 'm' AND model_version = 'v1'
			AND granularity = '1m' AND slice_key = '' AND window_start = '%s'`, chTime(w))
		if len(got) != 1 {
			t.Fatalf("%v: %d rows", w, len(got))
		}
		if p, want := num(t, got[0], "precision"), precisionAt(rows[w], 0.7, "0"); math.Abs(p-want) > 1e-12 {
			t.Errorf("%v: precision %v, want %v (threshold 0.7, positive class 0)", w, p, want)
		}
	}
}

// TestRecomputeGivesUp: windows that are dirty again after this process
// recomputed them, with no new record (simulated by writing their states
// again with the old threshold), end the round instead of being recomputed
// every cycle, and idle cycles skip the dirty query again.
func TestRecomputeGivesUp(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	var preds []events.PredictionLog
	var wins []time.Time
	for k := range 5 {
		wins = append(wins, h.Add(time.Duration(10+k)*time.Minute))
		for i := range 10 {
			preds = append(preds, events.PredictionLog{RequestID: fmt.Sprintf("r%d-%d", k, i), ModelID: "m", ModelVersion: "v1",
				EventTime: ms(wins[k].Add(time.Duration(i) * time.Second)), Score: 0.5, HasScore: true,
				LatencyMs: 1, Status: events.StatusOK, Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
		}
	}
	e.insertPredictions(preds)
	cfg := e.config()
	cfg.RecomputePerCycle = 2 * time.Minute
	a := e.aggregator(cfg)
	cycle(t, a)
	e.sendModel("m", 0.7, "1")

	runs := func() uint64 { return queryRuns(t, a, "dirty_models") }
	for _, st := range []struct {
		name    string
		backlog float64
		runs    uint64
	}{
		{"holds", 3, 1},
		{"the windows it recomputed dirty again: gives up", 0, 1},
		{"idle", 0, 0},
	} {
		r0 := runs()
		cycle(t, a)
		if b := testutil.ToFloat64(a.m.backlog.WithLabelValues("models")); b != st.backlog {
			t.Errorf("%s: backlog %v, want %v", st.name, b, st.backlog)
		}
		if n := runs() - r0; n != st.runs {
			t.Errorf("%s: dirty_models ran %d times, want %d", st.name, n, st.runs)
		}
		if st.backlog > 0 {
			// The newest two minutes, just recomputed, dirty again.
			e.st.Exec(t, e.db, fmt.Sprintf(`INSERT INTO performance_window_states
				SELECT * REPLACE (0.5 AS decision_threshold, now64(3, 'UTC') AS computed_at)
				FROM performance_window_states WHERE model_id = 'm' AND window_start IN ('%s', '%s')`, chTime(wins[3]), chTime(wins[4])))
		}
	}
}

// queryRuns is how many times a ran the statement name.
func queryRuns(t *testing.T, a *Aggregator, name string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := a.m.queryDuration.WithLabelValues(name).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
