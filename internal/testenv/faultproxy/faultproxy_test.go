package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer echoes lines back until the client closes; it stops when the
// test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

type client struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{Conn: c, r: bufio.NewReader(c)}
}

// roundTrip sends a line and reads the echo; it returns the error instead
// of failing so callers can expect failures.
func (c *client) roundTrip(line string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := c.r.ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func mustEcho(t *testing.T, c *client, line string) {
	t.Helper()
	got, err := c.roundTrip(line)
	if err != nil || got != line {
		t.Fatalf("echo %q = %q, %v", line, got, err)
	}
}

// eventually polls cond for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestForwards(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c1, c2 := dial(t, p.Addr()), dial(t, p.Addr())
	var want int64
	for _, line := range []string{"hello", "world", strings.Repeat("x", 100_000)} {
		mustEcho(t, c1, line)
		mustEcho(t, c2, line+"2")
		want += int64(len(line)+1) + int64(len(line)+2)
	}
	eventually(t, "byte counters", func() bool {
		s := p.Stats()
		return s.BytesToTarget == want && s.BytesToClient == want
	})
	s := p.Stats()
	if s.Accepted != 2 || s.Open != 2 || s.Refused != 0 {
		t.Errorf("stats %+v, want 2 accepted, 2 open, 0 refused", s)
	}
	// A client half-close reaches the server (which then closes), and the
	// link goes away.
	if err := c1.Conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after half-close: read %v, want EOF", err)
	}
	eventually(t, "one open connection", func() bool { return p.Stats().Open == 1 })
}

func TestCutRestore(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	mustEcho(t, c, "before")

	p.Cut()
	if _, err := c.roundTrip("during"); err == nil {
		t.Fatal("open connection still works after Cut")
	}
	// New connections are accepted by the kernel, then closed at once.
	for range 3 {
		nc := dial(t, p.Addr())
		if got, err := nc.roundTrip("refused"); err == nil {
			t.Fatalf("new connection works after Cut: %q", got)
		}
	}
	eventually(t, "3 refused, 0 open", func() bool { s := p.Stats(); return s.Refused == 3 && s.Open == 0 })

	p.Restore()
	c = dial(t, p.Addr())
	mustEcho(t, c, "after")
	if s := p.Stats(); s.Accepted != 2 || s.Refused != 3 {
		t.Errorf("stats %+v, want 2 accepted, 3 refused", s)
	}
}

func TestTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := newProxy(t, addr)
	if _, err := dial(t, p.Addr()).roundTrip("x"); err == nil {
		t.Fatal("round trip through a proxy to a closed port succeeded")
	}
	eventually(t, "refused", func() bool { return p.Stats().Refused == 1 })
}

func TestSetDelay(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	mustEcho(t, c, "fast")

	tests := []struct {
		name  string
		delay time.Duration
	}{
		{"50ms", 50 * time.Millisecond},
		{"150ms", 150 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.SetDelay(tt.delay)
			start := time.Now()
			mustEcho(t, c, "slow")
			if took := time.Since(start); took < tt.delay {
				t.Errorf("round trip took %v, want at least %v", took, tt.delay)
			}
		})
	}

	// A client with a read deadline shorter than the delay times out.
	p.SetDelay(time.Second)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := io.WriteString(c, "late\n"); err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if _, err := c.r.ReadString('\n'); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read = %v, want a timeout", err)
	}
	p.SetDelay(0)
}

// TestCloseNoLeaks closes a proxy with open connections, one of them with
// a reply held back by a long delay, and checks every goroutine is gone.
func TestCloseNoLeaks(t *testing.T) {
	echo := echoServer(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p, err := New(echo)
	if err != nil {
		t.Fatal(err)
	}
	idle := dial(t, p.Addr())
	mustEcho(t, idle, "x")
	held := dial(t, p.Addr())
	p.SetDelay(time.Hour)
	if _, err := io.WriteString(held, "held\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the held chunk to reach the server and come back", func() bool { return p.Stats().BytesToTarget == 2+5 })

	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked on a delayed chunk")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := idle.roundTrip("after close"); err == nil {
		t.Error("connection works after Close")
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("proxy still listening after Close")
	}
}
