package aggregate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"
)

// Without a baseline, a version's drift compares each window with the one
// before it: a sudden shift shows, a slow one never does. With
// drift.auto_baseline, a cycle freezes the first AutoBaseline of a
// version's serving (inside the label horizon) as its baseline once that
// window has closed, as `aggregator baseline` would (source
// reference_window), and the next cycles recompute the version's windows
// against it (dirty_baselines, RecomputePerCycle at a time). A baseline
// sent as a message, or frozen by hand, before that is kept: only versions
// without any baseline row are candidates (baseline_candidates.sql).
//
// A window with fewer ok predictions than drift.min_samples (a canary's
// first day, a smoke test at deploy time) would make a reference every
// later window differs from by chance: the next span is tried instead, on
// a later cycle; the window to try next is a watermark, so a restart (or
// another aggregator) goes on from there (merges drop a mark 90 days after
// its window, migration 0029). A freeze that fails otherwise
// is tried again an hour later, and the other candidates go on meanwhile;
// that delay is this process's only (after a restart the window is tried
// at once).

// Per cycle: at most autoBaselinesPerCycle freezes (each reads its window's
// rows of the version) and autoBaselineTries windows tried.
const (
	autoBaselinesPerCycle = 1
	autoBaselineTries     = 5
	autoBaselineRetry     = time.Hour
)

// autoState is what this process remembers of a candidate version: the
// next window start to try, and when to try again after a failure.
type autoState struct {
	from, retryAt time.Time
}

// autoBaselines freezes the baselines drift.auto_baseline asks for, as of
// now, oldest first; marks are the watermarks read at the cycle's start.
func (a *Aggregator) autoBaselines(ctx context.Context, now time.Time, marks map[string]time.Time) error {
	span := a.cfg.AutoBaseline
	if span <= 0 {
		return nil
	}
	limit := autoBaselinesPerCycle + len(a.autoBaseline) + 10
	rows, err := a.query(ctx, "baseline_candidates", clickhouse.Parameters{
		"span_seconds": fmt.Sprint(int64(span / time.Second)),
		"closed":       chTime64(now.Add(-a.cfg.AllowedLateness)),
		"recent":       chTime64(now.Add(-a.cfg.LabelHorizon)),
		"limit":        fmt.Sprint(limit),
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
		todo = append(todo, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("baseline_candidates: %w", err)
	}
	if len(todo) < limit {
		// Every candidate is listed: forget versions that are no longer
		// (a baseline arrived, or they left the horizon).
		listed := map[string]bool{}
		for _, c := range todo {
			listed[c.model+"\x00"+c.version] = true
		}
		maps.DeleteFunc(a.autoBaseline, func(k string, _ autoState) bool { return !listed[k] })
	}
	frozen, tries := 0, 0
	for _, c := range todo {
		if frozen == autoBaselinesPerCycle || tries == autoBaselineTries {
			break
		}
		key := c.model + "\x00" + c.version
		st := a.autoBaseline[key]
		from := later(c.first.UTC(), later(st.from, marks[markAutoBaselinePrefix+key]))
		if now.Before(st.retryAt) || from.Add(span+a.cfg.AllowedLateness).After(now) {
			continue
		}
		tries++
		b, err := a.freezeBaseline(ctx, c.model, c.version, from, from.Add(span),
			FreezeOptions{MinPredictions: uint64(max(a.cfg.MinSamples, 1))}, now)
		switch {
		case errors.Is(err, ErrNoPredictions), errors.Is(err, ErrTooFewPredictions):
			a.autoBaseline[key] = autoState{from: from.Add(span)}
			if err := a.writeMarks(ctx, map[string]time.Time{markAutoBaselinePrefix + key: from.Add(span)}); err != nil {
				return err
			}
			a.log.Info("no automatic baseline from this window; the next one is tried later", zap.String("model", c.model),
				zap.String("version", c.version), zap.Time("from", from), zap.Error(err))
		case err != nil:
			a.autoBaseline[key] = autoState{from: from, retryAt: now.Add(autoBaselineRetry)}
			a.log.Warn("automatic baseline failed; tried again later", zap.String("model", c.model), zap.String("version", c.version),
				zap.Duration("retry_in", autoBaselineRetry), zap.Error(err))
		default:
			delete(a.autoBaseline, key)
			frozen++
			a.m.autoBaselines.Inc()
			a.log.Info("froze a baseline automatically (drift.auto_baseline)", zap.String("model", c.model), zap.String("version", c.version),
				zap.Time("from", b.From), zap.Time("to", b.To), zap.Uint64("predictions", b.Predictions), zap.Int("features", len(b.Features)))
		}
	}
	return nil
}
