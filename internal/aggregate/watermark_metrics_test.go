package aggregate

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestWatermarkMetrics: nothing before watermarks are known; the stored
// ones until the first success; afterwards the lags follow the clock at
// scrape time, so a stalled aggregator shows a growing lag rather than the
// value of its last cycle.
func TestWatermarkMetrics(t *testing.T) {
	clock := time.Date(2026, 11, 26, 12, 0, 30, 0, time.UTC)
	w := newWatermarkMetrics("predlog", "aggregator", func() time.Time { return clock })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(w)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Fatalf("before any cycle: %d series, %v", n, err)
	}

	// After a restart, the stored watermarks until the first success: the
	// lags grow while that cycle hangs.
	stored := map[string]time.Time{"1m": clock.Add(-time.Hour), "1h": clock.Add(-90 * time.Minute), "1d": {}}
	w.loaded(stored, clock.Add(-time.Hour))
	clock = clock.Add(10 * time.Minute)
	wantLoaded := `
# HELP predlog_aggregator_ingest_watermark_lag_seconds Seconds from the ingest_time up to which late rows were looked for to now (scrape time).
# TYPE predlog_aggregator_ingest_watermark_lag_seconds gauge
predlog_aggregator_ingest_watermark_lag_seconds 4200
# HELP predlog_aggregator_watermark_lag_seconds Seconds from the end of the last closed window computed to now (scrape time), by granularity; grows while cycles fail or hang.
# TYPE predlog_aggregator_watermark_lag_seconds gauge
predlog_aggregator_watermark_lag_seconds{granularity="1h"} 6000
predlog_aggregator_watermark_lag_seconds{granularity="1m"} 4200
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantLoaded),
		"predlog_aggregator_ingest_watermark_lag_seconds", "predlog_aggregator_watermark_lag_seconds", "predlog_aggregator_last_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	clock = clock.Add(-10 * time.Minute)

	w.set(map[string]time.Time{"1m": clock.Add(-90 * time.Second), "1h": clock.Add(-30*time.Minute - 30*time.Second)},
		clock.Add(-30*time.Second))
	w.loaded(stored, clock.Add(-time.Hour)) // the next cycle's read: ignored after a success
	clock = clock.Add(20 * time.Minute)     // no cycle since
	want := `
# HELP predlog_aggregator_ingest_watermark_lag_seconds Seconds from the ingest_time up to which late rows were looked for to now (scrape time).
# TYPE predlog_aggregator_ingest_watermark_lag_seconds gauge
predlog_aggregator_ingest_watermark_lag_seconds 1230
# HELP predlog_aggregator_last_success_timestamp_seconds End of the last successful cycle, Unix seconds.
# TYPE predlog_aggregator_last_success_timestamp_seconds gauge
predlog_aggregator_last_success_timestamp_seconds 1.79569443e+09
# HELP predlog_aggregator_watermark_lag_seconds Seconds from the end of the last closed window computed to now (scrape time), by granularity; grows while cycles fail or hang.
# TYPE predlog_aggregator_watermark_lag_seconds gauge
predlog_aggregator_watermark_lag_seconds{granularity="1h"} 3030
predlog_aggregator_watermark_lag_seconds{granularity="1m"} 1290
# HELP predlog_aggregator_watermark_timestamp_seconds End of the last closed window computed, Unix seconds, by granularity.
# TYPE predlog_aggregator_watermark_timestamp_seconds gauge
predlog_aggregator_watermark_timestamp_seconds{granularity="1h"} 1.7956926e+09
predlog_aggregator_watermark_timestamp_seconds{granularity="1m"} 1.79569434e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestCycleResultsExist: both cycles_total series exist before any cycle,
// so an alert can tell "no success yet" (0) from "no data".
func TestCycleResultsExist(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if _, err := newMetrics(reg, 10); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP predlog_aggregator_cycles_total Aggregation cycles run, by result (ok, error; not those a shutdown cut short).
# TYPE predlog_aggregator_cycles_total counter
predlog_aggregator_cycles_total{result="error"} 0
predlog_aggregator_cycles_total{result="ok"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "predlog_aggregator_cycles_total"); err != nil {
		t.Error(err)
	}
}
