package kafkabroker

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// trackingListener is the listener we hand to kfake. It does three things
// kfake cannot:
//   - Addr reports the advertised address: kfake builds the host and port of
//     its Metadata responses from the listener's Addr, and a socket bound to
//     0.0.0.0 must not advertise 0.0.0.0.
//   - It notices when kfake's accept loop has ended.
//   - It tracks accepted connections, so Close can wait until kfake has hung
//     up on every client; kfake.Cluster.Close does not wait for that itself.
type trackingListener struct {
	net.Listener
	advertised net.Addr

	handedOut  atomic.Bool
	acceptOnce sync.Once
	acceptDone chan struct{} // closed when Accept first fails: kfake's loop returns then

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
	open  sync.WaitGroup // one per accepted connection not yet closed
}

func newTrackingListener(ln net.Listener, advertised net.Addr) *trackingListener {
	return &trackingListener{
		Listener:   ln,
		advertised: advertised,
		acceptDone: make(chan struct{}),
		conns:      make(map[*trackedConn]struct{}),
	}
}

// listenOnce is the kfake.ListenFn. kfake passes "127.0.0.1:<port>", which we
// ignore: the socket is already bound to the configured address.
func (l *trackingListener) listenOnce(_, _ string) (net.Listener, error) {
	if l.handedOut.Swap(true) {
		return nil, errors.New("kafkabroker serves a single broker")
	}
	return l, nil
}

func (l *trackingListener) Addr() net.Addr { return l.advertised }

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		// kfake's accept loop returns on any error, not only on close.
		l.acceptOnce.Do(func() { close(l.acceptDone) })
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	// Add happens before acceptDone is closed, and waitConns runs only after
	// that, so no Add races with the Wait.
	l.open.Add(1)
	l.mu.Unlock()
	return tc, nil
}

// waitConns waits until every accepted connection is closed with no call in
// flight. kfake closes a connection from its read and write goroutines as they
// return; if some are still open after timeout, we close them ourselves and
// report how many.
// It must be called after acceptDone is closed.
func (l *trackingListener) waitConns(timeout time.Duration) int {
	done := make(chan struct{})
	go func() {
		l.open.Wait()
		close(done)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return 0
	case <-timer.C:
	}

	l.mu.Lock()
	left := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		left = append(left, c)
	}
	l.mu.Unlock()
	for _, c := range left {
		c.Close() // unblocks in-flight calls; the last to return releases c
	}
	<-done
	return len(left)
}

// trackedConn counts as open until it is closed and no Read or Write is in
// flight: kfake reads and writes from goroutines of their own, and those
// return only once the call on the closed socket has.
type trackedConn struct {
	net.Conn
	l *trackingListener

	mu       sync.Mutex
	inflight int
	closed   bool
	released bool // l.open.Done called
}

func (c *trackedConn) Read(p []byte) (int, error) {
	c.begin()
	defer c.end()
	return c.Conn.Read(p)
}

func (c *trackedConn) Write(p []byte) (int, error) {
	c.begin()
	defer c.end()
	return c.Conn.Write(p)
}

// Close is called twice by kfake, from its read and write goroutines.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	c.closed = true
	c.maybeReleaseLocked()
	c.mu.Unlock()
	return err
}

func (c *trackedConn) begin() {
	c.mu.Lock()
	c.inflight++
	c.mu.Unlock()
}

func (c *trackedConn) end() {
	c.mu.Lock()
	c.inflight--
	c.maybeReleaseLocked()
	c.mu.Unlock()
}

func (c *trackedConn) maybeReleaseLocked() {
	if !c.closed || c.inflight > 0 || c.released {
		return
	}
	c.released = true
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	c.l.open.Done()
}
