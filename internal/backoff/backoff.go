// Package backoff retries an operation with capped exponential backoff and
// full jitter (each wait is uniform in [0, min(Max, Initial·Multiplier^n))),
// the scheme that spreads retries of many clients best; see
// https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/.
package backoff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/predlog/predlog/internal/config"
)

// Defaults for unset Policy fields.
const (
	DefaultInitial    = 100 * time.Millisecond // when Policy.Initial <= 0
	DefaultMultiplier = 2                      // when Policy.Multiplier < 1
)

// Policy is a capped exponential backoff.
type Policy struct {
	Initial    time.Duration // upper bound of the first wait; <= 0 means DefaultInitial
	Max        time.Duration // cap on every wait; values < Initial mean Initial (no growth)
	Multiplier float64       // growth per attempt; < 1 means DefaultMultiplier
}

// FromConfig builds a Policy from the retry section of the config (the
// multiplier is not configurable: DefaultMultiplier).
func FromConfig(c config.Retry) Policy {
	return Policy{Initial: c.Initial, Max: c.Max, Multiplier: DefaultMultiplier}
}

// Delay returns how long to wait before retry number attempt (0 for the
// retry after the first failure): rnd()·min(Max, Initial·Multiplier^attempt),
// rnd returning values in [0, 1). A nil rnd uses math/rand/v2.
func (p Policy) Delay(attempt int, rnd func() float64) time.Duration {
	if rnd == nil {
		rnd = rand.Float64
	}
	c := p.ceiling(attempt)
	d := rnd() * float64(c)
	switch {
	case d >= float64(c): // rnd() == 1, or rounding near MaxInt64
		return c
	case d > 0:
		return time.Duration(d)
	default:
		return 0
	}
}

// ceiling is the un-jittered wait for attempt.
func (p Policy) ceiling(attempt int) time.Duration {
	initial := p.Initial
	if initial <= 0 {
		initial = DefaultInitial
	}
	limit := max(p.Max, initial)
	m := p.Multiplier
	if m < 1 {
		m = DefaultMultiplier
	}
	attempt = max(attempt, 0)
	// Float math saturates to +Inf rather than overflowing; compare before
	// converting back to a Duration.
	d := float64(initial) * math.Pow(m, float64(attempt))
	if d >= float64(limit) || math.IsNaN(d) {
		return limit
	}
	return time.Duration(d)
}

// permanentError marks an error Retry must not retry.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so Retry returns it at once instead of retrying.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, came from Permanent.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// Retry calls op until it returns nil, returns a Permanent error (Retry then
// returns the error inside it; if op wrapped the Permanent error in more
// context, that error as is), or ctx is done (Retry then returns an error
// wrapping both ctx.Err() and op's last error). onRetry, if not nil, is
// called after every failure with the 0-based attempt number, the error and
// the wait that follows; it is the place to log and count retries.
func Retry(ctx context.Context, p Policy, op func(ctx context.Context) error, onRetry func(attempt int, err error, wait time.Duration)) error {
	return (&Retrier{Policy: p}).Do(ctx, op, onRetry)
}

// Retrier is Retry with injectable randomness and sleeping, for tests of
// this package and of callers that need deterministic retries.
type Retrier struct {
	Policy Policy
	// Rand returns values in [0, 1); nil uses math/rand/v2.
	Rand func() float64
	// Sleep waits d or until ctx is done, returning ctx.Err() in that case;
	// nil uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Do is Retry with r's policy, randomness and sleep.
func (r *Retrier) Do(ctx context.Context, op func(ctx context.Context) error, onRetry func(attempt int, err error, wait time.Duration)) error {
	sleep := r.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("retry: %w", err)
	}
	for attempt := 0; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if pe, ok := err.(*permanentError); ok {
			return pe.err
		}
		if IsPermanent(err) {
			// Permanent wrapped in more context: keep the context.
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("retry: %w (last error: %w)", cerr, err)
		}
		wait := r.Policy.Delay(attempt, r.Rand)
		if onRetry != nil {
			onRetry(attempt, err, wait)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("retry: %w (last error: %w)", serr, err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
