package aggregate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/predlog/predlog/pkg/events"
)

// TestLateOutcomes computes two minutes of predictions without labels, then
// ingests outcomes for the first minute only: the next cycle recomputes
// that minute (and its hour and day) and leaves the other minute alone.
func TestLateOutcomes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	h := floorTo(now.Add(-2*time.Hour), time.Hour)
	w1, w2 := h.Add(10*time.Minute), h.Add(20*time.Minute)
	e.insertModel("m", "v1", events.ProblemBinary, 0.5, "1")
	var preds []events.PredictionLog
	var outs []events.Outcome
	for i := range 40 {
		w := w1
		if i%2 == 1 {
			w = w2
		}
		p := events.PredictionLog{RequestID: fmt.Sprintf("r%d", i), ModelID: "m", ModelVersion: "v1",
			EventTime: ms(w.Add(time.Duration(i) * time.Second)), Score: float64(i) / 40, HasScore: true,
			LatencyMs: 10, Status: events.StatusOK,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		preds = append(preds, p)
		if w == w1 {
			outs = append(outs, events.Outcome{RequestID: p.RequestID, ModelID: "m", EventTime: ms(now.Add(-time.Minute)),
				Label: fmt.Sprint(i % 4 / 2), HasLabel: true})
		}
	}
	e.insertPredictions(preds)
	a := e.aggregator(e.config())
	if _, err := a.RunOnce(ctx, now); err != nil {
		t.Fatal(err)
	}
	computed := func() map[string]string {
		out := map[string]string{}
		for _, r := range e.rows(`SELECT granularity, toString(window_start) AS ws, toString(computed_at) AS at FROM aggregator_windows FINAL`) {
			out[r["granularity"].(string)+" "+r["ws"].(string)] = r["at"].(string)
		}
		return out
	}
	labeled := func(g string, w time.Time) float64 {
		rows := e.rows(`SELECT labeled_count FROM performance_metrics FINAL WHERE model_id = 'm' AND model_version = 'v1'
			AND granularity = '%s' AND slice_key = '' AND window_start = '%s'`, g, chTime(w))
		if len(rows) != 1 {
			t.Fatalf("%s %v: %d rows", g, w, len(rows))
		}
		return num(t, rows[0], "labeled_count")
	}
	// driftAt is the generation of a base window's drift states.
	driftAt := func(w time.Time) string {
		rows := e.rows(`SELECT toString(max(computed_at)) AS at FROM drift_window_states WHERE window_start = '%s'`, chTime(w))
		return rows[0]["at"].(string)
	}
	before := computed()
	drift1 := driftAt(w1)
	k1, k2, kh := "1m "+chTime(w1), "1m "+chTime(w2), "1h "+chTime(h)
	for _, k := range []string{k1, k2, kh} {
		if before[k] == "" {
			t.Fatalf("window %s not computed by the first cycle: %v", k, before)
		}
	}
	if labeled("1m", w1) != 0 || labeled("1h", h) != 0 {
		t.Fatal("labels before any outcome")
	}

	// Outcomes for w1 arrive; the next cycle (a second later) picks them up.
	for i := range outs {
		outs[i].Provenance.IngestTime = ms(time.Now())
	}
	e.insertOutcomes(outs)
	time.Sleep(10 * time.Millisecond) // ingest_time strictly before the cycle's scan bound
	rep, err := a.RunOnce(ctx, time.Now().UTC().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if rep.DirtyBaseWindows != 1 || rep.Windows["1m"]["late"] != 1 {
		t.Errorf("report %+v: want one dirty base window recomputed as late", rep)
	}
	after := computed()
	if labeled("1m", w1) != 20 || labeled("1h", h) != 20 {
		t.Errorf("labeled after late outcomes: 1m %v, 1h %v; want 20", labeled("1m", w1), labeled("1h", h))
	}
	if labeled("1m", w2) != 0 {
		t.Errorf("w2 labeled %v", labeled("1m", w2))
	}
	if after[k1] <= before[k1] || after[kh] <= before[kh] {
		t.Errorf("touched windows not recomputed: 1m %s -> %s, 1h %s -> %s", before[k1], after[k1], before[kh], after[kh])
	}
	if at := driftAt(w1); at != drift1 {
		t.Errorf("drift states of %v recomputed for labels alone: %s -> %s", w1, drift1, at)
	}
	if after[k2] != before[k2] {
		t.Errorf("untouched window %s recomputed: %s -> %s", k2, before[k2], after[k2])
	}
	for k, v := range before {
		if k != k1 && k != kh && k[:2] != "1d" && after[k] != v {
			t.Errorf("window %s recomputed: %s -> %s", k, v, after[k])
		}
	}

	// A third cycle with nothing new recomputes nothing.
	rep, err = a.RunOnce(ctx, time.Now().UTC().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if rep.DirtyBaseWindows != 0 || rep.Windows["1m"]["late"] != 0 {
		t.Errorf("idle cycle: %+v", rep)
	}
	// A late prediction for w2: its drift states are recomputed.
	drift2 := driftAt(w2)
	late := preds[1]
	late.RequestID = "late"
	// (ingested after the last cycle's scan bound, now + 1 s)
	late.Provenance.IngestTime = ms(time.Now().Add(2 * time.Second))
	e.insertPredictions([]events.PredictionLog{late})
	if _, err := a.RunOnce(ctx, time.Now().UTC().Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if at := driftAt(w2); at <= drift2 {
		t.Errorf("drift states of %v not recomputed for a late prediction: %s -> %s", w2, drift2, at)
	}

	// A baseline for the score arrives, then outcomes for w2 alone: w2's
	// fine score histogram is out of date, so its drift states are
	// recomputed (binned with the baseline) although only labels arrived;
	// w1, untouched, keeps its states.
	e.insertBaseline("m", "v1", now.Add(-time.Hour), uniformBins("__score__", []float64{0.5}))
	drift1, drift2 = driftAt(w1), driftAt(w2)
	out2 := events.Outcome{RequestID: preds[1].RequestID, ModelID: "m", EventTime: ms(now), Label: "1", HasLabel: true,
		Provenance: events.Provenance{IngestTime: ms(time.Now().Add(4 * time.Second))}}
	e.insertOutcomes([]events.Outcome{out2})
	if _, err := a.RunOnce(ctx, time.Now().UTC().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if at := driftAt(w2); at <= drift2 {
		t.Errorf("drift states of %v not recomputed although its score histogram predates the baseline: %s -> %s", w2, drift2, at)
	}
	if kinds := e.rows(`SELECT toString(kind) AS k FROM drift_window_states FINAL WHERE window_start = '%s' AND feature = '__score__'
			AND computed_at = (SELECT max(computed_at) FROM drift_window_states WHERE window_start = '%s')`, chTime(w2), chTime(w2)); len(kinds) != 1 || kinds[0]["k"] != "bins" {
		t.Errorf("w2 score states %v, want one bins histogram", kinds)
	}
	if at := driftAt(w1); at != drift1 {
		t.Errorf("drift states of untouched %v recomputed: %s -> %s", w1, drift1, at)
	}

	// Reruns keep one row per key.
	if n := e.rows(`SELECT count() AS n FROM performance_metrics FINAL WHERE granularity = '1m' AND window_start = '%s' AND model_version = 'v1'`, chTime(w1)); num(t, n[0], "n") != 1 {
		t.Errorf("%v rows for one key", n)
	}
}

// TestLateOutcomesRequestIndex: predictions ingested after the aggregator
// started are indexed in prediction_requests as cycles see them, and the
// outcomes that arrive for them later find their windows there (the scan
// of older predictions cannot: their ingest time is past the index's
// start), both while that scan still runs (the first label horizon after
// the index started) and after; with RequestScan (clusters) the scan finds
// the same windows.
func TestLateOutcomesRequestIndex(t *testing.T) {
	for _, tt := range []struct {
		name      string
		scan, old bool // old: the index started a horizon ago
	}{{"index and fallback", false, false}, {"index", false, true}, {"scan", true, false}} {
		scan := tt.scan
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			h := floorTo(time.Now().UTC().Add(-2*time.Hour), time.Hour)
			w1, w2 := h.Add(10*time.Minute), h.Add(20*time.Minute)
			e.insertModel("m", "v1", events.ProblemBinary, 0.5, "1")
			if tt.old {
				e.st.Exec(t, e.db, fmt.Sprintf(`INSERT INTO aggregator_watermarks (name, value, updated_at) VALUES ('index.requests', '%s', now64(3))`,
					chTime(time.Now().UTC().Add(-30*24*time.Hour))))
			}
			cfg := e.config()
			cfg.RequestScan = scan
			reg := prometheus.NewRegistry()
			a, err := New(cfg, e.st.Conn(t, e.db), nil, reg)
			if err != nil {
				t.Fatal(err)
			}
			// A prediction ingested before the index started: only the
			// scan (the fallback while it is not final) finds it.
			pre := events.PredictionLog{RequestID: "pre", ModelID: "m", ModelVersion: "v1", EventTime: ms(w1),
				Score: 0.9, HasScore: true, LatencyMs: 10, Status: events.StatusOK,
				Provenance: events.Provenance{IngestTime: ms(time.Now().Add(-time.Minute))}}
			if !tt.old {
				e.insertPredictions([]events.PredictionLog{pre})
			}
			cycle(t, a) // sets the watermarks: the index starts here

			var preds []events.PredictionLog
			for i := range 20 {
				w := []time.Time{w1, w2}[i%2]
				preds = append(preds, events.PredictionLog{RequestID: fmt.Sprintf("r%d", i), ModelID: "m", ModelVersion: "v1",
					EventTime: ms(w.Add(time.Duration(i) * time.Second)), Score: 0.9, HasScore: true, LatencyMs: 10,
					Status: events.StatusOK, Provenance: events.Provenance{IngestTime: ms(time.Now())}})
			}
			e.insertPredictions(preds)
			if rep := cycle(t, a); rep.DirtyBaseWindows != 2 {
				t.Fatalf("late predictions: %d dirty windows, want 2", rep.DirtyBaseWindows)
			}
			indexed := num(t, e.rows(`SELECT count() AS n FROM prediction_requests`)[0], "n")
			if want := map[bool]float64{false: 20, true: 0}[scan]; indexed != want {
				t.Errorf("prediction_requests holds %v keys, want %v", indexed, want)
			}

			// Outcomes for three predictions of w2 and the one from before
			// the index (w1).
			var outs []events.Outcome
			for _, id := range []string{"r1", "r3", "r5", "pre"} {
				outs = append(outs, events.Outcome{RequestID: id, ModelID: "m", EventTime: ms(time.Now()),
					Label: "1", HasLabel: true, Provenance: events.Provenance{IngestTime: ms(time.Now())}})
			}
			// An outcome of another model with the same request id, and
			// one without any prediction: neither touches a window.
			outs = append(outs,
				events.Outcome{RequestID: "r0", ModelID: "other", EventTime: ms(time.Now()), Label: "1", HasLabel: true,
					Provenance: events.Provenance{IngestTime: ms(time.Now())}},
				events.Outcome{RequestID: "nope", ModelID: "m", EventTime: ms(time.Now()), Label: "1", HasLabel: true,
					Provenance: events.Provenance{IngestTime: ms(time.Now())}})
			e.insertOutcomes(outs)
			rep := cycle(t, a)
			// w2 from the index; w1 from the scan of the prediction from
			// before it (the scan also matches r0 by request id alone,
			// which is in w1 too); the index alone finds w2 only.
			wantDirty := map[bool]int{false: 2, true: 1}[tt.old]
			if rep.DirtyBaseWindows != wantDirty {
				t.Errorf("late outcomes: %d dirty windows, want %d", rep.DirtyBaseWindows, wantDirty)
			}
			if !tt.old {
				rows := e.rows(`SELECT labeled_count FROM performance_metrics FINAL WHERE model_id = 'm' AND model_version = 'v1'
					AND granularity = '1m' AND slice_key = '' AND window_start = '%s'`, chTime(w1))
				if len(rows) != 1 || num(t, rows[0], "labeled_count") != 1 {
					t.Errorf("w1 after the outcome of its prediction from before the index: %v, want 1 labeled", rows)
				}
			}
			rows := e.rows(`SELECT labeled_count FROM performance_metrics FINAL WHERE model_id = 'm' AND model_version = 'v1'
				AND granularity = '1m' AND slice_key = '' AND window_start = '%s'`, chTime(w2))
			if len(rows) != 1 || num(t, rows[0], "labeled_count") != 3 {
				t.Errorf("w2 after its outcomes: %v, want 3 labeled", rows)
			}
			want := map[string]string{"index and fallback": "dirty_outcomes_fallback", "index": "dirty_outcomes", "scan": "dirty_outcomes_scan"}[tt.name]
			for name, v := range querySums(t, reg) {
				if strings.HasPrefix(name, "dirty_outcomes") && (v[1] > 0) != (name == want) {
					t.Errorf("%s ran %v times; want only %s", name, v[1], want)
				}
			}
		})
	}
}
