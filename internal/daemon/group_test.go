package daemon

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder notes the order in which components stopped.
type recorder struct {
	mu    sync.Mutex
	order []string
}

func (r *recorder) add(s string) { r.mu.Lock(); r.order = append(r.order, s); r.mu.Unlock() }
func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// blocker is a component that runs until interrupted, then takes a moment to
// stop, so a wrong order would show.
func blocker(r *recorder, name string, stopDelay time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(stopDelay)
		r.add(name)
		return ctx.Err()
	}
}

// fakeSignals replaces signal.Notify so tests can send signals.
func fakeSignals(g *Group) (send func(os.Signal), exited <-chan int) {
	var c chan<- os.Signal
	exitc := make(chan int, 1)
	g.notify = func(ch chan<- os.Signal, _ ...os.Signal) { c = ch }
	g.stop = func(chan<- os.Signal) {}
	g.exit = func(code int) { exitc <- code }
	return func(s os.Signal) { c <- s }, exitc
}

func TestStopsInOrderAfterError(t *testing.T) {
	var r recorder
	g := New(zaptest.NewLogger(t), 10*time.Second)
	boom := errors.New("boom")
	g.AddContext("a", blocker(&r, "a", 20*time.Millisecond))
	g.AddContext("b", blocker(&r, "b", 0))
	g.Add("failing", func() error { r.add("failing"); return boom }, func(error) {})
	g.AddContext("c", blocker(&r, "c", 0))

	err := g.Run()
	require.ErrorIs(t, err, boom)
	assert.Equal(t, []string{"failing", "a", "b", "c"}, r.get())
	select {
	case <-g.Stopping():
	default:
		t.Fatal("Stopping not closed")
	}
}

func TestCleanExits(t *testing.T) {
	tests := []struct {
		name string
		give error
		want error
	}{
		{"nil", nil, nil},
		{"canceled", context.Canceled, nil},
		{"wrapped canceled", errors.Join(errors.New("fetch"), context.Canceled), nil},
		{"failure", errors.New("insert batch: dial"), errors.New("insert batch: dial")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(zaptest.NewLogger(t), time.Second)
			g.Add("x", func() error { return tt.give }, func(error) {})
			err := g.Run()
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tt.want.Error())
			}
		})
	}
}

func TestSignalStopsGroup(t *testing.T) {
	var r recorder
	g := New(zaptest.NewLogger(t), 10*time.Second)
	send, exited := fakeSignals(g)
	g.AddSignalHandler()
	g.AddContext("pipeline", blocker(&r, "pipeline", 10*time.Millisecond))
	g.AddContext("ops", blocker(&r, "ops", 0))

	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	send(syscall.SIGTERM)
	select {
	case err := <-done:
		require.NoError(t, err, "a signal is a clean shutdown")
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	assert.Equal(t, []string{"pipeline", "ops"}, r.get())
	assert.Empty(t, exited)
}

// TestStopErrorAfterSignal: a component that fails to stop cleanly after
// a signal (the ops server cutting requests off at its drain limit) makes
// Run return its error, so the process exits non-zero; the others still
// stop in order.
func TestStopErrorAfterSignal(t *testing.T) {
	var r recorder
	g := New(zaptest.NewLogger(t), 10*time.Second)
	send, _ := fakeSignals(g)
	g.AddSignalHandler()
	drain := errors.New("ops server shutdown: context deadline exceeded")
	g.AddContext("http", func(ctx context.Context) error { <-ctx.Done(); r.add("http"); return drain })
	g.AddContext("last", blocker(&r, "last", 0))

	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	send(syscall.SIGTERM)
	select {
	case err := <-done:
		require.ErrorIs(t, err, drain)
		assert.Equal(t, "stop http: "+drain.Error(), err.Error())
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	assert.Equal(t, []string{"http", "last"}, r.get())
}

func TestSecondSignalExits(t *testing.T) {
	g := New(zaptest.NewLogger(t), 10*time.Second)
	send, exited := fakeSignals(g)
	g.AddSignalHandler()
	release := make(chan struct{})
	g.Add("stuck", func() error { <-release; return nil }, func(error) {})

	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	send(os.Interrupt)
	<-g.Stopping()
	send(os.Interrupt)
	select {
	case code := <-exited:
		assert.Equal(t, ExitCodeSecondSignal, code)
	case <-time.After(10 * time.Second):
		t.Fatal("second signal did not exit")
	}
	close(release) // the fake exit returns; let Run finish so nothing leaks
	require.NoError(t, <-done)
}

func TestShutdownTimeout(t *testing.T) {
	before := goleak.IgnoreCurrent()
	g := New(zaptest.NewLogger(t), 50*time.Millisecond)
	release := make(chan struct{})
	stuckDone := make(chan struct{})
	g.Add("ender", func() error { return nil }, func(error) {})
	g.Add("stuck", func() error { defer close(stuckDone); <-release; return nil }, func(error) {})

	err := g.Run()
	require.ErrorIs(t, err, ErrShutdownTimeout)
	close(release) // a real process exits here; the test lets the group finish
	<-stuckDone
	// The abandoned group goroutines finish once "stuck" returns.
	require.Eventually(t, func() bool { return goleak.Find(before) == nil }, 5*time.Second, 10*time.Millisecond)
}

func TestStoppingCheck(t *testing.T) {
	g := New(nil, time.Second)
	require.NoError(t, g.StoppingCheck(context.Background()))
	g.Add("x", func() error { return nil }, func(error) {})
	require.NoError(t, g.Run())
	assert.EqualError(t, g.StoppingCheck(context.Background()), "shutting down")
}
