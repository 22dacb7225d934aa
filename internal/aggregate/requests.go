package aggregate

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Late outcomes name a request id, not a time: to find the windows they
// touch, a cycle looks them up in prediction_requests (migration 0021),
// which it fills with the predictions each cycle finds newly ingested. The
// index starts with the predictions watermark of the first cycle that
// filled it (watermark index.requests); predictions ingested before it are
// scanned for until they are final. On a cluster (RequestScan) the index,
// node-local, is neither filled nor read: every cycle scans.

// outcomesQuery returns the dirty_outcomes variant for this cycle and its
// parameters beyond the shared ones, and sets the index.requests watermark
// in newMarks. until is the cycle's ingest bound, notBefore the start of
// the oldest window that is not final.
func (a *Aggregator) outcomesQuery(marks, newMarks map[string]time.Time, until, notBefore time.Time) (string, clickhouse.Parameters) {
	if a.cfg.RequestScan {
		return "dirty_outcomes_scan", nil
	}
	// Never lowered (a lower value would leave the predictions ingested in
	// between in neither the index nor the scan): a watermark ahead of
	// until, e.g. a clock behind, stays as it is.
	from, ok := marks[markIndexedRequests]
	if !ok {
		from, ok = marks[markIngestPredictions]
	}
	if !ok {
		from = until
	}
	newMarks[markIndexedRequests] = from
	if from.Before(notBefore) {
		return "dirty_outcomes", nil
	}
	return "dirty_outcomes_fallback", clickhouse.Parameters{"indexed_from": chTime64(from)}
}

// indexRequests adds the predictions ingested in (since, until] of params
// to prediction_requests, before the outcomes are looked up: an outcome
// ingested with its prediction finds it.
func (a *Aggregator) indexRequests(ctx context.Context, params clickhouse.Parameters) error {
	if a.cfg.RequestScan {
		return nil
	}
	return a.exec(ctx, "requests_index", clickhouse.Parameters{"since": params["since"], "until": params["until"]})
}

// indexRange adds the predictions of event time [from, to) to
// prediction_requests (aggregator backfill), those of windows that are not
// final only: outcomes for the others no longer count.
func (a *Aggregator) indexRange(ctx context.Context, from, to, now time.Time) error {
	_, final := a.cfg.bounds(a.grans[0].d, now)
	if from = later(from, final); a.cfg.RequestScan || !from.Before(to) {
		return nil
	}
	return a.exec(ctx, "requests_index_range", clickhouse.Parameters{"from": chTime64(from), "to": chTime64(to)})
}
