package aggregate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/predlog/predlog/pkg/events"
)

// TestLateOutcomesRouted: with window_outcomes started long ago, late
// outcomes reach their windows through it: routed and read back by the
// cycle that ingests them, an outcome that arrives before its prediction
// kept pending until the prediction is indexed, the latest outcome of a
// request winning, an outcome of another model with the same request id
// labelling nothing. The windows then hold exactly what the join of
// outcomes itself (as backfill computes them) gives, metric by metric, and
// so does reading the whole hour as one range of window_outcomes.
func TestLateOutcomesRouted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	w1, w2 := h.Add(10*time.Minute), h.Add(20*time.Minute)
	e.insertModel("m", "v1", events.ProblemBinary, 0.5, "1")
	e.indexedSince(now.Add(-30 * 24 * time.Hour))
	reg := prometheus.NewRegistry()
	a, err := New(e.config(), e.st.Conn(t, e.db), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	outcome := func(id, model, label string, at time.Time) events.Outcome {
		return events.Outcome{RequestID: id, ModelID: model, EventTime: ms(at), Label: label, HasLabel: true,
			Provenance: events.Provenance{IngestTime: ms(time.Now())}}
	}
	labeled := func(w time.Time) (n, tp float64) {
		t.Helper()
		rows := e.rows(`SELECT labeled_count, tp FROM performance_metrics FINAL WHERE model_id = 'm' AND model_version = 'v1'
			AND granularity = '1m' AND slice_key = '' AND window_start = '%s'`, chTime(w))
		if len(rows) != 1 {
			t.Fatalf("%v: %d rows", w, len(rows))
		}
		return num(t, rows[0], "labeled_count"), num(t, rows[0], "tp")
	}
	cycle(t, a) // sets the ingest watermarks

	var preds []events.PredictionLog
	for i := range 20 {
		w := []time.Time{w1, w2}[i%2]
		preds = append(preds, events.PredictionLog{RequestID: fmt.Sprintf("r%d", i), ModelID: "m", ModelVersion: "v1",
			EventTime: ms(w.Add(time.Duration(i) * time.Second)), Score: float64(i) / 20, HasScore: true, LatencyMs: 10,
			Status: events.StatusOK, Provenance: events.Provenance{IngestTime: ms(time.Now())}})
	}
	e.insertPredictions(preds)
	// The outcome of a prediction not ingested yet.
	e.insertOutcomes([]events.Outcome{outcome("early", "m", "1", now)})
	if rep := cycle(t, a); rep.DirtyBaseWindows != 2 {
		t.Fatalf("new predictions: %d dirty windows, want 2", rep.DirtyBaseWindows)
	}
	pending := func() float64 {
		return num(t, e.rows(`SELECT count() AS n FROM pending_outcomes WHERE request_id = 'early'`)[0], "n")
	}
	if n := pending(); n != 1 {
		t.Fatalf("%v pending rows for the outcome that came first, want 1", n)
	}
	counted := func(result string) float64 { return testutil.ToFloat64(a.m.routed.WithLabelValues(result)) }
	if m, p := counted("matched"), counted("pending"); m != 0 || p != 1 {
		t.Errorf("outcomes_routed_total: matched %v, pending %v; want 0, 1", m, p)
	}
	if n, _ := labeled(w1); n != 0 {
		t.Fatalf("w1 labeled %v before its prediction", n)
	}

	// Its prediction (w1) arrives; outcomes for r1, r3, r5 (w2), another
	// model's r0 and one without a prediction arrive with it.
	early := preds[0]
	early.RequestID, early.Score = "early", 0.9
	early.Provenance.IngestTime = ms(time.Now())
	e.insertPredictions([]events.PredictionLog{early})
	e.insertOutcomes([]events.Outcome{outcome("r1", "m", "1", now), outcome("r3", "m", "0", now), outcome("r5", "m", "1", now),
		outcome("r0", "other", "1", now), outcome("nope", "m", "1", now)})
	if rep := cycle(t, a); rep.DirtyBaseWindows != 2 {
		t.Errorf("late prediction and outcomes: %d dirty windows, want 2", rep.DirtyBaseWindows)
	}
	// early (resolved), r1, r3, r5 matched; the other model's r0 and nope wait.
	if m, p := counted("matched"), counted("pending"); m != 4 || p != 3 {
		t.Errorf("outcomes_routed_total: matched %v, pending %v; want 4, 3", m, p)
	}
	if n, tp := labeled(w1); n != 1 || tp != 1 {
		t.Errorf("w1: labeled %v, tp %v; want the pending outcome of its late prediction (1, 1)", n, tp)
	}
	// r1 (score 0.05) and r5 (0.25) are false negatives, r3 a true negative.
	if n, tp := labeled(w2); n != 3 || tp != 0 {
		t.Errorf("w2: labeled %v, tp %v; want 3, 0", n, tp)
	}

	// A later outcome for r3 replaces the first: one more positive, and
	// only w2 is recomputed.
	e.insertOutcomes([]events.Outcome{outcome("r3", "m", "1", now.Add(time.Second))})
	if rep := cycle(t, a); rep.DirtyBaseWindows != 1 {
		t.Errorf("relabelled r3: %d dirty windows, want 1", rep.DirtyBaseWindows)
	}
	rows := e.rows(`SELECT labeled_count, fn, tn FROM performance_metrics FINAL WHERE model_id = 'm' AND model_version = 'v1'
		AND granularity = '1m' AND slice_key = '' AND window_start = '%s'`, chTime(w2))
	if len(rows) != 1 || num(t, rows[0], "labeled_count") != 3 || num(t, rows[0], "fn") != 3 || num(t, rows[0], "tn") != 0 {
		t.Errorf("w2 after r3 relabelled: %v, want 3 labeled, 3 fn, 0 tn", rows)
	}

	for name, v := range querySums(t, reg) {
		if strings.HasPrefix(name, "perf_states") && v[1] > 0 && !strings.Contains(name, "_routed") {
			t.Errorf("%s ran %v times: every window here should read window_outcomes", name, v[1])
		}
	}
	if v := querySums(t, reg)["perf_states_routed"]; v[1] == 0 {
		t.Error("perf_states_routed never ran")
	}

	// The same windows from the join of outcomes itself.
	metrics := func() string {
		return e.st.Exec(t, e.db, `SELECT window_start, prediction_count, labeled_count, tp, fp, tn, fn, precision, recall,
			log_loss, roc_auc, label_delay_p50_s FROM performance_metrics FINAL WHERE granularity = '1m' AND slice_key = ''
			ORDER BY window_start, model_version`)
	}
	routed := metrics()
	e.computeBase(w1, w2)
	if joined := metrics(); joined != routed {
		t.Errorf("window_outcomes and outcomes disagree:\nrouted\n%s\njoined\n%s", routed, joined)
	}
	// And the whole hour read as a range from window_outcomes.
	var hour []window
	for m := range 60 {
		hour = append(hour, window{start: h.Add(time.Duration(m) * time.Minute), reason: reasonBackfill})
	}
	before := querySums(t, reg)["perf_states_routed"][1]
	if err := a.computeStates(ctx, hour, h); err != nil {
		t.Fatal(err)
	}
	if err := a.computeOutputs(ctx, a.grans[0], hour); err != nil {
		t.Fatal(err)
	}
	if n := querySums(t, reg)["perf_states_routed"][1]; n != before+1 {
		t.Errorf("perf_states_routed ran %v times for an hour's range, want once", n-before)
	}
	if ranged := metrics(); ranged != routed {
		t.Errorf("window_outcomes read as a range disagrees:\nranged\n%s\npruned\n%s", ranged, routed)
	}
}

// TestRoutedLabelHorizon: an outcome labels its prediction only within the
// label horizon (6h in the test config). Through window_outcomes a
// correction sent after it is ignored (not routed: it would replace the
// outcome that counts); from outcomes, which keep the latest outcome of a
// request once merged, it leaves the prediction unlabelled.
func TestRoutedLabelHorizon(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if sec := now.Second(); sec >= 45 {
		// The window below turns final when the minute does: start with
		// the next one, so that it stays open through the test's cycles.
		time.Sleep(time.Duration(61-sec) * time.Second)
		now = time.Now().UTC()
	}
	// The window holding now - horizon: not final (it ends after that), the
	// outcomes 10 s past its predictions' horizons at most seconds from now.
	w := floorTo(now.Add(-6*time.Hour), time.Minute)
	e.insertModel("m", "v1", events.ProblemBinary, 0.5, "1")
	long := now.Add(-30 * 24 * time.Hour)
	e.indexedSince(long)
	a := e.aggregator(e.config())
	cycle(t, a) // sets the ingest watermarks

	ingest := events.Provenance{IngestTime: ms(time.Now())}
	var preds []events.PredictionLog
	for _, id := range []string{"in-time", "corrected", "late"} {
		preds = append(preds, events.PredictionLog{RequestID: id, ModelID: "m", ModelVersion: "v1", EventTime: ms(w.Add(time.Second)),
			Score: 0.2, HasScore: true, LatencyMs: 1, Status: events.StatusOK, Provenance: ingest})
	}
	e.insertPredictions(preds)
	out := func(id, label string, at time.Time) events.Outcome { // ingested now: the next cycle's
		return events.Outcome{RequestID: id, ModelID: "m", EventTime: ms(at), Label: label, HasLabel: true,
			Provenance: events.Provenance{IngestTime: ms(time.Now())}}
	}
	labeled := func(what string, want float64) {
		t.Helper()
		rows := e.rows(`SELECT labeled_count, tn FROM performance_metrics FINAL WHERE model_id = 'm' AND model_version = 'v1'
			AND granularity = '1m' AND slice_key = '' AND window_start = '%s'`, chTime(w))
		if len(rows) != 1 {
			t.Fatalf("%s: %d rows for the window", what, len(rows))
		}
		if n, tn := num(t, rows[0], "labeled_count"), num(t, rows[0], "tn"); n != want || tn != want {
			t.Errorf("%s: labeled %v, tn %v; want %v", what, n, tn, want)
		}
	}
	e.insertOutcomes([]events.Outcome{out("in-time", "0", w.Add(time.Hour)), out("corrected", "0", w.Add(time.Hour))})
	cycle(t, a)
	labeled("outcomes within the horizon", 2)

	e.insertOutcomes([]events.Outcome{
		out("corrected", "1", w.Add(6*time.Hour+10*time.Second)), // after the horizon
		out("late", "1", w.Add(6*time.Hour+10*time.Second)),      // after the horizon
	})
	cycle(t, a)
	if n := num(t, e.rows(`SELECT count() AS n FROM window_outcomes WHERE label = '1'`)[0], "n"); n != 0 {
		t.Errorf("%v outcomes past the horizon routed, want none", n)
	}
	for result, want := range map[string]float64{"matched": 2, "past_horizon": 2, "pending": 0} {
		if got := testutil.ToFloat64(a.m.routed.WithLabelValues(result)); got != want {
			t.Errorf("outcomes_routed_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	// Kept where an operator can see them, with their prediction's time.
	late := e.rows(`SELECT request_id, label, pred_time = '%s' AS at_prediction FROM late_outcomes ORDER BY request_id`,
		chTime64(w.Add(time.Second)))
	if len(late) != 2 || late[0]["request_id"] != "corrected" || late[1]["request_id"] != "late" ||
		late[0]["label"] != "1" || num(t, late[0], "at_prediction") != 1 || num(t, late[1], "at_prediction") != 1 {
		t.Errorf("late_outcomes = %v, want corrected and late, label 1, at their prediction's time", late)
	}
	// Recomputed through window_outcomes (as when another outcome of the
	// window arrives): the correction ignored.
	wins := []window{{start: w, reason: reasonBackfill}}
	if err := a.computeStates(ctx, wins, long); err != nil {
		t.Fatal(err)
	}
	if err := a.computeOutputs(ctx, a.grans[0], wins); err != nil {
		t.Fatal(err)
	}
	labeled("through window_outcomes", 2)
	// From outcomes, merged: the correction replaced the outcome that
	// counted, and being late labels nothing.
	e.st.Exec(t, e.db, "OPTIMIZE TABLE outcomes FINAL")
	e.computeBase(w)
	labeled("from outcomes, merged", 1)
}

// indexedSince records that prediction_requests and window_outcomes have
// been filled since at, as if the aggregator had run since then: windows
// after it read their outcomes from window_outcomes.
func (e *env) indexedSince(at time.Time) {
	e.t.Helper()
	e.st.Exec(e.t, e.db, fmt.Sprintf(`INSERT INTO aggregator_watermarks (name, value, updated_at)
		VALUES ('index.requests', '%[1]s', now64(3)), ('index.outcomes', '%[1]s', now64(3))`, chTime(at)))
}

// TestRoutedWithoutMark: an aggregator of a release before migration 0030
// inserts into routed_outcomes without past_horizon (it leaves late
// outcomes out itself): its rows must route as before, to window_outcomes
// or pending_outcomes, none to late_outcomes.
func TestRoutedWithoutMark(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC() // the tables' TTLs drop older rows as they are inserted
	pred, at := chTime64(now.Add(-time.Hour)), chTime64(now)
	e.st.Exec(t, e.db, fmt.Sprintf(`INSERT INTO routed_outcomes (pred_time, model_id, request_id, event_time, label, value, routed_at) VALUES
		('%[1]s', 'm', 'found', '%[2]s', '1', NULL, '%[2]s'),
		('1970-01-01 00:00:00.000', 'm', 'pending', '%[2]s', '1', NULL, '%[2]s')`, pred, at))
	for table, want := range map[string]string{"window_outcomes": "found", "pending_outcomes": "pending", "late_outcomes": ""} {
		var got []string
		for _, r := range e.rows(`SELECT request_id FROM %s ORDER BY request_id`, table) {
			got = append(got, fmt.Sprint(r["request_id"]))
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s holds %v, want %q", table, got, want)
		}
	}
}

// TestPendingPastHorizon: outcomes that arrived before their predictions
// wait in pending_outcomes; once the predictions are indexed, one within
// its prediction's label horizon labels it, and one past it is kept in
// late_outcomes and counted, not dropped unseen.
func TestPendingPastHorizon(t *testing.T) {
	e, a := newRoutingEnv(t)
	// Final only in hours (the label horizon is 6h): the late outcome's
	// time lies ahead, and only its distance from the prediction counts.
	w := floorTo(time.Now().UTC().Add(-time.Hour), time.Minute)

	e.insertHorizonOutcomes(w)
	cycle(t, a)
	wantRouted(t, a, "before the predictions", map[string]float64{"matched": 0, "pending": 2, "past_horizon": 0})

	e.insertHorizonPredictions(w, events.Provenance{IngestTime: ms(time.Now())})
	cycle(t, a)
	wantRouted(t, a, "after the predictions", map[string]float64{"matched": 1, "pending": 2, "past_horizon": 1})
	for table, want := range map[string]string{"window_outcomes": "in-time", "late_outcomes": "late"} {
		var got []string
		for _, r := range e.rows(`SELECT request_id FROM %s WHERE pred_time = '%s' ORDER BY request_id`, table, chTime64(w.Add(time.Second))) {
			got = append(got, fmt.Sprint(r["request_id"]))
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s holds %v at the predictions' time, want %q", table, got, want)
		}
	}
	rows := e.rows(`SELECT labeled_count FROM performance_metrics FINAL WHERE model_id = 'm' AND model_version = 'v1'
		AND granularity = '1m' AND slice_key = '' AND window_start = '%s'`, chTime(w))
	if len(rows) != 1 || num(t, rows[0], "labeled_count") != 1 {
		t.Errorf("window %v: %v, want labeled_count 1", w, rows)
	}
}

// insertHorizonOutcomes inserts two outcomes of model m, ingested now: for
// a label horizon of 6h and a prediction at w+1s, "in-time" within it and
// "late" past it.
func (e *env) insertHorizonOutcomes(w time.Time) {
	ingested := events.Provenance{IngestTime: ms(time.Now())}
	e.insertOutcomes([]events.Outcome{
		{RequestID: "in-time", ModelID: "m", EventTime: ms(w.Add(time.Hour)), Label: "0", HasLabel: true, Provenance: ingested},
		{RequestID: "late", ModelID: "m", EventTime: ms(w.Add(6*time.Hour + 10*time.Second)), Label: "0", HasLabel: true, Provenance: ingested},
	})
}

// insertHorizonPredictions inserts the predictions at w+1s that
// insertHorizonOutcomes' outcomes label, with provenance prov.
func (e *env) insertHorizonPredictions(w time.Time, prov events.Provenance) {
	var preds []events.PredictionLog
	for _, id := range []string{"in-time", "late"} {
		preds = append(preds, events.PredictionLog{RequestID: id, ModelID: "m", ModelVersion: "v1", EventTime: ms(w.Add(time.Second)),
			Score: 0.2, HasScore: true, LatencyMs: 1, Status: events.StatusOK, Provenance: prov})
	}
	e.insertPredictions(preds)
}

// wantRouted checks a's outcomes_routed_total counters.
func wantRouted(t *testing.T, a *Aggregator, what string, want map[string]float64) {
	t.Helper()
	for result, n := range want {
		if got := testutil.ToFloat64(a.m.routed.WithLabelValues(result)); got != n {
			t.Errorf("%s: outcomes_routed_total{result=%q} = %v, want %v", what, result, got, n)
		}
	}
}

// TestBackfillCountsResolved: pending outcomes that a backfill resolves,
// indexing predictions the cycles could not see, are counted in
// outcomes_routed_total as a cycle's are: one matched, one past its
// prediction's label horizon.
func TestBackfillCountsResolved(t *testing.T) {
	e, a := newRoutingEnv(t)
	now := time.Now().UTC()
	w := floorTo(now.Add(-time.Hour), time.Minute) // label horizon 6h: not final

	e.insertHorizonOutcomes(w)
	cycle(t, a)
	wantRouted(t, a, "before the predictions", map[string]float64{"matched": 0, "pending": 2, "past_horizon": 0})

	// Ingested, as far as their ingest time says, before the cycles'
	// watermark: only a backfill indexes them.
	e.insertHorizonPredictions(w, events.Provenance{IngestTime: ms(now.Add(-time.Hour))})
	cycle(t, a)
	wantRouted(t, a, "after a cycle", map[string]float64{"matched": 0, "pending": 2, "past_horizon": 0})
	if _, err := a.Backfill(context.Background(), w, w.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	wantRouted(t, a, "after the backfill", map[string]float64{"matched": 1, "pending": 2, "past_horizon": 1})
}
