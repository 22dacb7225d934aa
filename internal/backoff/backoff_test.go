package backoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"github.com/predlog/predlog/internal/config"
)

func constRand(v float64) func() float64 { return func() float64 { return v } }

func TestDelay(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	tests := []struct {
		name    string
		policy  Policy
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{"first full", p, 0, 1, 100 * time.Millisecond},
		{"first half", p, 0, 0.5, 50 * time.Millisecond},
		{"first zero jitter", p, 0, 0, 0},
		{"second", p, 1, 1, 200 * time.Millisecond},
		{"third", p, 2, 1, 400 * time.Millisecond},
		{"fourth", p, 3, 1, 800 * time.Millisecond},
		{"capped", p, 4, 1, time.Second},
		{"capped jittered", p, 4, 0.25, 250 * time.Millisecond},
		{"huge attempt no overflow", p, 10_000, 1, time.Second},
		{"max int attempt", p, math.MaxInt, 1, time.Second},
		{"negative attempt is first", p, -3, 1, 100 * time.Millisecond},
		{"multiplier 3", Policy{Initial: time.Millisecond, Max: time.Hour, Multiplier: 3}, 2, 1, 9 * time.Millisecond},
		{"multiplier unset defaults to 2", Policy{Initial: time.Millisecond, Max: time.Hour}, 3, 1, 8 * time.Millisecond},
		{"max below initial means constant", Policy{Initial: 50 * time.Millisecond, Max: time.Millisecond, Multiplier: 2}, 5, 1, 50 * time.Millisecond},
		{"zero policy uses default initial", Policy{}, 0, 1, DefaultInitial},
		{"huge durations saturate at max", Policy{Initial: time.Duration(math.MaxInt64 / 2), Max: time.Duration(math.MaxInt64), Multiplier: 10}, 3, 1, time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Delay(tt.attempt, constRand(tt.rnd)); got != tt.want {
				t.Errorf("Delay(%d, %v) = %v, want %v", tt.attempt, tt.rnd, got, tt.want)
			}
		})
	}
}

func TestDelayDefaultRandInRange(t *testing.T) {
	p := Policy{Initial: time.Millisecond, Max: 8 * time.Millisecond, Multiplier: 2}
	for attempt := range 10 {
		ceil := p.Delay(attempt, constRand(1))
		for range 100 {
			if d := p.Delay(attempt, nil); d < 0 || d > ceil {
				t.Fatalf("Delay(%d, nil) = %v, want in [0, %v]", attempt, d, ceil)
			}
		}
	}
}

func TestFromConfig(t *testing.T) {
	got := FromConfig(config.Retry{Initial: time.Second, Max: time.Minute})
	want := Policy{Initial: time.Second, Max: time.Minute, Multiplier: DefaultMultiplier}
	if got != want {
		t.Errorf("FromConfig = %+v, want %+v", got, want)
	}
}

func TestPermanent(t *testing.T) {
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	err := Permanent(io.EOF)
	if !errors.Is(err, io.EOF) || !IsPermanent(err) || err.Error() != io.EOF.Error() {
		t.Errorf("Permanent(io.EOF) = %v: want it to wrap io.EOF and be permanent", err)
	}
	if IsPermanent(io.EOF) {
		t.Error("IsPermanent(io.EOF) = true")
	}
}

// fakeSleep records waits and never sleeps; it cancels after n calls when
// cancel is set.
type fakeSleep struct {
	waits  []time.Duration
	cancel context.CancelFunc
	after  int
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.waits = append(f.waits, d)
	if f.cancel != nil && len(f.waits) >= f.after {
		f.cancel()
	}
	return ctx.Err()
}

var errBoom = errors.New("boom")

func TestRetrier(t *testing.T) {
	errBad := errors.New("bad input")
	p := Policy{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Multiplier: 2}
	tests := []struct {
		name       string
		results    []error // op's results in order; the last repeats
		cancelAt   int     // cancel ctx during the n-th sleep (0: never)
		wantCalls  int
		wantWaits  []time.Duration
		wantErr    error // errors.Is target, nil for success
		wantNotErr error // must not be in the chain
		wantSame   bool  // the returned error is wantErr itself
	}{
		{
			name:      "success at once",
			results:   []error{nil},
			wantCalls: 1,
		},
		{
			name:      "success after retries",
			results:   []error{errBoom, errBoom, errBoom, errBoom, nil},
			wantCalls: 5,
			wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond},
		},
		{
			name:      "permanent unwrapped at once",
			results:   []error{errBoom, Permanent(errBad)},
			wantCalls: 2,
			wantWaits: []time.Duration{10 * time.Millisecond},
			wantErr:   errBad,
			wantSame:  true,
		},
		{
			name:      "permanent wrapped in context kept",
			results:   []error{fmt.Errorf("decode: %w", Permanent(errBad))},
			wantCalls: 1,
			wantErr:   errBad,
		},
		{
			name:      "ctx cancelled while waiting",
			results:   []error{errBoom},
			cancelAt:  3,
			wantCalls: 3,
			wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond},
			wantErr:   context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			fs := &fakeSleep{}
			if tt.cancelAt > 0 {
				fs.cancel, fs.after = cancel, tt.cancelAt
			}
			r := &Retrier{Policy: p, Rand: constRand(1), Sleep: fs.sleep}
			calls := 0
			var notified []int
			err := r.Do(ctx, func(context.Context) error {
				res := tt.results[min(calls, len(tt.results)-1)]
				calls++
				return res
			}, func(attempt int, err error, wait time.Duration) {
				notified = append(notified, attempt)
				if err == nil {
					t.Errorf("onRetry(%d) with nil error", attempt)
				}
				if attempt < len(fs.waits) || attempt > len(fs.waits) {
					t.Errorf("onRetry attempt %d, but %d sleeps so far", attempt, len(fs.waits))
				}
			})
			if calls != tt.wantCalls {
				t.Errorf("op called %d times, want %d", calls, tt.wantCalls)
			}
			if !equalDurations(fs.waits, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", fs.waits, tt.wantWaits)
			}
			if len(notified) != len(tt.wantWaits) {
				t.Errorf("onRetry called %d times, want %d", len(notified), len(tt.wantWaits))
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("err = %v, want nil", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v in its chain", err, tt.wantErr)
			case tt.wantSame && err != tt.wantErr:
				t.Fatalf("err = %#v, want exactly %#v", err, tt.wantErr)
			}
			if tt.wantErr == context.Canceled && !errors.Is(err, errBoom) {
				t.Errorf("err = %v, want the last op error in its chain too", err)
			}
		})
	}
}

func TestRetryCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := Retry(ctx, Policy{Initial: time.Millisecond}, func(context.Context) error { called = true; return nil }, nil)
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("err = %v, op called = %v; want context.Canceled and no call", err, called)
	}
}

// TestRetryRealSleep runs the default timer-based sleep with waits of at
// most a few milliseconds.
func TestRetryRealSleep(t *testing.T) {
	calls := 0
	err := Retry(context.Background(), Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond},
		func(context.Context) error {
			calls++
			if calls < 3 {
				return errBoom
			}
			return nil
		}, nil)
	if err != nil || calls != 3 {
		t.Errorf("err = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestRetryDeadlineDuringSleep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	err := Retry(ctx, Policy{Initial: time.Hour, Max: time.Hour},
		func(context.Context) error { return errBoom },
		nil)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errBoom) {
		t.Errorf("err = %v, want DeadlineExceeded wrapping boom", err)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
