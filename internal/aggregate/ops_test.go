package aggregate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRunReadyBackfill: Ready passes on a migrated database, Run cycles until
// its context ends and returns nil, Backfill marks old windows final, and the
// cycle metrics are registered.
func TestRunReadyBackfill(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	cfg := e.config()
	cfg.Interval = 50 * time.Millisecond
	a, err := New(cfg, e.st.Conn(t, e.db), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	deadline := time.Now().Add(time.Minute)
	for testutil.ToFloat64(a.m.cycles.WithLabelValues("ok")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no two cycles within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	n, err := testutil.GatherAndCount(reg, "predlog_aggregator_cycles_total", "predlog_aggregator_windows_computed_total")
	if err != nil || n == 0 {
		t.Errorf("metrics: %d series, %v", n, err)
	}

	// Backfill an old range: windows older than the horizon are final.
	now := time.Now().UTC()
	preds := genDataset(2, floorTo(now.Add(-30*time.Hour), time.Hour), now).preds[:50]
	e.insertPredictions(preds)
	minutes, days := map[time.Time]bool{}, map[time.Time]bool{}
	for _, p := range preds {
		minutes[floorTo(time.UnixMilli(p.EventTime), time.Minute)] = true
		days[floorTo(time.UnixMilli(p.EventTime), 24*time.Hour)] = true
	}
	rep, err := a.Backfill(context.Background(), now.Add(-31*time.Hour), now.Add(-29*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Only windows with predictions: their minutes, their hour (of the
	// three that [-31h, -29h) overlaps), their day; the rest are counted
	// as empty.
	if rep.Windows["1m"] != len(minutes) || rep.Windows["1h"] != 1 || rep.Windows["1d"] != len(days) || rep.NotClosed != 0 {
		t.Errorf("backfill report windows %v, not closed %d; want %d, 1, %d, 0", rep.Windows, rep.NotClosed, len(minutes), len(days))
	}
	if rep.Empty < 3*60-len(minutes)+2 {
		t.Errorf("backfill report: %d empty windows, want at least the other minutes of three hours and two hours", rep.Empty)
	}
	if n := rep.DriftPairs["numeric/raw"]; n == 0 || n != rep.DriftPairs["categorical/raw"] {
		t.Errorf("backfill report drift pairs %v, want the same number of raw numeric and categorical pairs (no views)", rep.DriftPairs)
	}
	rows := e.rows(`SELECT granularity, countIf(final) AS f, count() AS n FROM performance_metrics FINAL WHERE model_version = '*' AND slice_key = '' GROUP BY granularity ORDER BY granularity`)
	var got []string
	for _, r := range rows {
		got = append(got, r["granularity"].(string))
		if r["granularity"] != "1d" && num(t, r, "f") != num(t, r, "n") {
			t.Errorf("%s: %v of %v rows final", r["granularity"], r["f"], r["n"])
		}
	}
	if strings.Join(got, ",") != "1d,1h,1m" {
		t.Errorf("granularities %v", got)
	}
}
