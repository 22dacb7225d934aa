package aggregate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestAB runs an experiment where variant B errs more often, is more
// accurate and slower than control A, with a skewed split, and checks the
// z statistic and p-value against the textbook pooled two-proportion
// z-test, the Welch t statistic, the SRM p-value and the lifts.
func TestAB(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	e.insertModel("m", "a", events.ProblemBinary, 0.5, "1")
	e.insertModel("m", "b", events.ProblemBinary, 0.5, "1")
	r := rand.New(rand.NewPCG(3, 4))
	type stat struct{ n, errs, cls, correct, lat, lat2 float64 }
	st := map[string]*stat{"A": {}, "B": {}}
	var preds []events.PredictionLog
	var outs []events.Outcome
	for i := range 4000 {
		v, errP, accP, lat := "A", 0.05, 0.7, 20.0
		if r.Float64() < 0.45 {
			v, errP, accP, lat = "B", 0.08, 0.78, 23.0
		}
		s := st[v]
		p := events.PredictionLog{RequestID: fmt.Sprint("r", i), ModelID: "m", ModelVersion: map[string]string{"A": "a", "B": "b"}[v],
			EventTime: ms(h.Add(time.Duration(r.Int64N(int64(time.Hour))))), ExperimentID: "exp", Variant: v,
			LatencyMs: lat + r.NormFloat64()*5, Status: events.StatusOK, Score: 0.9, HasScore: true,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		s.n++
		s.lat += p.LatencyMs
		s.lat2 += p.LatencyMs * p.LatencyMs
		if r.Float64() < errP {
			p.Status = events.StatusError
			s.errs++
		} else if r.Float64() < 0.8 {
			label := "0"
			if r.Float64() < accP {
				label = "1" // score 0.9 predicts positive: correct
				s.correct++
			}
			s.cls++
			outs = append(outs, events.Outcome{RequestID: p.RequestID, ModelID: "m", EventTime: p.EventTime + 60000, Label: label, HasLabel: true,
				Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
		}
		preds = append(preds, p)
	}
	e.insertPredictions(preds)
	e.insertOutcomes(outs)
	cfg := e.config()
	a := e.aggregator(cfg)
	if _, err := a.RunOnce(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	get := func(metric, variant string) map[string]any {
		rows := e.rows(`SELECT * FROM ab_results FINAL WHERE experiment_id = 'exp' AND granularity = '1h' AND window_start = '%s'
			AND metric = '%s' AND variant = '%s'`, chTime(h), metric, variant)
		if len(rows) != 1 {
			t.Fatalf("%s %s: %d rows", metric, variant, len(rows))
		}
		return rows[0]
	}
	near := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	A, B := st["A"], st["B"]
	ztest := func(x1, n1, x2, n2 float64) (z, p float64) {
		p1, p2, pp := x1/n1, x2/n2, (x1+x2)/(n1+n2)
		z = (p1 - p2) / math.Sqrt(pp*(1-pp)*(1/n1+1/n2))
		return z, math.Erfc(math.Abs(z) / math.Sqrt2)
	}
	for _, c := range []struct {
		metric         string
		x1, n1, x2, n2 float64
	}{{"error_rate", B.errs, B.n, A.errs, A.n}, {"accuracy", B.correct, B.cls, A.correct, A.cls}} {
		z, p := ztest(c.x1, c.n1, c.x2, c.n2)
		row := get(c.metric, "B")
		near(c.metric+" z", num(t, row, "statistic"), z, 1e-9)
		near(c.metric+" p", num(t, row, "p_value"), p, 1e-9)
		near(c.metric+" lift", num(t, row, "lift"), (c.x1/c.n1)/(c.x2/c.n2)-1, 1e-9)
		if row["control_variant"] != "A" || row["is_control"] != false || row["test"] != "z" {
			t.Errorf("%s row: %v", c.metric, row)
		}
		// The lift's interval by the delta method: the control's variance
		// too, not the difference's interval divided by the control rate.
		v, cv := c.x1/c.n1, c.x2/c.n2
		se := math.Sqrt(v*(1-v)/c.n1/(cv*cv) + v*v*cv*(1-cv)/c.n2/(cv*cv*cv*cv))
		lift := v/cv - 1
		near(c.metric+" lift low", num(t, row, "lift_ci_lower"), lift-1.959963984540054*se, 1e-9)
		near(c.metric+" lift high", num(t, row, "lift_ci_upper"), lift+1.959963984540054*se, 1e-9)
	}
	// Every prediction is positive (score 0.9 >= 0.5): precision is the
	// accuracy's share, recall 1 for both variants (no test: no variance).
	z, p := ztest(B.correct, B.cls, A.correct, A.cls)
	prec := get("precision", "B")
	near("precision z", num(t, prec, "statistic"), z, 1e-9)
	near("precision p", num(t, prec, "p_value"), p, 1e-9)
	near("precision", num(t, prec, "value"), B.correct/B.cls, 1e-12)
	rec := get("recall", "B")
	if num(t, rec, "value") != 1 || rec["p_value"] != nil {
		t.Errorf("recall row: %v", rec)
	}

	// The variants' full metrics are in performance_metrics.
	pm := e.rows(`SELECT slice_value, prediction_count, error_count, "precision", labeled_count FROM performance_metrics FINAL
		WHERE granularity = '1h' AND model_version = '*' AND slice_key = '__ab__/exp' AND window_start = '%s' ORDER BY slice_value`, chTime(h))
	if len(pm) != 2 {
		t.Fatalf("performance_metrics A/B rows: %v", pm)
	}
	for i, s := range []*stat{A, B} {
		if num(t, pm[i], "prediction_count") != s.n || num(t, pm[i], "error_count") != s.errs {
			t.Errorf("performance_metrics %v: want %v predictions, %v errors", pm[i], s.n, s.errs)
		}
		near(fmt.Sprint(pm[i]["slice_value"], " precision"), num(t, pm[i], "precision"), s.correct/s.cls, 1e-12)
	}

	// Welch's t statistic of the latencies, variant minus control.
	mean := func(s *stat) float64 { return s.lat / s.n }
	vr := func(s *stat) float64 { return (s.lat2 - s.lat*s.lat/s.n) / (s.n - 1) }
	tw := (mean(B) - mean(A)) / math.Sqrt(vr(B)/B.n+vr(A)/A.n)
	row := get("latency_avg_ms", "B")
	near("welch t", num(t, row, "statistic"), tw, 1e-6)
	near("latency value", num(t, row, "value"), mean(B), 1e-9)
	if p := num(t, row, "p_value"); p > 1e-6 || row["significant"] != true {
		t.Errorf("latency: p %v significant %v", p, row["significant"])
	}
	// The same test by the engine's welchTTest on the raw rows (control
	// minus variant): statistic, p-value and the lift's interval.
	ch := e.rows(`SELECT tupleElement(w, 1) AS t, tupleElement(w, 2) AS p, tupleElement(w, 3) AS lo, tupleElement(w, 4) AS hi
		FROM (SELECT welchTTest(0.95)(latency_ms, toUInt8(variant = 'B')) AS w FROM prediction_logs WHERE experiment_id = 'exp')`)[0]
	near("welch t vs welchTTest", num(t, row, "statistic"), -num(t, ch, "t"), 1e-6)
	near("welch p vs welchTTest", num(t, row, "p_value"), num(t, ch, "p"), 1e-6)
	// The lift's interval: the delta method with welchTTest's quantile
	// (its interval is the difference ± q·se).
	q := (num(t, ch, "hi") - num(t, ch, "lo")) / 2 / math.Sqrt(vr(B)/B.n+vr(A)/A.n)
	mA, mB := mean(A), mean(B)
	seLift := math.Sqrt(vr(B)/B.n/(mA*mA) + mB*mB*vr(A)/A.n/(mA*mA*mA*mA))
	near("welch lift low", num(t, row, "lift_ci_lower"), mB/mA-1-q*seLift, 1e-6)
	near("welch lift high", num(t, row, "lift_ci_upper"), mB/mA-1+q*seLift, 1e-6)
	// Sample ratio mismatch against the default equal split: 1 df chi-squared.
	tot := A.n + B.n
	x := (A.n-tot/2)*(A.n-tot/2)/(tot/2) + (B.n-tot/2)*(B.n-tot/2)/(tot/2)
	near("srm p", num(t, row, "srm_p_value"), math.Erfc(math.Sqrt(x/2)), 1e-9)
	ctl := get("error_rate", "A")
	if ctl["is_control"] != true || ctl["lift"] != nil || num(t, ctl, "prediction_count") != A.n {
		t.Errorf("control row: %v", ctl)
	}

	// The cumulative verdict covers the experiment's whole history, here
	// the same hour: the same counts, z-tests and SRM as the 1h window, and
	// Welch's test from the rolled-up sums agrees with welchTTest on the
	// raw rows (statistic, p-value and interval).
	cum := e.rows(`SELECT * FROM ab_results FINAL WHERE experiment_id = 'exp' AND granularity = 'cumulative' ORDER BY variant, metric`)
	if len(cum) != 2*len(abMetrics) {
		t.Fatalf("cumulative: %d rows, want %d", len(cum), 2*len(abMetrics))
	}
	first := e.rows(`SELECT toString(min(event_time)) AS f, toString(max(event_time)) AS l FROM prediction_logs`)[0]
	for _, c := range cum {
		what := fmt.Sprintf("cumulative %s %s", c["variant"], c["metric"])
		if ws, _ := c["window_start"].(string); ws != chTime(floorTo(parseCH(t, first["f"].(string)), time.Minute)) {
			t.Errorf("%s: window_start %v, want the first prediction's minute (%v)", what, ws, first["f"])
		}
		if we, _ := c["window_end"].(string); we != chTime(floorTo(parseCH(t, first["l"].(string)), time.Minute).Add(time.Minute)) {
			t.Errorf("%s: window_end %v, want the end of the last prediction's minute (%v)", what, we, first["l"])
		}
		if c["final"] != false {
			t.Errorf("%s: final", what)
		}
		h1 := get(c["metric"].(string), c["variant"].(string))
		for _, col := range []string{"prediction_count", "srm_p_value", "value", "control_value", "statistic", "p_value", "lift", "lift_ci_lower", "lift_ci_upper"} {
			if (h1[col] == nil) != (c[col] == nil) {
				t.Errorf("%s %s: %v, 1h window %v", what, col, c[col], h1[col])
				continue
			}
			if h1[col] != nil {
				near(what+" "+col, num(t, c, col), num(t, h1, col), 1e-6)
			}
		}
	}
}

// TestABConstantLatency: an experiment whose latencies have no variance
// (a producer that sends latency_ms 0) has no latency test, and the cycle
// computes everything else (welchTTest throws on such samples, which used
// to fail every cycle for every model).
func TestABConstantLatency(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	var preds []events.PredictionLog
	for i := range 4 {
		preds = append(preds, events.PredictionLog{RequestID: fmt.Sprint("r", i), ModelID: "m", ModelVersion: "v",
			EventTime: ms(h.Add(time.Duration(i) * time.Minute)), ExperimentID: "exp", Variant: []string{"A", "B"}[i%2],
			Status: events.StatusOK, Score: 0.9, HasScore: true, Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
	}
	e.insertPredictions(preds)
	a := e.aggregator(e.config())
	if _, err := a.RunOnce(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"1h", "cumulative"} {
		rows := e.rows(`SELECT p_value, value FROM ab_results FINAL WHERE experiment_id = 'exp' AND granularity = '%s'
			AND metric = 'latency_avg_ms' AND variant = 'B'`, g)
		if len(rows) != 1 || rows[0]["p_value"] != nil || num(t, rows[0], "value") != 0 {
			t.Errorf("%s latency row: %v, want value 0 and no test", g, rows)
		}
	}
	if n := e.rows(`SELECT count() AS n FROM performance_metrics FINAL WHERE granularity = '1h' AND model_version = '*' AND slice_key = ''`); num(t, n[0], "n") != 1 {
		t.Errorf("performance rows: %v", n)
	}
}

// parseCH reads a ClickHouse DateTime64 text value.
func parseCH(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse("2006-01-02 15:04:05.000", s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestABMulticlass: for a multiclass model, accuracy per variant is the
// share of labelled predictions whose predicted label equals the true one
// (rolled up from the performance states' class counts), and the z-test
// compares those shares.
func TestABMulticlass(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	e.insertModel("mc", "a", events.ProblemMulticlass, 0, "")
	e.insertModel("mc", "b", events.ProblemMulticlass, 0, "")
	r := rand.New(rand.NewPCG(5, 6))
	classes := []string{"x", "y", "z"}
	type stat struct{ n, cls, correct float64 }
	st := map[string]*stat{"A": {}, "B": {}}
	var preds []events.PredictionLog
	var outs []events.Outcome
	for i := range 3000 {
		v, accP := "A", 0.6
		if r.IntN(2) == 0 {
			v, accP = "B", 0.7
		}
		s := st[v]
		s.n++
		truth := classes[r.IntN(3)]
		pred := truth
		if r.Float64() >= accP {
			pred = classes[(slices.Index(classes, truth)+1+r.IntN(2))%3]
		}
		p := events.PredictionLog{RequestID: fmt.Sprint("q", i), ModelID: "mc", ModelVersion: map[string]string{"A": "a", "B": "b"}[v],
			EventTime: ms(h.Add(time.Duration(r.Int64N(int64(time.Hour))))), ExperimentID: "mcexp", Variant: v,
			Label: pred, LatencyMs: 10, Status: events.StatusOK,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		preds = append(preds, p)
		if r.Float64() < 0.8 {
			s.cls++
			if pred == truth {
				s.correct++
			}
			outs = append(outs, events.Outcome{RequestID: p.RequestID, ModelID: "mc", EventTime: p.EventTime + 30000, Label: truth, HasLabel: true,
				Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
		}
	}
	e.insertPredictions(preds)
	e.insertOutcomes(outs)
	a := e.aggregator(e.config())
	if _, err := a.RunOnce(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	rows := e.rows(`SELECT * FROM ab_results FINAL WHERE experiment_id = 'mcexp' AND granularity = '1h' AND window_start = '%s'
		AND metric = 'accuracy' AND variant = 'B'`, chTime(h))
	if len(rows) != 1 {
		t.Fatalf("accuracy B: %d rows", len(rows))
	}
	A, B := st["A"], st["B"]
	p1, p2, pp := B.correct/B.cls, A.correct/A.cls, (B.correct+A.correct)/(B.cls+A.cls)
	z := (p1 - p2) / math.Sqrt(pp*(1-pp)*(1/B.cls+1/A.cls))
	for _, c := range []struct {
		col  string
		want float64
	}{{"value", p1}, {"control_value", p2}, {"statistic", z}, {"p_value", math.Erfc(math.Abs(z) / math.Sqrt2)}, {"prediction_count", B.n}} {
		if got := num(t, rows[0], c.col); math.Abs(got-c.want) > 1e-9*math.Max(1, math.Abs(c.want)) {
			t.Errorf("%s = %v, want %v", c.col, got, c.want)
		}
	}
}

// TestABDeadArm: without a split, an arm that stops receiving traffic
// fails the sample-ratio test of the windows after it (it passed with
// p = 1 as an experiment of one variant), an arm that starts later is not
// expected before it, and the windows where both arms served pass.
func TestABDeadArm(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	e.insertModel("m", "a", events.ProblemBinary, 0.5, "1")
	var preds []events.PredictionLog
	// Minutes 0-9: A and B alternate; 10-19: A only (B died); C joins
	// at minute 5, alternating with A and B until 10, then with A.
	for minute := range 20 {
		variants := []string{"A", "B"}
		switch {
		case minute >= 10:
			variants = []string{"A", "C"}
		case minute >= 5:
			variants = []string{"A", "B", "C"}
		}
		for i := range 300 {
			v := variants[i%len(variants)]
			preds = append(preds, abPrediction(fmt.Sprint("r", minute, "-", i),
				h.Add(time.Duration(minute)*time.Minute+time.Duration(i)*100*time.Millisecond), v, now.Add(-time.Minute)))
		}
	}
	e.insertPredictions(preds)
	a := e.aggregator(e.config())
	if _, err := a.RunOnce(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	srm := func(minute int) (p float64, variants []string) {
		t.Helper()
		rows := e.rows(`SELECT variant, srm_p_value FROM ab_results FINAL WHERE experiment_id = 'exp' AND granularity = '1m'
			AND window_start = '%s' AND metric = 'error_rate' ORDER BY variant`, chTime(h.Add(time.Duration(minute)*time.Minute)))
		if len(rows) == 0 {
			t.Fatalf("minute %d: no rows", minute)
		}
		for _, r := range rows {
			variants = append(variants, r["variant"].(string))
		}
		return num(t, rows[0], "srm_p_value"), variants
	}
	tests := []struct {
		minute   int
		variants []string
		mismatch bool
	}{
		{2, []string{"A", "B"}, false},      // C starts later: not expected yet
		{7, []string{"A", "B", "C"}, false}, // all three serve
		{12, []string{"A", "C"}, true},      // B served minutes ago and gets nothing
		{19, []string{"A", "C"}, true},
	}
	for _, tt := range tests {
		p, vs := srm(tt.minute)
		if !slices.Equal(vs, tt.variants) {
			t.Errorf("minute %d: variants %v, want %v", tt.minute, vs, tt.variants)
		}
		if got := p < 1e-6; got != tt.mismatch {
			t.Errorf("minute %d: srm p = %v, want mismatch %v", tt.minute, p, tt.mismatch)
		}
	}
	// The hour saw all three arms; B's share is short of a third, so the
	// hour fails too, as does the cumulative verdict.
	rows := e.rows(`SELECT granularity, any(srm_p_value) AS p FROM ab_results FINAL WHERE experiment_id = 'exp'
		AND granularity IN ('1h', 'cumulative') AND metric = 'error_rate' GROUP BY granularity ORDER BY granularity`)
	if len(rows) != 2 {
		t.Fatalf("hour and cumulative rows: %v", rows)
	}
	for _, r := range rows {
		if p := num(t, r, "p"); p > 1e-6 {
			t.Errorf("%s srm p = %v, want a mismatch", r["granularity"], p)
		}
	}
}

// TestABCumulativeStartMoves: predictions that arrive late for a minute
// before the experiment's first move its cumulative window's start; the
// verdict computed before is deleted, so ab_results FINAL holds one
// cumulative row per variant and metric (it kept both: window_start is in
// the table's key, and a dashboard summing them counted the experiment
// twice).
func TestABCumulativeStartMoves(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	batch := func(from, to int, ingest time.Time) {
		var preds []events.PredictionLog
		for minute := from; minute < to; minute++ {
			for i := range 10 {
				preds = append(preds, abPrediction(fmt.Sprint("r", minute, "-", i),
					h.Add(time.Duration(minute)*time.Minute+time.Duration(i)*time.Second), []string{"A", "B"}[i%2], ingest))
			}
		}
		e.insertPredictions(preds)
	}
	a := e.aggregator(e.config())
	cumulative := func(want time.Time, wantN float64) {
		t.Helper()
		rows := e.rows(`SELECT window_start, count() AS n, sum(prediction_count) AS predictions FROM ab_results FINAL
			WHERE experiment_id = 'exp' AND granularity = 'cumulative' GROUP BY window_start`)
		if len(rows) != 1 {
			t.Fatalf("cumulative verdicts: %v, want one window", rows)
		}
		if rows[0]["window_start"] != chTime(want) || num(t, rows[0], "n") != float64(2*len(abMetrics)) ||
			num(t, rows[0], "predictions") != wantN*float64(len(abMetrics)) {
			t.Errorf("cumulative verdict: %v, want start %v, %d rows, %v predictions per metric", rows[0], chTime(want), 2*len(abMetrics), wantN)
		}
	}
	batch(10, 20, now.Add(-time.Minute))
	if _, err := a.RunOnce(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	cumulative(h.Add(10*time.Minute), 100)
	batch(5, 6, now.Add(time.Minute))
	if _, err := a.RunOnce(context.Background(), now.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	cumulative(h.Add(5*time.Minute), 110)
}

// TestABDeadArmHours: hour 0 serves A alone, hour 1 A and B, hour 2 A
// alone again. B is not expected before it started, and its death fails
// hour 2's test whatever order the aggregator reads the hours in (the
// arms' read once covered a single hour picked by map order: hour 2
// passed in 6 of 8 runs).
func TestABDeadArmHours(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-4*time.Hour), time.Hour)
	var preds []events.PredictionLog
	for hour := range 3 {
		variants := []string{"A"}
		if hour == 1 {
			variants = []string{"A", "B"}
		}
		for i := range 600 {
			preds = append(preds, abPrediction(fmt.Sprint("r", hour, "-", i),
				h.Add(time.Duration(hour)*time.Hour+time.Duration(i)*6*time.Second), variants[i%len(variants)], now.Add(-time.Minute)))
		}
	}
	e.insertPredictions(preds)
	if _, err := e.aggregator(e.config()).RunOnce(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	for hour, mismatch := range []bool{false, false, true} {
		rows := e.rows(`SELECT srm_p_value FROM ab_results FINAL WHERE experiment_id = 'exp' AND granularity = '1h'
			AND window_start = '%s' AND metric = 'error_rate' AND variant = 'A'`, chTime(h.Add(time.Duration(hour)*time.Hour)))
		if len(rows) != 1 {
			t.Fatalf("hour %d: %v", hour, rows)
		}
		if p := num(t, rows[0], "srm_p_value"); (p < 1e-6) != mismatch {
			t.Errorf("hour %d: srm p = %v, want mismatch %v", hour, p, mismatch)
		}
	}
}

// abPrediction is a successful prediction of model m (version a) at at in
// variant of experiment exp, ingested at ingest.
func abPrediction(id string, at time.Time, variant string, ingest time.Time) events.PredictionLog {
	return events.PredictionLog{RequestID: id, ModelID: "m", ModelVersion: "a", EventTime: ms(at), ExperimentID: "exp", Variant: variant,
		LatencyMs: 10, Status: events.StatusOK, Score: 0.9, HasScore: true, Provenance: events.Provenance{IngestTime: ms(ingest)}}
}
