package ingest

import (
	"context"
	"sync"
)

// budget bounds the bytes buffered by all partitions together. When it is
// spent, partitions stop fetching until flushed batches give bytes back: a
// slow or unreachable ClickHouse turns into consumer lag, not memory growth.
type budget struct {
	mu      sync.Mutex
	used    int64
	max     int64
	changed chan struct{} // closed and replaced whenever bytes are released
	onUse   func(used int64)
}

func newBudget(max int64, onUse func(int64)) *budget {
	if onUse == nil {
		onUse = func(int64) {}
	}
	return &budget{max: max, changed: make(chan struct{}), onUse: onUse}
}

// tryAcquire takes n bytes if they fit. A request larger than the whole
// budget fits when nothing else is held, so one oversized message cannot
// wedge the pipeline.
func (b *budget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max && b.used > 0 {
		return false
	}
	b.used += n
	b.onUse(b.used)
	return true
}

// force takes n bytes whether they fit or not.
func (b *budget) force(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used += n
	b.onUse(b.used)
}

// acquire waits until n bytes fit or ctx is done.
func (b *budget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.used+n <= b.max || b.used == 0 {
			b.used += n
			b.onUse(b.used)
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.onUse(b.used)
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}
