package aggregate

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"
)

// A models record that changes a version's problem type, threshold or
// positive class, or a baseline that arrives, dirties every window of the
// label horizon that version served in: at high traffic with a long
// horizon, recomputing them all would make one cycle as long as a backfill
// of the horizon, and no window would close meanwhile. So a cycle
// recomputes at most RecomputePerCycle of them, the newest first (what
// dashboards and alerts show), and leaves the rest to the next cycles:
//
//   - the source's watermark stays where the change was found, so that the
//     next cycles read the same records, and any newer ones, again, and
//     find the windows still dirty (a recomputed window is not: it has the
//     current metadata or baseline);
//   - "<mark>.seen" holds the ingest bound of the last cycle that left some:
//     while it is ahead of the watermark, cycles resume without the gate.
//
// aggregator_watermarks keeps the largest value of a name, so both only
// grow: the watermark reaches the ingest bound once the backlog is done.
// A backlog that does not shrink between two cycles without new records
// (windows that stay dirty after their recomputation, which should not
// happen) ends the round with a warning rather than recomputing the same
// windows for ever.
//
// Windows that become final meanwhile are recomputed as final ones are,
// with the current metadata and baselines.

// dirtySource is a gated dirty query: gate counts the source's records
// ingested in (since, until], query lists the windows they dirty.
type dirtySource struct {
	name, mark, query, gate string
}

// referenceDirty returns the windows of src this cycle recomputes and sets
// src's marks in newMarks. p holds the cycle's parameters with since
// already src's watermark.
func (a *Aggregator) referenceDirty(ctx context.Context, src dirtySource, marks, newMarks map[string]time.Time, p clickhouse.Parameters, until time.Time) ([]time.Time, error) {
	seenMark := src.mark + markSeenSuffix
	resuming := marks[seenMark].After(marks[src.mark])
	gate := p
	if resuming {
		// Records since the last cycle: the backlog may grow.
		gate = clickhouse.Parameters{"since": chTime64(marks[seenMark]), "until": p["until"]}
	}
	n, err := a.queryCount(ctx, src.gate, gate)
	if err != nil {
		return nil, err
	}
	if n == 0 && !resuming {
		newMarks[src.mark] = until
		return nil, nil
	}
	ws, err := a.queryTimes(ctx, src.query, p)
	if err != nil {
		return nil, err
	}
	limit := max(int(a.cfg.RecomputePerCycle/a.grans[0].d), 1)
	backlog := max(len(ws)-limit, 0)
	last, had := a.backlogs[src.name]
	a.backlogs[src.name] = backlog
	a.m.backlog.WithLabelValues(src.name).Set(float64(backlog))
	if backlog > 0 && resuming && n == 0 && had && backlog >= last {
		a.log.Warn("windows stay dirty after their recomputation: giving up on them", zap.String("source", src.name),
			zap.Int("windows", len(ws)), zap.Time("newest", ws[len(ws)-1]))
		backlog = 0
		a.backlogs[src.name] = 0
		a.m.backlog.WithLabelValues(src.name).Set(0)
	}
	if backlog == 0 {
		newMarks[src.mark] = until
		return ws[max(len(ws)-limit, 0):], nil
	}
	// ws is in window order: keep the newest.
	ws = ws[backlog:]
	newMarks[src.mark], newMarks[seenMark] = marks[src.mark], until
	a.log.Info("recomputing the newest dirty windows; the older ones in the next cycles",
		zap.String("source", src.name), zap.Int("windows", len(ws)), zap.Int("left", backlog), zap.Time("oldest", ws[0]))
	return ws, nil
}
