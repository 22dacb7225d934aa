package aggregate

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestMetricEdges: metrics at the edges where a formula that is right in
// general goes wrong (found by an audit against scikit-learn's and the
// issue's definitions).
func TestMetricEdges(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	w := floorTo(now.Add(-20*time.Hour), time.Minute)
	ingest := events.Provenance{IngestTime: ms(now.Add(-time.Minute))}
	pred := func(model, id string, at time.Time) events.PredictionLog {
		return events.PredictionLog{RequestID: id, ModelID: model, ModelVersion: "v1", EventTime: ms(at),
			LatencyMs: 1, Status: events.StatusOK, Provenance: ingest}
	}
	var preds []events.PredictionLog
	var outs []events.Outcome

	// Regression with a constant truth: SST is 0, so R² is undefined. Σy² -
	// (Σy)²/n leaves a rounding residue of either sign (7.3 over 1000 rows:
	// -3e-7 in one window), which read as a tiny SST gave R² of -2.6e9.
	// The residue's sign depends on the values and the order of the sums,
	// so several constants.
	constants := []struct {
		y float64
		n int
	}{{7.3, 1000}, {0.1, 10}, {0.3, 7}, {1.1, 13}, {2.7, 333}}
	for k, c := range constants {
		model := fmt.Sprint("const", k)
		e.insertModel(model, "v1", events.ProblemRegression, 0, "")
		for i := range c.n {
			p := pred(model, fmt.Sprint("c", i), w.Add(time.Duration(i)*50*time.Millisecond))
			p.Value, p.HasValue = c.y+float64(i%3)/100, true
			preds = append(preds, p)
			outs = append(outs, events.Outcome{RequestID: p.RequestID, ModelID: model, EventTime: ms(w.Add(time.Minute)), Value: c.y, HasValue: true})
		}
	}

	// The label horizon (6h in the test config) counts from each
	// prediction: an outcome 7h after it does not label it, however many
	// windows are computed together.
	e.insertModel("hz", "v1", events.ProblemBinary, 0.5, "1")
	p := pred("hz", "late", w.Add(time.Second))
	p.Score, p.HasScore = 0.9, true
	preds = append(preds, p)
	outs = append(outs, events.Outcome{RequestID: "late", ModelID: "hz", EventTime: ms(w.Add(7 * time.Hour)), Label: "1", HasLabel: true})
	p = pred("hz", "in-time", w.Add(2*time.Second))
	p.Score, p.HasScore = 0.2, true
	preds = append(preds, p)
	outs = append(outs, events.Outcome{RequestID: "in-time", ModelID: "hz", EventTime: ms(w.Add(5 * time.Hour)), Label: "0", HasLabel: true})

	// Multiclass log loss: only rows whose probabilities add up to 1. A row
	// with the top classes only, its true class not among them, would add
	// -log(1e-15) = 34.5.
	e.insertModel("mc", "v1", events.ProblemMulticlass, 0, "")
	for i, c := range []struct {
		label string
		probs events.Float64Map
		truth string
	}{
		{"a", events.Float64Map{Keys: []string{"a", "b", "c"}, Values: []float64{0.8, 0.15, 0.05}}, "a"},
		{"b", events.Float64Map{Keys: []string{"a", "b", "c"}, Values: []float64{0.3, 0.6, 0.1}}, "b"},
		{"a", events.Float64Map{Keys: []string{"a", "b"}, Values: []float64{0.5, 0.3}}, "c"}, // top two only
	} {
		p := pred("mc", fmt.Sprint("m", i), w.Add(time.Duration(i)*time.Second))
		p.Label, p.Probabilities = c.label, c.probs
		preds = append(preds, p)
		outs = append(outs, events.Outcome{RequestID: p.RequestID, ModelID: "mc", EventTime: ms(w.Add(time.Minute)), Label: c.truth, HasLabel: true})
	}

	e.insertPredictions(preds)
	e.insertOutcomes(outs)

	// metric is col of model's 1m window w; nullNum for NULL.
	metric := func(model, col string) float64 {
		t.Helper()
		r := e.rows(`SELECT %s AS v FROM performance_metrics FINAL WHERE model_id = '%s' AND model_version = 'v1'
			AND granularity = '1m' AND slice_key = '' AND window_start = '%s'`, col, model, chTime(w))
		if len(r) != 1 {
			t.Fatalf("%s: %d rows", model, len(r))
		}
		return num(t, r[0], "v")
	}
	spans := []struct {
		name string
		wins []time.Time
	}{{"the window alone", []time.Time{w}}}
	var hours []time.Time
	for i := range 121 {
		hours = append(hours, w.Add(time.Duration(i)*time.Minute))
	}
	spans = append(spans, struct {
		name string
		wins []time.Time
	}{"with the next two hours", hours})
	for _, sp := range spans {
		e.computeBase(sp.wins...)
		for k, c := range constants {
			model := fmt.Sprint("const", k)
			if v := metric(model, "r2"); v != nullNum {
				t.Errorf("%s: r2 = %v for the constant truth %v (%d rows), want null", sp.name, v, c.y, c.n)
			}
		}
		if v := metric("const0", "mae"); math.Abs(v-0.00999) > 1e-9 {
			t.Errorf("%s: mae = %v, want 0.00999 (the metrics around it still computed)", sp.name, v)
		}
		if v := metric("hz", "labeled_count"); v != 1 {
			t.Errorf("%s: labeled_count = %v, want 1 (the outcome 7h later is past the 6h horizon)", sp.name, v)
		}
		if v := metric("hz", "tn"); v != 1 {
			t.Errorf("%s: tn = %v, want 1", sp.name, v)
		}
		want := -(math.Log(0.8) + math.Log(0.6)) / 2
		if v := metric("mc", "log_loss"); math.Abs(v-want) > 1e-9 {
			t.Errorf("%s: multiclass log_loss = %v, want %v (the row with partial probabilities left out)", sp.name, v, want)
		}
		if v := metric("mc", "accuracy"); math.Abs(v-2.0/3) > 1e-9 {
			t.Errorf("%s: multiclass accuracy = %v, want 2/3 (the partial row still counts there)", sp.name, v)
		}
	}
}
