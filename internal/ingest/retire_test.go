package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestRetirer: retirements queued while the retirer runs are written, what
// is queued at stop is written before run returns, a failed write is logged
// once at warn and not retried, adding never waits for a write, and run
// leaves no goroutine behind. Not parallel: goleak compares against the
// goroutines that exist when it starts.
func TestRetirer(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := func(first int64) span { return span{first: first, last: first + 9, fp: uint64(first) + 1, ttl: 30} }
	tests := []struct {
		name      string
		failFirst bool // the first write fails
		blockAdds int  // added while the first write is under way
		stopAdds  int  // added after that, just before stop
		// wantBatched is written in one call after the first (0: none);
		// wantTotal is written (or attempted) in all.
		wantBatched, wantTotal int
		wantWarns              int
	}{
		{"written, the rest at stop", false, 2, 3, 2, 6, 0},
		{"a failed write warns once and is not retried", true, 0, 0, 0, 1, 1},
		{"adding does not wait for a write; the queue is bounded, and what it drops is logged", false, maxRetirements + 5, 0, maxRetirements, 1 + maxRetirements, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			release := make(chan struct{})
			writes := make(chan []retirement)
			var written []int
			r := newRetirer(func(ctx context.Context, rs []retirement) error {
				written = append(written, len(rs))
				if len(written) == 1 {
					writes <- rs
					<-release
					if tt.failFirst {
						return errors.New("connection refused")
					}
				}
				return nil
			}, zap.New(core))
			done, stopped := make(chan struct{}), make(chan struct{})
			go func() { defer close(stopped); r.run(context.Background(), done) }()

			r.add("t", 1, s(0))
			first := <-writes // the first write is under way
			if len(first) != 1 || first[0] != (retirement{"t", 1, s(0)}) {
				t.Errorf("first write %+v, want t/1 %+v", first, s(0))
			}
			for i := range tt.blockAdds {
				r.add("t", 1, s(int64(10*(i+1))))
			}
			close(release)
			if tt.wantBatched > 0 {
				waitFor(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.queue) == 0 })
			}
			for i := range tt.stopAdds {
				r.add("u", 2, s(int64(1000+10*i)))
			}
			close(done)
			<-stopped
			total := 0
			for _, n := range written {
				total += n
			}
			if total != tt.wantTotal || tt.wantBatched > 0 && (len(written) < 2 || written[1] != tt.wantBatched) {
				t.Errorf("writes of %v retirements, want %d in all, %d in the second", written, tt.wantTotal, tt.wantBatched)
			}
			if logs.Len() != tt.wantWarns {
				t.Errorf("%d warnings, want %d: %v", logs.Len(), tt.wantWarns, logs.All())
			}
		})
	}
}

// TestRetirerStopsWithContext: once its context is done, run returns
// without writing what is queued.
func TestRetirerStopsWithContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	writes := 0
	r := newRetirer(func(context.Context, []retirement) error { writes++; return nil }, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.add("t", 0, span{first: 1, last: 2, fp: 3})
	r.run(ctx, make(chan struct{}))
	if writes != 0 {
		t.Errorf("%d writes after the context ended, want 0", writes)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
