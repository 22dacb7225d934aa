package aggregate

import (
	"time"

	"go.uber.org/zap"
)

// progress logs how far a backfill got, at most every progressEvery: a
// month of windows takes minutes, and without it the log says nothing
// between start and end. Steps are windows: base windows count twice
// (states, then outputs), the others once.
type progress struct {
	log         *zap.Logger
	total, done int
	start, last time.Time
}

const progressEvery = 10 * time.Second

func newProgress(log *zap.Logger, wins [][]window) *progress {
	now := time.Now()
	p := &progress{log: log, start: now, last: now}
	for i, ws := range wins {
		p.total += len(ws)
		if i == 0 {
			p.total += len(ws)
		}
	}
	return p
}

// add counts n more steps of stage done. A nil progress (the scheduled
// cycles) does nothing.
func (p *progress) add(stage string, n int) {
	if p == nil {
		return
	}
	p.done += n
	if time.Since(p.last) < progressEvery {
		return
	}
	p.last = time.Now()
	p.log.Info("backfill progress", zap.String("stage", stage),
		zap.Int("percent", 100*p.done/max(p.total, 1)), zap.Duration("elapsed", time.Since(p.start).Round(time.Second)))
}
