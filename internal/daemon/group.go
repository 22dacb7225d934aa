// Package daemon supervises a daemon's long-lived components: one oklog/run
// group, stopped in the order components were added, with a signal handler
// where a second signal exits at once and a bound on the whole shutdown.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/oklog/run"
	"go.uber.org/zap"
)

// ErrShutdownTimeout is returned by Run when the components did not all stop
// within the shutdown timeout. The caller should exit right away: the
// components still running are abandoned, not stopped.
var ErrShutdownTimeout = errors.New("shutdown timed out")

// ExitCodeSecondSignal is the status a second SIGINT/SIGTERM exits with.
const ExitCodeSecondSignal = 130

// Group runs components until the first one returns, then stops the others
// one at a time in the order they were added, waiting for each to return
// before interrupting the next. Add components so that stopping them in that
// order is correct, e.g. signal handler first, then the consumer pipeline
// (which stops fetching, flushes, commits), then the ops server last so that
// /metrics and /readyz stay up while the pipeline drains.
type Group struct {
	log     *zap.Logger
	timeout time.Duration

	g        run.Group
	names    []string
	sigc     chan os.Signal // nil without AddSignalHandler
	stopping chan struct{}  // closed when shutdown begins
	stopOnce sync.Once
	stopAt   time.Time // when shutdown began; written before stopping is closed

	errMu   sync.Mutex
	stopErr error // the first error of a component while stopping (e.g. requests cut off), under errMu

	// Seams for tests.
	notify func(c chan<- os.Signal, sig ...os.Signal)
	stop   func(c chan<- os.Signal)
	exit   func(code int)
}

// New returns a Group whose shutdown, from the first component returning to
// the last one stopping, may take at most shutdownTimeout. Its messages carry
// component=<name> themselves, so pass a logger without a component field.
func New(log *zap.Logger, shutdownTimeout time.Duration) *Group {
	if log == nil {
		log = zap.NewNop()
	}
	return &Group{
		log:      log,
		timeout:  shutdownTimeout,
		stopping: make(chan struct{}),
		notify:   signal.Notify,
		stop:     signal.Stop,
		exit:     os.Exit,
	}
}

// Stopping is closed when shutdown begins; e.g. a readiness check turns
// not-ready on it so load balancers stop sending work while components drain.
func (g *Group) Stopping() <-chan struct{} { return g.stopping }

// Add adds a component as an execute/interrupt pair (oklog/run semantics).
// interrupt must make execute return.
func (g *Group) Add(name string, execute func() error, interrupt func(error)) {
	g.names = append(g.names, name)
	done := make(chan struct{})
	var interrupted time.Time
	var mu sync.Mutex
	g.g.Add(func() error {
		defer close(done)
		g.log.Debug("component starting", zap.String("component", name))
		err := execute()
		mu.Lock()
		t := interrupted
		mu.Unlock()
		fields := []zap.Field{zap.String("component", name)}
		if !t.IsZero() {
			fields = append(fields, zap.Duration("stop_took", time.Since(t)))
		}
		if t.IsZero() {
			// First to return: it starts the shutdown and Run returns its
			// error, which the caller reports.
			g.log.Info("component exited, shutting down", fields...)
			return err
		}
		if err != nil && !isCleanExit(err) {
			// A clean shutdown did not happen (e.g. requests cut off at the
			// drain limit): the process exits non-zero after the others.
			g.log.Error("component stopped with an error", append(fields, zap.Error(err))...)
			g.errMu.Lock()
			if g.stopErr == nil {
				g.stopErr = fmt.Errorf("stop %s: %w", name, err)
			}
			g.errMu.Unlock()
			return err
		}
		g.log.Info("component stopped", fields...)
		return err
	}, func(err error) {
		g.beginStop()
		g.log.Debug("stopping component", zap.String("component", name))
		mu.Lock()
		interrupted = time.Now()
		mu.Unlock()
		interrupt(err)
		// Wait for this component before the group interrupts the next one.
		<-done
	})
}

// AddContext adds a component of the common form Run(ctx) error, stopped by
// cancelling ctx.
func (g *Group) AddContext(name string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(name, func() error { return fn(ctx) }, func(error) { cancel() })
}

// AddSignalHandler adds a component that returns on the first of sigs
// (default SIGINT, SIGTERM), starting shutdown. A second signal during
// shutdown exits the process at once with ExitCodeSecondSignal.
func (g *Group) AddSignalHandler(sigs ...os.Signal) {
	if len(sigs) == 0 {
		sigs = []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	g.sigc = make(chan os.Signal, 2)
	g.notify(g.sigc, sigs...)
	quit := make(chan struct{})
	g.Add("signal", func() error {
		select {
		case sig := <-g.sigc:
			g.log.Info("received signal, shutting down; send it again to exit at once",
				zap.String("component", "signal"), zap.Stringer("signal", sig))
			return &run.SignalError{Signal: sig}
		case <-quit:
			return nil
		}
	}, func(error) {
		close(quit)
	})
}

// watchSecondSignal exits the process on a signal that arrives after shutdown
// began. It returns when done is closed.
func (g *Group) watchSecondSignal(done <-chan struct{}) {
	select {
	case <-g.stopping:
	case <-done:
		return
	}
	select {
	case sig := <-g.sigc:
		g.log.Warn("second signal, exiting now", zap.Stringer("signal", sig))
		_ = g.log.Sync()
		g.exit(ExitCodeSecondSignal)
	case <-done:
	}
}

func (g *Group) beginStop() {
	g.stopOnce.Do(func() {
		g.stopAt = time.Now()
		close(g.stopping)
	})
}

// Run runs all components and returns once all have stopped. It returns the
// first component's error; when that is a signal or a context cancellation
// (a clean start of shutdown), the first error a component returned while
// stopping, else nil; and ErrShutdownTimeout if stopping took longer than
// the timeout.
func (g *Group) Run() error {
	g.log.Info("starting", zap.Strings("components", g.names))
	done := make(chan struct{})
	var wg sync.WaitGroup
	if g.sigc != nil {
		wg.Go(func() { g.watchSecondSignal(done) })
	}
	defer func() {
		close(done)
		wg.Wait()
		if g.sigc != nil {
			g.stop(g.sigc)
		}
	}()

	result := make(chan error, 1)
	go func() { result <- g.g.Run() }() // abandoned only on ErrShutdownTimeout, when the process exits

	var err error
	select {
	case err = <-result:
	case <-g.stopping:
		timer := time.NewTimer(time.Until(g.stopAt.Add(g.timeout)))
		defer timer.Stop()
		select {
		case err = <-result:
		case <-timer.C:
			g.log.Error("shutdown timed out; exiting with components still running", zap.Duration("timeout", g.timeout))
			return fmt.Errorf("%w after %s", ErrShutdownTimeout, g.timeout)
		}
	}
	g.log.Info("all components stopped", zap.Duration("shutdown_took", time.Since(g.stopAt)))
	if isCleanExit(err) {
		g.errMu.Lock()
		defer g.errMu.Unlock()
		return g.stopErr
	}
	return err
}

// isCleanExit reports errors that mean "asked to stop", not failure.
func isCleanExit(err error) bool {
	return err == nil || errors.Is(err, run.ErrSignal) || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF)
}

// StoppingCheck is a readiness check that fails once shutdown has begun, so
// the process reports not-ready while its components drain.
func (g *Group) StoppingCheck(context.Context) error {
	select {
	case <-g.stopping:
		return errors.New("shutting down")
	default:
		return nil
	}
}
