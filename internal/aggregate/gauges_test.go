package aggregate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestQualityGauges: precision, recall and F1 come from the latest window
// with metrics.min_labeled labels (the newest, barely labelled one would
// swing), F1 is macro F1 for a multiclass model, latency from the latest
// window; a model without such a window has no quality gauge.
func TestQualityGauges(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now, time.Hour)
	ins := func(model string, ws time.Time, labeled int, prec, rec, f1, macro string, p99 float64) {
		e.st.Exec(t, e.db, fmt.Sprintf(`INSERT INTO performance_metrics
			(model_id, model_version, granularity, window_start, window_end, slice_key, slice_value, prediction_count, labeled_count,
			 precision, recall, f1, macro_f1, latency_p99_ms, computed_at)
			VALUES ('%s', '*', '1h', '%s', '%s', '', '', %d, %d, %s, %s, %s, %s, %v, now64(3))`,
			model, chTime(ws), chTime(ws.Add(time.Hour)), 1000+labeled+map[string]int{"busy": 100000, "gone": 500000}[model], labeled, prec, rec, f1, macro, p99))
	}
	ins("bin", h.Add(-3*time.Hour), 900, "0.7", "0.6", "0.65", "NULL", 90)
	ins("bin", h.Add(-2*time.Hour), 500, "0.9", "0.7", "0.8", "NULL", 100)
	ins("bin", h.Add(-1*time.Hour), 5, "0.1", "0.3", "0.2", "NULL", 300)
	ins("multi", h.Add(-1*time.Hour), 200, "NULL", "NULL", "NULL", "0.6", 50)
	ins("fresh", h.Add(-1*time.Hour), 3, "1", "1", "1", "NULL", 20)
	ins("busy", h.Add(-1*time.Hour), 0, "NULL", "NULL", "NULL", "NULL", 10)
	ins("gone", h.Add(-5*time.Hour), 0, "NULL", "NULL", "NULL", "NULL", 10) // busier still, but stopped serving
	e.st.Exec(t, e.db, fmt.Sprintf(`INSERT INTO performance_metrics
		(model_id, model_version, granularity, window_start, window_end, slice_key, slice_value, prediction_count, labeled_count,
		 mae, rmse, latency_p99_ms, computed_at)
		VALUES ('reg', '*', '1h', '%s', '%s', '', '', 1200, 200, 1.5, 2.5, 40, now64(3)),
		       ('reg', '*', '1h', '%s', '%s', '', '', 1100, 20, 9, 9, 40, now64(3))`,
		chTime(h.Add(-2*time.Hour)), chTime(h.Add(-time.Hour)), chTime(h.Add(-time.Hour)), h))

	// Drift of bin's latest window: the PSI of a feature with too few
	// values (below drift.min_samples) is not the model's largest.
	e.st.Exec(t, e.db, fmt.Sprintf(`INSERT INTO drift_metrics
		(model_id, model_version, granularity, window_start, window_end, feature, sample_count, null_rate, psi, flagged, computed_at)
		VALUES ('bin', 'v1', '1h', '%[1]s', '%[2]s', 'sparse', 1000, 0.99, 0.9, false, now64(3)),
		       ('bin', 'v1', '1h', '%[1]s', '%[2]s', 'dense', 1000, 0, 0.15, false, now64(3)),
		       ('bin', 'v1', '1h', '%[1]s', '%[2]s', 'shifted', 1000, 0.5, 0.3, true, now64(3))`,
		chTime(h.Add(-time.Hour)), chTime(h)))

	cfg := e.config()
	cfg.GaugeMinLabeled = 100
	cfg.MinSamples = 100
	a := e.aggregator(cfg)
	if err := a.refreshGauges(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	// The cap keeps the busiest models (latest window's predictions).
	capped := cfg
	capped.LabelCap = 1
	ac := e.aggregator(capped)
	if err := ac.refreshGauges(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(ac.m.latencyP99); n != 1 || testutil.ToFloat64(ac.m.latencyP99.WithLabelValues("busy")) != 0.01 {
		t.Errorf("cap 1: %d latency series, want only the busiest model's", n)
	}
	if d := testutil.ToFloat64(ac.m.dropped); d != 5 {
		t.Errorf("dropped = %v, want 5", d)
	}

	// Before the lookups below, which would create series: bin and multi only.
	if n := testutil.CollectAndCount(a.m.f1); n != 2 {
		t.Errorf("%d F1 series, want 2 (fresh has no window with %d labels)", n, cfg.GaugeMinLabeled)
	}
	for _, tt := range []struct {
		what string
		got  float64
		want float64
	}{
		{"bin precision", testutil.ToFloat64(a.m.precision.WithLabelValues("bin")), 0.9},
		{"bin recall", testutil.ToFloat64(a.m.recall.WithLabelValues("bin")), 0.7},
		{"bin f1", testutil.ToFloat64(a.m.f1.WithLabelValues("bin")), 0.8},
		{"bin p99 (latest window)", testutil.ToFloat64(a.m.latencyP99.WithLabelValues("bin")), 0.3},
		{"multi f1 = macro f1", testutil.ToFloat64(a.m.f1.WithLabelValues("multi")), 0.6},
		{"fresh p99", testutil.ToFloat64(a.m.latencyP99.WithLabelValues("fresh")), 0.02},
		{"reg mae (window with enough labels)", testutil.ToFloat64(a.m.mae.WithLabelValues("reg")), 1.5},
		{"reg rmse", testutil.ToFloat64(a.m.rmse.WithLabelValues("reg")), 2.5},
		{"bin max PSI (of features with enough values)", testutil.ToFloat64(a.m.maxPSI.WithLabelValues("bin")), 0.3},
		{"bin drifted features", testutil.ToFloat64(a.m.drifted.WithLabelValues("bin")), 1},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.what, tt.got, tt.want)
		}
	}

	// A feature drift.models ignores for bin is not its largest PSI.
	ignoring := cfg
	ignoring.DriftModels = map[string]DriftModel{"bin": {Ignore: map[string]bool{"shifted": true}}, "other": {Ignore: map[string]bool{"dense": true}}}
	ai := e.aggregator(ignoring)
	if err := ai.refreshGauges(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(ai.m.maxPSI.WithLabelValues("bin")); got != 0.15 {
		t.Errorf("bin max PSI with shifted ignored = %v, want 0.15", got)
	}

	// A refresh that no longer has a model deletes its series and keeps
	// the others (no Reset: a scrape in between would see no value).
	a.m.labelCap = 2 // busy and multi: the busiest of the latest windows
	if err := a.refreshGauges(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(a.m.latencyP99); n != 2 {
		t.Errorf("cap 2: %d latency series, want 2", n)
	}
	if n := testutil.CollectAndCount(a.m.mae); n != 0 {
		t.Errorf("cap 2: %d MAE series, want none (reg is not among the two)", n)
	}
}
