package aggregate

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/pkg/events"
)

// TestMetadataChange: a version's windows computed with the default
// threshold and positive class (its models record came later) are
// recomputed with the record's once it arrives, and again when the
// positive class changes; the record sent again unchanged recomputes
// nothing, and another model's windows are never touched.
func TestMetadataChange(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	wm, wo := h.Add(10*time.Minute), h.Add(20*time.Minute)
	e.insertModel("other", "v1", events.ProblemBinary, 0.5, "1")
	var rows []scored
	var preds []events.PredictionLog
	var outs []events.Outcome
	for i := range 40 {
		for _, m := range []struct {
			id string
			w  time.Time
		}{{"m", wm}, {"other", wo}} {
			p := events.PredictionLog{RequestID: fmt.Sprintf("%s%d", m.id, i), ModelID: m.id, ModelVersion: "v1",
				EventTime: ms(m.w.Add(time.Duration(i) * time.Second)), Score: float64(i) / 40, HasScore: true,
				LatencyMs: 10, Status: events.StatusOK, Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
			o := events.Outcome{RequestID: p.RequestID, ModelID: m.id, EventTime: ms(now.Add(-time.Minute)),
				Label: fmt.Sprint(i % 3 % 2), HasLabel: true}
			preds, outs = append(preds, p), append(outs, o)
			if m.id == "m" {
				rows = append(rows, scored{p.Score, o.Label})
			}
		}
	}
	e.insertPredictions(preds)
	e.insertOutcomes(outs)

	check := func(threshold float64, positive string) {
		t.Helper()
		for _, g := range []string{"1m", "1h"} {
			got := e.rows(`SELECT precision FROM performance_metrics FINAL WHERE model_id = 'm' AND model_version = 'v1'
				AND granularity = '%s' AND slice_key = '' AND window_start = '%s'`, g, chTime(floorTo(wm, map[string]time.Duration{"1m": time.Minute, "1h": time.Hour}[g])))
			if len(got) != 1 {
				t.Fatalf("%s: %d rows", g, len(got))
			}
			if p, want := num(t, got[0], "precision"), precisionAt(rows, threshold, positive); math.Abs(p-want) > 1e-12 {
				t.Errorf("%s precision = %v, want %v (threshold %v, positive class %q)", g, p, want, threshold, positive)
			}
		}
	}
	computed := func() map[string]string {
		out := map[string]string{}
		for _, r := range e.rows(`SELECT granularity, toString(window_start) AS ws, toString(computed_at) AS at FROM aggregator_windows FINAL`) {
			out[r["granularity"].(string)+" "+r["ws"].(string)] = r["at"].(string)
		}
		return out
	}
	a := e.aggregator(e.config())
	cycle(t, a)
	check(0.5, "1")
	keyM, keyO := "1m "+chTime(wm), "1m "+chTime(wo)
	before := computed()
	if before[keyM] == "" || before[keyO] == "" {
		t.Fatalf("first cycle computed %v", before)
	}

	steps := []struct {
		name      string
		threshold float64
		positive  string
		recompute bool
	}{
		{"registered after serving", 0.7, "1", true},
		{"sent again unchanged", 0.7, "1", false},
		{"positive class changed", 0.7, "0", true},
	}
	for _, st := range steps {
		e.sendModel("m", st.threshold, st.positive)
		rep := cycle(t, a)
		after := computed()
		if changed := after[keyM] != before[keyM]; changed != st.recompute {
			t.Errorf("%s: m's window recomputed = %v, want %v (dirty base windows %d)", st.name, changed, st.recompute, rep.DirtyBaseWindows)
		}
		if hour := "1h " + chTime(h); (after[hour] != before[hour]) != st.recompute {
			t.Errorf("%s: its hour recomputed = %v, want %v", st.name, after[hour] != before[hour], st.recompute)
		}
		if after[keyO] != before[keyO] {
			t.Errorf("%s: the other model's window was recomputed", st.name)
		}
		check(st.threshold, st.positive)
		before = after
	}
}

// TestBaselineRecomputes: a baseline that arrives after a version's windows
// were computed against their previous windows recomputes their drift
// states against it at the next cycle, so that the hour rolled up from
// them measures against one reference (without it, minutes counted fine
// and minutes binned would mix); another model's windows stay as they
// were.
func TestBaselineRecomputes(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	ref, wo := h.Add(-time.Hour), h.Add(-90*time.Minute+30*time.Second)
	var preds []events.PredictionLog
	add := func(model string, at time.Time, x float64) {
		preds = append(preds, events.PredictionLog{RequestID: fmt.Sprint("r", len(preds)), ModelID: model, ModelVersion: "v1",
			EventTime: ms(at), Status: events.StatusOK, LatencyMs: 1, Score: x, HasScore: true,
			NumFeatures: events.Float64Map{Keys: []string{"x"}, Values: []float64{x}},
			Provenance:  events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
	}
	for i := range 2400 {
		add("m", ref.Add(time.Duration(i)*1500*time.Millisecond), float64(i%100)/100)
		add("m", h.Add(time.Duration(i)*1500*time.Millisecond), float64(i%100)/100)
	}
	for i := range 20 {
		add("o", wo.Add(time.Duration(i)*time.Second), 0.5)
	}
	e.insertPredictions(preds)
	a := e.aggregator(e.config())
	cycle(t, a)
	kinds := func(model string) map[string]int {
		out := map[string]int{}
		for _, r := range e.rows(`SELECT kind, toString(baseline_computed_at) AS at, count() AS n FROM drift_window_states FINAL
			WHERE model_id = '%s' AND feature = 'x' AND window_start >= '%s' AND window_start < '%s'
			  AND (window_start, feature_type, computed_at) IN (SELECT window_start, feature_type, max(computed_at) FROM drift_window_states GROUP BY ALL)
			GROUP BY ALL`, model, chTime(h), chTime(h.Add(time.Hour))) {
			out[fmt.Sprint(r["kind"], " ", r["at"])] = int(num(t, r, "n"))
		}
		return out
	}
	if got := kinds("m"); got["fine 1970-01-01 00:00:00.000"] != 60 {
		t.Fatalf("before the baseline: %v, want 60 fine minutes", got)
	}
	oBefore := e.rows(`SELECT toString(computed_at) AS at FROM aggregator_windows FINAL WHERE granularity = '1m' AND window_start = '%s'`, chTime(floorTo(wo, time.Minute)))

	b, err := a.FreezeBaseline(context.Background(), "m", "v1", ref, h, FreezeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cycle(t, a)
	at := b.ComputedAt.Format("2006-01-02 15:04:05.000")
	if got := kinds("m"); got["bins "+at] != 60 || len(got) != 1 {
		t.Errorf("after the baseline: %v, want the 60 minutes binned against it", got)
	}
	rows := e.rows(`SELECT toString(baseline_computed_at) AS at, null_rate, flagged FROM drift_metrics FINAL
		WHERE model_id = 'm' AND feature = 'x' AND granularity = '1h' AND window_start = '%s'`, chTime(h))
	if len(rows) != 1 || rows[0]["at"] != at || num(t, rows[0], "null_rate") != 0 || rows[0]["flagged"] != false {
		t.Errorf("1h drift of x: %v, want against the baseline of %s, null rate 0, not flagged", rows, at)
	}
	oAfter := e.rows(`SELECT toString(computed_at) AS at FROM aggregator_windows FINAL WHERE granularity = '1m' AND window_start = '%s'`, chTime(floorTo(wo, time.Minute)))
	if fmt.Sprint(oAfter) != fmt.Sprint(oBefore) || len(oBefore) != 1 {
		t.Errorf("the other model's minute: computed %v, then %v; want it left alone", oBefore, oAfter)
	}
}

// scored is a labelled binary prediction: its score and its label.
type scored struct {
	score float64
	label string
}

// precisionAt is the test's own precision: of the rows predicted positive
// (score >= threshold), the share whose label is the positive class.
func precisionAt(rows []scored, threshold float64, positive string) float64 {
	var tp, fp float64
	for _, r := range rows {
		if r.score >= threshold {
			if r.label == positive {
				tp++
			} else {
				fp++
			}
		}
	}
	return tp / (tp + fp)
}

// sendModel ingests a binary models record for version v1 of model id now,
// as the ingester would (ingest_time set: the next cycle sees it).
func (e *env) sendModel(id string, threshold float64, positive string) {
	e.t.Helper()
	e.insertJSON("models", func(b *chwriter.JSONBlock) error {
		return b.AppendModel(&events.Model{ModelID: id, ModelVersion: "v1", ProblemType: events.ProblemBinary,
			DecisionThreshold: threshold, HasDecisionThreshold: true, PositiveClass: positive,
			UpdatedAt: time.Now().UnixMilli(), Provenance: events.Provenance{IngestTime: time.Now().UnixMilli()}})
	})
}

// TestManyModelVersions: perf_states finds a version's models record among
// thousands (versions unique per model, as commit hashes are), and applies
// the defaults to a pair without one, even when its id and its version
// each have rows in other pairs.
func TestManyModelVersions(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	w := floorTo(now.Add(-2*time.Hour), time.Minute)
	// big/v<i>: threshold 0.1 + (i % 9) / 10, so big/v1234 has 0.2; other/v1234 has 0.9.
	e.st.Exec(t, e.db, `INSERT INTO models (model_id, model_version, problem_type, decision_threshold, positive_class, updated_at, ingest_time)
		SELECT 'big', concat('v', toString(number)), 'binary', 0.1 + (number % 9) / 10, '1', now64(3), now64(3) FROM numbers(3000)`)
	e.insertModel("other", "v1234", events.ProblemBinary, 0.9, "1")
	var preds []events.PredictionLog
	pairs := [][2]string{{"big", "v1234"}, {"big", "none"}, {"other", "v7"}}
	for _, pr := range pairs {
		for i := range 100 {
			preds = append(preds, events.PredictionLog{RequestID: fmt.Sprintf("%s/%s/%d", pr[0], pr[1], i), ModelID: pr[0],
				ModelVersion: pr[1], EventTime: ms(w.Add(time.Duration(i) * 100 * time.Millisecond)), Score: float64(i) / 100,
				HasScore: true, LatencyMs: 10, Status: events.StatusOK, Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
		}
	}
	e.insertPredictions(preds)
	cycle(t, e.aggregator(e.config()))
	tests := []struct {
		model, version string
		threshold      float64 // scores are 0.00, 0.01, ..., 0.99
	}{{"big", "v1234", 0.2}, {"big", "none", 0.5}, {"other", "v7", 0.5}}
	for _, tt := range tests {
		got := e.rows(`SELECT decision_threshold, predicted_positive_rate FROM performance_metrics FINAL
			WHERE model_id = '%s' AND model_version = '%s' AND granularity = '1m' AND slice_key = '' AND window_start = '%s'`,
			tt.model, tt.version, chTime(w))
		if len(got) != 1 {
			t.Fatalf("%s/%s: %d rows", tt.model, tt.version, len(got))
		}
		if th := num(t, got[0], "decision_threshold"); math.Abs(th-tt.threshold) > 1e-12 {
			t.Errorf("%s/%s: decision_threshold = %v, want %v", tt.model, tt.version, th, tt.threshold)
		}
		if r, want := num(t, got[0], "predicted_positive_rate"), 1-tt.threshold; math.Abs(r-want) > 1e-9 {
			t.Errorf("%s/%s: predicted_positive_rate = %v, want %v", tt.model, tt.version, r, want)
		}
	}
}
