package aggregate

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestQuantileSketches: perf_rollup reads a window's quantiles from the
// DDSketches when all its states have them (within 1 % of the exact
// quantiles, also merged over an hour), else from the t-digests every
// state holds: states from before migration 0031 have nothing else, and
// an hour whose minutes mix old and new states takes its quantiles from
// all their t-digests.
func TestQuantileSketches(t *testing.T) {
	e := newEnv(t)
	h := floorTo(time.Now().UTC(), time.Hour).Add(-48 * time.Hour)
	// One minute of 100 predictions, latency lat ms and label delay lat s
	// for lat = from, from+1, ..., from+99: old (t-digests) or new
	// (t-digests and DDSketches in microseconds and milliseconds, as
	// perf_states writes them).
	state := func(ws time.Time, from int, dd bool) {
		q := `'tdigest', quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(lat), quantilesTDigestState(0.5, 0.95)(lat),
			quantilesDDStateIf(0.01, 0.5, 0.9, 0.95, 0.99)(lat, 0), quantilesDDStateIf(0.01, 0.5, 0.95)(lat, 0)`
		if dd {
			q = `'ddsketch', quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(lat), quantilesTDigestState(0.5, 0.95)(lat),
				quantilesDDState(0.01, 0.5, 0.9, 0.95, 0.99)(lat * 1000), quantilesDDState(0.01, 0.5, 0.95)(lat * 1000)`
		}
		e.st.Exec(t, e.db, fmt.Sprintf(`INSERT INTO performance_window_states (model_id, model_version, slice_key, slice_value,
			window_start, base_seconds, problem_type, decision_threshold, prediction_count, ok_count, labeled_count,
			label_delay_sum, latency_sum, latency_max, quantile_sketch, latency_q, label_delay_q, latency_dd, label_delay_dd,
			computed_at)
			SELECT 'q', 'v1', '', '', '%s', 60, 'binary', 0.5, 100, 100, 100, sum(lat), sum(lat), max(lat), %s, now64(3, 'UTC')
			FROM (SELECT toFloat64(%d + number) AS lat FROM numbers(100))`, chTime(ws), q, from))
	}
	mixed, pure := h, h.Add(time.Hour)
	state(mixed, 1, false)
	state(mixed.Add(time.Minute), 101, true)
	state(pure, 1, true)
	state(pure.Add(time.Minute), 101, true)

	a := e.aggregator(e.config())
	ctx := context.Background()
	wins := func(starts ...time.Time) []window {
		var out []window
		for _, s := range starts {
			out = append(out, window{start: s, reason: reasonBackfill})
		}
		return out
	}
	if err := a.computeOutputs(ctx, a.grans[0], wins(mixed, mixed.Add(time.Minute), pure, pure.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := a.computeOutputs(ctx, a.grans[1], wins(mixed, pure)); err != nil {
		t.Fatal(err)
	}
	row := func(g string, ws time.Time) map[string]any {
		t.Helper()
		got := e.rows(`SELECT * FROM performance_metrics FINAL WHERE model_id = 'q' AND model_version = 'v1' AND slice_key = ''
			AND granularity = '%s' AND window_start = '%s'`, g, chTime(ws))
		if len(got) != 1 {
			t.Fatalf("%s %v: %d rows", g, ws, len(got))
		}
		return got[0]
	}
	// exact is the value at rank floor(q * (n - 1)) of from, ..., from+n-1.
	exact := func(from, n int, q float64) float64 { return float64(from) + math.Floor(q*float64(n-1)) }
	// Label delays are the same numbers, in seconds.
	quantiles := []struct {
		col string
		q   float64
	}{{"latency_p50_ms", 0.5}, {"latency_p90_ms", 0.9}, {"latency_p95_ms", 0.95}, {"latency_p99_ms", 0.99},
		{"label_delay_p50_s", 0.5}, {"label_delay_p95_s", 0.95}}
	tests := []struct {
		name      string
		row       map[string]any
		from, n   int
		tolerance float64 // relative
	}{
		{"t-digest minute", row("1m", mixed), 1, 100, 0.02},
		{"DDSketch minute", row("1m", mixed.Add(time.Minute)), 101, 100, 0.01},
		{"DDSketch hour", row("1h", pure), 1, 200, 0.01},
		{"mixed hour (t-digests)", row("1h", mixed), 1, 200, 0.02},
	}
	for _, tt := range tests {
		for _, q := range quantiles {
			v := tt.row[q.col]
			want := exact(tt.from, tt.n, q.q)
			if v == nil {
				t.Errorf("%s: %s NULL, want %v", tt.name, q.col, want)
				continue
			}
			if got := num(t, tt.row, q.col); math.Abs(got-want) > tt.tolerance*want*(1+1e-9) {
				t.Errorf("%s: %s = %v, want %v within %v", tt.name, q.col, got, want, tt.tolerance)
			}
		}
	}
}

// TestQuantileEdges: through perf_states, latencies of 0 and under 1 µs
// (counted as 0) and negative label delays (outcomes sent before their
// prediction's event time) keep the quantiles within 1 % of the exact
// ones: p50 of latency 0, p50 of label delay -20 s.
func TestQuantileEdges(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	w := floorTo(now.Add(-2*time.Hour), time.Minute)
	var preds []events.PredictionLog
	var outs []events.Outcome
	var lats, delays []float64
	for i := range 101 {
		lat := max(float64(i-54)/10, 0) // 55 zeros, then 0.1, ..., 4.6 ms
		if i == 1 {
			lat = 0.0004 // under 1 µs: counted as 0
		}
		at := w.Add(time.Duration(i) * 100 * time.Millisecond)
		delay := time.Duration(i-70) * time.Second // -70 s ... 30 s
		p := events.PredictionLog{RequestID: fmt.Sprintf("r%d", i), ModelID: "edge", ModelVersion: "v1", EventTime: ms(at),
			Score: 0.5, HasScore: true, LatencyMs: lat, Status: events.StatusOK,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		preds = append(preds, p)
		outs = append(outs, events.Outcome{RequestID: p.RequestID, ModelID: "edge", EventTime: ms(at.Add(delay)), Label: "1", HasLabel: true,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
		lats = append(lats, map[bool]float64{true: 0, false: lat}[lat < 0.001])
		delays = append(delays, delay.Seconds())
	}
	e.insertPredictions(preds)
	e.insertOutcomes(outs)
	cycle(t, e.aggregator(e.config()))
	got := e.rows(`SELECT * FROM performance_metrics FINAL WHERE model_id = 'edge' AND model_version = 'v1' AND granularity = '1m'
		AND slice_key = '' AND window_start = '%s'`, chTime(w))
	if len(got) != 1 {
		t.Fatalf("%d rows", len(got))
	}
	checkTruth(t, "edge/v1 1m", got[0], quantileTruth(lats, delays))
}

// TestTDigestsWhenNeeded: perf_states fills the t-digests only while a
// state without sketches (from before migration 0031) shares a window of
// the coarsest granularity (a day) with the windows it computes, so that
// the day's rollup, which then reads every state's t-digests, has them
// all; elsewhere they stay empty (the sketches serve).
func TestTDigestsWhenNeeded(t *testing.T) {
	e := newEnv(t)
	day := floorTo(time.Now().UTC(), 24*time.Hour).Add(-3 * 24 * time.Hour)
	alone, withOld := day.Add(2*time.Hour), day.Add(24*time.Hour+2*time.Hour)
	// A state written before 0031 in the second day, an hour before.
	e.st.Exec(t, e.db, fmt.Sprintf(`INSERT INTO performance_window_states (model_id, model_version, slice_key, slice_value,
		window_start, base_seconds, problem_type, decision_threshold, prediction_count, ok_count, latency_sum, latency_max,
		quantile_sketch, latency_q, computed_at)
		SELECT 'old', 'v1', '', '', '%s', 60, 'binary', 0.5, 100, 100, sum(lat), max(lat), 'tdigest',
		       quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(lat), now64(3, 'UTC')
		FROM (SELECT toFloat64(number) AS lat FROM numbers(100))`, chTime(withOld.Add(-time.Hour))))
	var preds []events.PredictionLog
	for _, w := range []time.Time{alone, withOld} {
		for i := range 50 {
			preds = append(preds, events.PredictionLog{RequestID: fmt.Sprint(w.Unix(), "-", i), ModelID: "m", ModelVersion: "v1",
				EventTime: ms(w.Add(time.Duration(i) * time.Second)), Status: events.StatusOK, LatencyMs: float64(i + 1),
				Provenance: events.Provenance{IngestTime: ms(time.Now())}})
		}
	}
	e.insertPredictions(preds)
	e.computeBase(alone, withOld)
	for _, tt := range []struct {
		w      time.Time
		filled bool
	}{{alone, false}, {withOld, true}} {
		got := e.rows(`SELECT isNaN(quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_q)[1]) AS empty, quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(latency_dd)[1] AS dd_p50
			FROM performance_window_states WHERE model_id = 'm' AND slice_key = '' AND window_start = '%s'`, chTime(tt.w))
		if len(got) != 1 {
			t.Fatalf("%v: %v", tt.w, got)
		}
		if empty := num(t, got[0], "empty") == 1; empty == tt.filled {
			t.Errorf("%v: t-digest empty %v, want filled %v", tt.w, empty, tt.filled)
		}
		if p50 := num(t, got[0], "dd_p50"); math.Abs(p50-25000) > 0.02*25000 {
			t.Errorf("%v: sketch p50 %v us, want about 25000", tt.w, p50)
		}
	}
}
