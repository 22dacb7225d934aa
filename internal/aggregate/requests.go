package aggregate

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Late outcomes name a request id, not a time: to find the windows they
// touch, and to read a window's outcomes without reading every outcome
// since, a cycle looks the new outcomes up in prediction_requests
// (migration 0021), which it fills with the predictions each cycle finds
// newly ingested, and copies them to window_outcomes (0022) under their
// prediction's event time (outcomes_route); an outcome that arrived before
// its prediction waits (a day at most) in pending_outcomes for the cycle
// that indexes the prediction (outcomes_resolve). The index starts with the predictions
// watermark of the first cycle that filled it (watermark index.requests);
// predictions ingested before it are scanned for until they are final.
// The copies start with the outcomes watermark of the first cycle that made
// them (index.outcomes); windows that may have outcomes from before it
// join outcomes itself (routedFrom). On a cluster (RequestScan) neither
// table exists: every cycle scans, and every window joins outcomes.

// routeMargin: an outcome counts for a window when its event time is at
// most an hour before the window (perf_states.sql); another hour allows
// for producer clocks ahead of the ingester's, so that every outcome of a
// window starting routeMargin after index.outcomes was ingested after it.
const routeMargin = 2 * time.Hour

// outcomesQuery returns the dirty_outcomes variant for this cycle and its
// parameters beyond the shared ones, and sets the index.requests and
// index.outcomes watermarks in newMarks. until is the cycle's ingest bound,
// notBefore the start of the oldest window that is not final, routedAt the
// routed_at of the rows outcomes_route copies this cycle.
func (a *Aggregator) outcomesQuery(marks, newMarks map[string]time.Time, until, notBefore, routedAt time.Time) (string, clickhouse.Parameters) {
	if a.cfg.RequestScan {
		return "dirty_outcomes_scan", nil
	}
	// Never lowered (a lower value would leave the rows ingested in
	// between in neither table nor the scan): a watermark ahead of until,
	// e.g. a clock behind, stays as it is.
	start := func(mark, ingest string) time.Time {
		from, ok := marks[mark]
		if !ok {
			from, ok = marks[ingest]
		}
		if !ok {
			from = until
		}
		newMarks[mark] = from
		return from
	}
	start(markRoutedOutcomes, markIngestOutcomes)
	from := start(markIndexedRequests, markIngestPredictions)
	params := clickhouse.Parameters{"routed_at": chTime64(routedAt)}
	if from.Before(notBefore) {
		return "dirty_outcomes", params
	}
	params["indexed_from"] = chTime64(from)
	return "dirty_outcomes_fallback", params
}

// routedFrom returns the start of the first base window whose outcomes all
// went through outcomes_route, as of marks; zero when none did (a
// cluster, or before the first cycle).
func (a *Aggregator) routedFrom(marks map[string]time.Time) time.Time {
	routed, ok := marks[markRoutedOutcomes]
	if a.cfg.RequestScan || !ok {
		return time.Time{}
	}
	return later(routed, marks[markIndexedRequests]).Add(routeMargin)
}

// indexRequests adds the predictions ingested in (since, until] of params
// to prediction_requests and resolves the pending outcomes they label,
// before the new outcomes are routed: an outcome ingested with its
// prediction finds it.
func (a *Aggregator) indexRequests(ctx context.Context, params clickhouse.Parameters, routedAt time.Time) error {
	if a.cfg.RequestScan {
		return nil
	}
	p := clickhouse.Parameters{"since": params["since"], "until": params["until"]}
	if err := a.exec(ctx, "requests_index", p); err != nil {
		return err
	}
	// Its rows go through routed_outcomes' views too, unchecked here: the
	// same cycle's routeOutcomes checks them, and a cycle failing there
	// writes no watermark, so the next one resolves the same predictions
	// again (what waits in pending_outcomes stays there meanwhile).
	p["routed_at"], p["horizon_seconds"] = chTime64(routedAt), a.horizonSeconds()
	return a.exec(ctx, "outcomes_resolve", p)
}

// checkRouting fails, naming query, while a view of routed_outcomes is
// missing: an insert into it succeeds without one and its outcomes go
// nowhere (the watermark moves past them), so the cycle fails instead
// until the view is back; a few ms a cycle.
func (a *Aggregator) checkRouting(ctx context.Context, query string) error {
	if err := a.checkTables(ctx, routingViews); err != nil {
		return fmt.Errorf("%s: %w", query, err)
	}
	return nil
}

// routeOutcomes copies the outcomes ingested in (since, until] of params
// to window_outcomes and returns what it copied, left pending and found
// past the horizon, for the cycle to count in outcomes_routed_total once
// its watermarks are stored: a cycle that fails after routing leaves the
// ingest watermark where it was, and the next one routes the same outcomes
// again (window_outcomes keeps one copy).
func (a *Aggregator) routeOutcomes(ctx context.Context, params clickhouse.Parameters, routedAt time.Time) (routedCounts, error) {
	if a.cfg.RequestScan {
		return routedCounts{}, nil
	}
	if err := a.checkRouting(ctx, "outcomes_route"); err != nil {
		return routedCounts{}, err
	}
	err := a.exec(ctx, "outcomes_route", clickhouse.Parameters{
		"since": params["since"], "until": params["until"], "routed_at": chTime64(routedAt), "horizon_seconds": a.horizonSeconds()})
	if err != nil {
		return routedCounts{}, err
	}
	return a.countRouted(ctx, routedAt, params["not_before"])
}

// routedCounts is what one routing sent where (outcomes_routed_total).
type routedCounts struct{ matched, pending, late uint64 }

func (c routedCounts) addTo(m *metrics) {
	m.routed.WithLabelValues("matched").Add(float64(c.matched))
	m.routed.WithLabelValues("pending").Add(float64(c.pending))
	m.routed.WithLabelValues("past_horizon").Add(float64(c.late))
}

// countRouted reads what was routed at routedAt to windows from notBefore
// on.
func (a *Aggregator) countRouted(ctx context.Context, routedAt time.Time, notBefore string) (routedCounts, error) {
	var c routedCounts
	rows, err := a.query(ctx, "outcomes_routed", clickhouse.Parameters{"routed_at": chTime64(routedAt), "not_before": notBefore})
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&c.matched, &c.pending, &c.late); err != nil {
			return routedCounts{}, fmt.Errorf("outcomes_routed: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return routedCounts{}, fmt.Errorf("outcomes_routed: %w", err)
	}
	return c, nil
}

// indexRange adds the predictions of event time [from, to) to
// prediction_requests and resolves their pending outcomes (aggregator
// backfill), those of windows that are not final only: outcomes for the
// others no longer count. What it resolves is counted as a cycle's routing
// is (it leaves nothing pending: pending counts nothing routed at now).
func (a *Aggregator) indexRange(ctx context.Context, from, to, now time.Time) error {
	_, final := a.cfg.bounds(a.grans[0].d, now)
	if from = later(from, final); a.cfg.RequestScan || !from.Before(to) {
		return nil
	}
	p := clickhouse.Parameters{"from": chTime64(from), "to": chTime64(to)}
	if err := a.exec(ctx, "requests_index_range", p); err != nil {
		return err
	}
	// No later step of a backfill checks the views (see indexRequests).
	if err := a.checkRouting(ctx, "outcomes_resolve_range"); err != nil {
		return err
	}
	p["routed_at"], p["horizon_seconds"] = chTime64(now), a.horizonSeconds()
	if err := a.exec(ctx, "outcomes_resolve_range", p); err != nil {
		return err
	}
	c, err := a.countRouted(ctx, now, chTime64(from))
	if err != nil {
		return err
	}
	c.addTo(a.m)
	return nil
}

// horizonSeconds is the label horizon as a query parameter.
func (a *Aggregator) horizonSeconds() string {
	return fmt.Sprint(int64(a.cfg.LabelHorizon / time.Second))
}
