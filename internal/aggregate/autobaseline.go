package aggregate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"
)

// Without a baseline, a version's drift compares each window with the one
// before it: a sudden shift shows, a slow one never does. With
// drift.auto_baseline, a cycle freezes the first AutoBaseline of a
// version's serving as its baseline once that window has closed, as
// `aggregator baseline` would (source reference_window), and the next
// cycles recompute the version's windows against it (dirty_baselines,
// RecomputePerCycle at a time). A baseline sent as a message, or frozen by
// hand, before that is kept: only versions without any baseline row are
// candidates (baseline_candidates.sql).

// autoBaselinesPerCycle bounds the freezes of one cycle: each reads the
// window's rows of its version.
const autoBaselinesPerCycle = 1

// autoBaselines freezes the baselines drift.auto_baseline asks for, as of
// now, oldest first, autoBaselinesPerCycle at most. Versions without an ok
// prediction in their window are remembered and not tried again by this
// process (nor counted).
func (a *Aggregator) autoBaselines(ctx context.Context, now time.Time) error {
	if a.cfg.AutoBaseline <= 0 {
		return nil
	}
	rows, err := a.query(ctx, "baseline_candidates", clickhouse.Parameters{
		"span_seconds": fmt.Sprint(int64(a.cfg.AutoBaseline / time.Second)),
		"closed":       chTime64(now.Add(-a.cfg.AllowedLateness)),
		"recent":       chTime64(now.Add(-a.cfg.LabelHorizon)),
		"limit":        fmt.Sprint(autoBaselinesPerCycle + len(a.noBaseline) + 10),
	})
	if err != nil {
		return err
	}
	type candidate struct {
		model, version string
		first          time.Time
	}
	var todo []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.model, &c.version, &c.first); err != nil {
			rows.Close()
			return fmt.Errorf("baseline_candidates: %w", err)
		}
		if !a.noBaseline[c.model+"\x00"+c.version] {
			todo = append(todo, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("baseline_candidates: %w", err)
	}
	frozen := 0
	for _, c := range todo {
		if frozen == autoBaselinesPerCycle {
			break
		}
		from := c.first.UTC()
		b, err := a.FreezeBaseline(ctx, c.model, c.version, from, from.Add(a.cfg.AutoBaseline))
		if errors.Is(err, ErrNoPredictions) {
			a.noBaseline[c.model+"\x00"+c.version] = true
			a.log.Info("no automatic baseline: no ok predictions in the version's first window",
				zap.String("model", c.model), zap.String("version", c.version), zap.Time("from", from))
			continue
		}
		if err != nil {
			return err
		}
		frozen++
		a.m.autoBaselines.Inc()
		a.log.Info("froze a baseline automatically (drift.auto_baseline)", zap.String("model", c.model), zap.String("version", c.version),
			zap.Time("from", b.From), zap.Time("to", b.To), zap.Uint64("predictions", b.Predictions), zap.Int("features", len(b.Features)))
	}
	return nil
}
