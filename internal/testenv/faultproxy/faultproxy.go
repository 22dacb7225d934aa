// Package faultproxy is a TCP proxy for tests that injects faults between
// a client and a server (the ingester and ClickHouse or Kafka): cut every
// connection and refuse new ones, or delay the server's replies.
//
//	p, err := faultproxy.New(chAddr)
//	defer p.Close()
//	... point the client at p.Addr() ...
//	p.Cut()      // the server "goes away"
//	p.Restore()  // and comes back
//
// Every goroutine it starts ends by Close.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DialTimeout bounds connecting to the target.
const DialTimeout = 5 * time.Second

// chunkSize is the largest chunk read and forwarded at once.
const chunkSize = 32 << 10

// Stats counts what the proxy did, for assertions.
type Stats struct {
	Accepted      int64 // connections accepted and forwarded to the target
	Refused       int64 // connections closed at once (cut, or the target unreachable)
	Open          int   // connections open now
	BytesToTarget int64 // bytes forwarded client → target
	BytesToClient int64 // bytes forwarded target → client
}

// Proxy forwards TCP connections from Addr to a target.
type Proxy struct {
	target string
	ln     net.Listener
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	delay atomic.Int64 // time.Duration

	accepted, refused, toTarget, toClient atomic.Int64

	mu    sync.Mutex
	cut   bool
	conns map[*link]struct{}
}

// link is one proxied connection.
type link struct {
	client, server net.Conn
	done           chan struct{} // closed by kill
	once           sync.Once
}

func (l *link) kill() {
	l.once.Do(func() {
		close(l.done)
		_ = l.client.Close()
		_ = l.server.Close()
	})
}

// New starts a proxy on 127.0.0.1 (a free port) forwarding to target
// (host:port). The target need not be up yet: it is dialled per connection.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{target: target, ln: ln, ctx: ctx, cancel: cancel, conns: make(map[*link]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listen address, host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Cut closes every open connection and closes new ones as soon as they are
// accepted, until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.kill()
	}
}

// Restore forwards new connections again after Cut.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// SetDelay delays every chunk forwarded from the target back to the client
// by d (0: none), from the next chunk on. It simulates a server slower than
// the client's timeout. The delay is per chunk, so a reply read in several
// chunks is delayed several times.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(max(d, 0))) }

// Stats returns the counters so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	open := len(p.conns)
	p.mu.Unlock()
	return Stats{
		Accepted:      p.accepted.Load(),
		Refused:       p.refused.Load(),
		Open:          open,
		BytesToTarget: p.toTarget.Load(),
		BytesToClient: p.toClient.Load(),
	}
}

// Close stops listening, closes every connection and waits for all the
// proxy's goroutines to end. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.cancel()
	err := p.ln.Close()
	p.mu.Lock()
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.kill()
	}
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil // second Close
	}
	if err != nil {
		return fmt.Errorf("faultproxy: close: %w", err)
	}
	return nil
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // temporary (e.g. EMFILE); Close ends the loop
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			p.refused.Add(1)
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// handle dials the target and forwards both ways until either side closes
// or the link is killed.
func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(p.ctx, DialTimeout)
	server, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.target)
	cancel()
	if err != nil {
		p.refused.Add(1)
		_ = client.Close()
		return
	}
	l := &link{client: client, server: server, done: make(chan struct{})}
	p.mu.Lock()
	if p.cut || p.ctx.Err() != nil { // Cut or Close while dialling
		p.mu.Unlock()
		p.refused.Add(1)
		l.kill()
		return
	}
	p.conns[l] = struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)

	defer func() {
		p.mu.Lock()
		delete(p.conns, l)
		p.mu.Unlock()
		l.kill()
	}()

	toTarget := make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(toTarget)
		p.pipe(l, server, client, &p.toTarget, false)
	}()
	p.pipe(l, client, server, &p.toClient, true)
	<-toTarget
}

// pipe copies src to dst in chunks until src ends, then half-closes dst so
// the peer sees EOF; on an error it kills the link. delayed applies the
// proxy's delay to each chunk.
func (p *Proxy) pipe(l *link, dst, src net.Conn, n *atomic.Int64, delayed bool) {
	buf := make([]byte, chunkSize)
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			if delayed {
				if d := time.Duration(p.delay.Load()); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-t.C:
					case <-l.done:
						t.Stop()
						return
					}
				}
			}
			if _, werr := dst.Write(buf[:k]); werr != nil {
				l.kill()
				return
			}
			n.Add(int64(k))
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					_ = cw.CloseWrite()
					return
				}
			}
			l.kill()
			return
		}
	}
}
