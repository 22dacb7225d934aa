package aggregate

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"
)

// Predictions that arrive after their window's label horizon (a producer
// replaying old logs, a pipeline stuck for days) land in final windows,
// which no cycle recomputes: they are stored, and listed among a model's
// recent predictions, but counted in no window's metrics until `aggregator
// backfill` recomputes their range. Without a count they would be missed
// silently, as late outcomes are not (outcomes_routed_total). The count
// reads the ingest-time index of every partition the table keeps, where
// dirty_predictions reads the horizon's: hence every pastHorizonEvery
// rather than every cycle, from a watermark of its own.
const pastHorizonEvery = 10 * time.Minute

// countPastHorizon counts the predictions ingested since the last count
// whose windows were final when they arrived, once pastHorizonEvery has
// passed since it, and returns what reports them: the cycle calls it once
// its watermarks are stored, so that a cycle that fails after the count
// does not have the next one count and warn of the same predictions again.
// Best effort: a failed count is warned about and tried again by the next
// cycle, which fails on nothing else for it.
func (a *Aggregator) countPastHorizon(ctx context.Context, marks, newMarks map[string]time.Time, until, notBefore time.Time) (report func()) {
	since, ok := marks[markPastHorizon]
	switch {
	case !ok: // first cycle (or an older release's watermarks): from now on
		newMarks[markPastHorizon] = until
		return func() {}
	case until.Sub(since) < a.pastHorizonEvery || !until.After(since):
		return func() {}
	}
	n, first, last, err := a.pastHorizon(ctx, since, until, notBefore)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("count predictions past the label horizon (tried again next cycle)", zap.Error(err))
		}
		return func() {}
	}
	newMarks[markPastHorizon] = until
	return func() {
		if n == 0 {
			return
		}
		a.m.pastHorizon.Add(float64(n))
		a.log.Warn("predictions arrived after their windows' label horizon: stored, but counted in no window; `aggregator backfill --from … --to …` over their event times counts them",
			zap.Uint64("predictions", n), zap.Time("event_time_first", first), zap.Time("event_time_last", last),
			zap.Duration("label_horizon", a.cfg.LabelHorizon), zap.Time("ingested_after", since), zap.Time("ingested_until", until))
	}
}

func (a *Aggregator) pastHorizon(ctx context.Context, since, until, notBefore time.Time) (n uint64, first, last time.Time, err error) {
	rows, err := a.query(ctx, "predictions_past_horizon", clickhouse.Parameters{
		"since": chTime64(since), "until": chTime64(until), "not_before": chTime64(notBefore),
		"shift_ms":     fmt.Sprint((a.cfg.IngestDelay - a.cfg.LabelHorizon).Milliseconds()),
		"base_seconds": fmt.Sprint(a.grans[0].secs),
	})
	if err != nil {
		return 0, first, last, err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&n, &first, &last); err != nil {
			return 0, first, last, fmt.Errorf("predictions_past_horizon: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, first, last, fmt.Errorf("predictions_past_horizon: %w", err)
	}
	return n, first.UTC(), last.UTC(), nil
}
