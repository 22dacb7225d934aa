package aggregate

import (
	"context"
	"slices"
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
// Windows that stay dirty after their recomputation (which should not
// happen) would be recomputed every cycle until they turn final: when the
// windows this process recomputed in its last held cycle, whose marks are
// the stored ones (so that cycle succeeded, and no other aggregator held
// since), are dirty again without a new record, the round ends with a
// warning.
//
// Windows that become final meanwhile are recomputed as final ones are,
// with the current metadata and baselines.

// heldBacklog is what this process's last cycle that left a backlog of a
// source recomputed, and the .seen mark it wrote.
type heldBacklog struct {
	seen time.Time
	done []time.Time
}

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
		delete(a.held, src.name)
		a.m.backlog.WithLabelValues(src.name).Set(0)
		return nil, nil
	}
	ws, err := a.queryTimes(ctx, src.query, p)
	if err != nil {
		return nil, err
	}
	limit := max(int(a.cfg.RecomputePerCycle/a.grans[0].d), 1)
	backlog := max(len(ws)-limit, 0)
	if h, ok := a.held[src.name]; ok && backlog > 0 && n == 0 && h.seen.Equal(marks[seenMark]) && anyOf(h.done, ws) {
		a.log.Warn("windows stay dirty after their recomputation: giving up on the rest of this round", zap.String("source", src.name),
			zap.Int("windows", len(ws)), zap.Time("newest", ws[len(ws)-1]))
		backlog = 0
	}
	a.m.backlog.WithLabelValues(src.name).Set(float64(backlog))
	if backlog == 0 {
		newMarks[src.mark] = until
		delete(a.held, src.name)
		return ws[max(len(ws)-limit, 0):], nil
	}
	// ws is in window order: keep the newest.
	ws = ws[backlog:]
	newMarks[src.mark], newMarks[seenMark] = marks[src.mark], until
	// As stored: the next cycle compares it with the mark read back.
	a.held[src.name] = heldBacklog{seen: until.Truncate(time.Millisecond), done: ws}
	a.log.Info("recomputing the newest dirty windows; the older ones in the next cycles",
		zap.String("source", src.name), zap.Int("windows", len(ws)), zap.Int("left", backlog), zap.Time("oldest", ws[0]))
	return ws, nil
}

// anyOf reports whether any of xs is in sorted.
func anyOf(xs, sorted []time.Time) bool {
	for _, x := range xs {
		if _, ok := slices.BinarySearchFunc(sorted, x, time.Time.Compare); ok {
			return true
		}
	}
	return false
}
