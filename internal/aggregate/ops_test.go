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
	e.insertPredictions(genDataset(2, floorTo(now.Add(-30*time.Hour), time.Hour), now).preds[:50])
	rep, err := a.Backfill(context.Background(), now.Add(-31*time.Hour), now.Add(-29*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// 1m windows of the two hours with rows; hours: [-31h, -29h) overlaps 3
	// (floors); the day or days they lie in.
	if rep.Windows["1m"] == 0 || rep.Windows["1h"] != 3 || rep.Windows["1d"] == 0 {
		t.Errorf("backfill report windows %v", rep.Windows)
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
