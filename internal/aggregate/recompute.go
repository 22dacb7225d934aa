package aggregate

import (
	"context"
	"maps"
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
//     next cycle reads the same records again;
//   - "<mark>.before" holds the oldest window recomputed: the next cycle asks
//     for older ones only, so it makes progress even if some window stayed
//     dirty after its recomputation;
//   - "<mark>.seen" holds this cycle's ingest bound: records ingested after
//     it start again from the newest window, since they may dirty windows
//     already done.
//
// Windows that become final meanwhile keep what they were computed with, as
// final windows always do.

// noCursor is the "before" bound of a query that is not resuming: after
// any window.
var noCursor = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// unsetMark is how a cursor mark is cleared (aggregator_watermarks keeps
// the latest value of a name).
var unsetMark = time.Unix(0, 0).UTC()

// dirtySource is a gated dirty query: gate counts the source's records
// ingested in (since, until], query lists the windows they dirty.
type dirtySource struct {
	name, mark, query, gate string
}

// referenceDirty returns the windows of src this cycle recomputes and sets
// src's marks in newMarks. p holds the cycle's parameters with since
// already src's watermark.
func (a *Aggregator) referenceDirty(ctx context.Context, src dirtySource, marks, newMarks map[string]time.Time, p clickhouse.Parameters, until time.Time) ([]time.Time, error) {
	cursorMark, seenMark := src.mark+markCursorSuffix, src.mark+markSeenSuffix
	before := marks[cursorMark]
	resuming := before.After(unsetMark)
	gate := p
	if resuming {
		gate = clickhouse.Parameters{"since": chTime64(marks[seenMark]), "until": p["until"]}
	}
	n, err := a.queryCount(ctx, src.gate, gate)
	if err != nil {
		return nil, err
	}
	switch {
	case n > 0:
		before = noCursor
	case !resuming:
		newMarks[src.mark] = until
		return nil, nil
	}
	q := maps.Clone(p)
	q["before"] = chTime64(before)
	ws, err := a.queryTimes(ctx, src.query, q)
	if err != nil {
		return nil, err
	}
	limit := max(int(a.cfg.RecomputePerCycle/a.grans[0].d), 1)
	backlog := max(len(ws)-limit, 0)
	a.m.backlog.WithLabelValues(src.name).Set(float64(backlog))
	if backlog == 0 {
		newMarks[src.mark] = until
		if resuming {
			newMarks[cursorMark], newMarks[seenMark] = unsetMark, unsetMark
		}
		return ws, nil
	}
	// ws is in window order: keep the newest.
	ws = ws[backlog:]
	newMarks[src.mark], newMarks[cursorMark], newMarks[seenMark] = marks[src.mark], ws[0], until
	a.log.Info("recomputing the newest dirty windows; the older ones in the next cycles",
		zap.String("source", src.name), zap.Int("windows", len(ws)), zap.Int("left", backlog), zap.Time("oldest", ws[0]))
	return ws, nil
}
