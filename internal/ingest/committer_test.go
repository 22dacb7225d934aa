package ingest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeGen records commit requests; block holds each one until released.
type fakeGen struct {
	mu    sync.Mutex
	calls []map[string]map[int]int64
	err   error
	block chan struct{}
}

func (f *fakeGen) CommitOffsets(o map[string]map[int]int64) error {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, o)
	return f.err
}

func TestCommitterCoalesces(t *testing.T) {
	g := &fakeGen{block: make(chan struct{})}
	c := newCommitter(g)
	defer c.close()
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- c.commit(ctx, "t", 0, 10) }()
	// While the first request is in flight, three more queue up; the two
	// for partition 1 coalesce to the higher offset.
	time.Sleep(20 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, tc := range []struct {
		p   int
		off int64
	}{{1, 5}, {1, 7}, {2, 3}} {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- c.commit(ctx, "t", tc.p, tc.off) }()
	}
	time.Sleep(20 * time.Millisecond)
	close(g.block)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.calls) != 2 {
		t.Fatalf("%d requests, want 2: %v", len(g.calls), g.calls)
	}
	if got := g.calls[1]["t"]; len(got) != 2 || got[1] != 7 || got[2] != 3 {
		t.Fatalf("second request %v, want partition 1 → 7, 2 → 3", got)
	}
}

func TestCommitterErrorsAndClose(t *testing.T) {
	boom := errors.New("rebalance in progress")
	g := &fakeGen{err: boom}
	c := newCommitter(g)
	if err := c.commit(context.Background(), "t", 0, 1); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	g2 := &fakeGen{block: make(chan struct{})}
	c2 := newCommitter(g2)
	done := make(chan error, 1)
	go func() { done <- c2.commit(context.Background(), "t", 0, 1) }()
	time.Sleep(20 * time.Millisecond)
	go func() { time.Sleep(20 * time.Millisecond); close(g2.block) }()
	c2.close() // waits for the in-flight request, then stops
	if err := <-done; err != nil {
		t.Fatalf("in-flight commit: %v", err)
	}
	if err := c2.commit(context.Background(), "t", 0, 2); err == nil {
		t.Fatal("commit after close succeeded")
	}
	c.close()
}
