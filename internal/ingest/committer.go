package ingest

import (
	"context"
	"sync"
)

// offsetCommitter is what a generation commits offsets through;
// *kafka.Generation implements it.
type offsetCommitter interface {
	CommitOffsets(offsets map[string]map[int]int64) error
}

// committer coalesces the partitions' commits of one generation into one
// OffsetCommit request at a time. kafka-go multiplexes a generation's
// requests over one coordinator connection on which concurrent waiters spin
// (each takes the read lock, re-arms the deadline and peeks at a response
// that is not theirs): with one commit per partition and batch, that spinning
// cost 7% of the ingester's CPU. Coalescing also sends the broker one request
// for many partitions.
type committer struct {
	gen offsetCommitter

	mu      sync.Mutex
	pending map[string]map[int]int64
	waiters []chan error

	kick chan struct{}
	done chan struct{}
	stop context.CancelFunc
}

// newCommitter starts the generation's commit loop; close stops it.
func newCommitter(gen offsetCommitter) *committer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &committer{gen: gen, kick: make(chan struct{}, 1), done: make(chan struct{}), stop: cancel}
	go c.run(ctx)
	return c
}

// commit asks for offset (the next to read) to be committed on
// topic/partition and waits for the request that carries it.
func (c *committer) commit(ctx context.Context, topic string, partition int, offset int64) error {
	ch := make(chan error, 1)
	c.mu.Lock()
	if c.pending == nil {
		c.pending = map[string]map[int]int64{}
	}
	if c.pending[topic] == nil {
		c.pending[topic] = map[int]int64{}
	}
	if cur, ok := c.pending[topic][partition]; !ok || offset > cur {
		c.pending[topic][partition] = offset
	}
	c.waiters = append(c.waiters, ch)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return context.Canceled
	}
}

func (c *committer) run(ctx context.Context) {
	defer close(c.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		c.mu.Lock()
		offsets, waiters := c.pending, c.waiters
		c.pending, c.waiters = nil, nil
		c.mu.Unlock()
		if len(waiters) == 0 {
			continue
		}
		err := c.gen.CommitOffsets(offsets)
		for _, w := range waiters {
			w <- err // buffered: never blocks
		}
	}
}

// close stops the loop and waits for it; commits still waiting fail.
func (c *committer) close() {
	c.stop()
	<-c.done
}
