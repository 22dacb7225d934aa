package ingest

import (
	"context"
	"sync"

	"go.uber.org/zap"
)

// retirement is a recorded batch found stale: the message at its first
// offset is another one than the batch started with.
type retirement struct {
	topic     string
	partition int
	span      span
}

// maxRetirements bounds the retirements waiting to be written. Past it they
// are dropped: a dropped one is found stale again at the next assignment
// (one more warning), which is all a lost retirement costs.
const maxRetirements = 1024

// retirer writes retirements to the ledger off the fetch path: a partition
// that passes over a stale batch only queues it (a lock and an append), and
// one goroutine writes what is queued, in one insert per wake-up. They are
// rare (a topic created again retires at most a few batches per
// partition), so a write that fails is not retried: the batches are found
// stale again at the next assignment and retired then.
type retirer struct {
	write func(ctx context.Context, rs []retirement) error
	log   *zap.Logger

	mu      sync.Mutex
	queue   []retirement
	dropped int           // past maxRetirements since the last flush
	wake    chan struct{} // size 1: one pending wake-up covers everything queued
}

func newRetirer(write func(context.Context, []retirement) error, log *zap.Logger) *retirer {
	return &retirer{write: write, log: log, wake: make(chan struct{}, 1)}
}

// add queues a retirement; it never blocks on the write.
func (r *retirer) add(topic string, partition int, s span) {
	r.mu.Lock()
	if len(r.queue) < maxRetirements {
		r.queue = append(r.queue, retirement{topic, partition, s})
	} else {
		r.dropped++
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run writes queued retirements until done is closed, then writes what is
// still queued and returns. ctx bounds every write; once it is done, run
// returns at once and what is queued is dropped.
func (r *retirer) run(ctx context.Context, done <-chan struct{}) {
	for {
		select {
		case <-r.wake:
			r.flush(ctx)
		case <-done:
			r.flush(ctx)
			return
		case <-ctx.Done():
			return
		}
	}
}

func (r *retirer) flush(ctx context.Context) {
	r.mu.Lock()
	rs, dropped := r.queue, r.dropped
	r.queue, r.dropped = nil, 0
	r.mu.Unlock()
	if dropped > 0 {
		r.log.Warn("stale recorded batches not retired (too many at once); they are checked, and warned about, again at the next assignment",
			zap.Int("batches", dropped))
	}
	if len(rs) == 0 || ctx.Err() != nil {
		return
	}
	if err := r.write(ctx, rs); err != nil {
		r.log.Warn("cannot retire stale recorded batches in the ledger; they are checked, and warned about, again at the next assignment",
			zap.Int("batches", len(rs)), zap.Error(err))
		return
	}
	r.log.Debug("retired stale recorded batches in the ledger", zap.Int("batches", len(rs)))
}
