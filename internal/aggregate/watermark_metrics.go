package aggregate

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// watermarkMetrics exports the watermarks of the last successful cycle
// (before the first one, those stored by earlier runs).
// The lags are computed when Prometheus scrapes, so they keep growing while
// cycles fail or hang; gauges set at the end of a cycle would freeze at
// their last value, and measured against the cycle's own start they stay
// near allowed_lateness however far behind the aggregator falls.
type watermarkMetrics struct {
	now func() time.Time

	mu      sync.Mutex
	closed  map[string]time.Time // end of the last closed window computed, by granularity
	ingest  time.Time            // ingest_time up to which late rows were looked for
	success time.Time            // end of the last successful cycle

	lag, ts, ingestLag, lastSuccess *prometheus.Desc
}

func newWatermarkMetrics(ns, sub string, now func() time.Time) *watermarkMetrics {
	name := func(n string) string { return prometheus.BuildFQName(ns, sub, n) }
	return &watermarkMetrics{
		now: now,
		lag: prometheus.NewDesc(name("watermark_lag_seconds"),
			"Seconds from the end of the last closed window computed to now (scrape time), by granularity; grows while cycles fail or hang.",
			[]string{"granularity"}, nil),
		ts: prometheus.NewDesc(name("watermark_timestamp_seconds"),
			"End of the last closed window computed, Unix seconds, by granularity.", []string{"granularity"}, nil),
		ingestLag: prometheus.NewDesc(name("ingest_watermark_lag_seconds"),
			"Seconds from the ingest_time up to which late rows were looked for to now (scrape time).", nil, nil),
		lastSuccess: prometheus.NewDesc(name("last_success_timestamp_seconds"),
			"End of the last successful cycle, Unix seconds.", nil, nil),
	}
}

// loaded records the watermarks that earlier runs stored, read at the
// start of each cycle, until this process's first successful cycle: after
// a restart the lags are then exported, and grow, while that cycle takes
// long or hangs, instead of appearing only once it succeeds.
func (w *watermarkMetrics) loaded(closed map[string]time.Time, ingest time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.success.IsZero() {
		w.closed, w.ingest = closed, ingest
	}
}

// set records a successful cycle's watermarks.
func (w *watermarkMetrics) set(closed map[string]time.Time, ingest time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed, w.ingest, w.success = closed, ingest, w.now()
}

func (w *watermarkMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- w.lag
	ch <- w.ts
	ch <- w.ingestLag
	ch <- w.lastSuccess
}

// Collect emits nothing before watermarks are known (read or set), and the
// last success only once there was one.
func (w *watermarkMetrics) Collect(ch chan<- prometheus.Metric) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	for g, t := range w.closed {
		if t.IsZero() {
			continue // a granularity never closed (e.g. added since)
		}
		ch <- prometheus.MustNewConstMetric(w.lag, prometheus.GaugeValue, now.Sub(t).Seconds(), g)
		ch <- prometheus.MustNewConstMetric(w.ts, prometheus.GaugeValue, unixSeconds(t), g)
	}
	if !w.ingest.IsZero() {
		ch <- prometheus.MustNewConstMetric(w.ingestLag, prometheus.GaugeValue, now.Sub(w.ingest).Seconds())
	}
	if !w.success.IsZero() {
		ch <- prometheus.MustNewConstMetric(w.lastSuccess, prometheus.GaugeValue, unixSeconds(w.success))
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
