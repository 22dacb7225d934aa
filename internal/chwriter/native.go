package chwriter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ClickHouse/ch-go"
	"github.com/ClickHouse/clickhouse-go/v2"
)

// NewSink returns the sink for opts' protocol: HTTP, or the native TCP
// protocol through ch-go (the library clickhouse-go/v2 builds on), which
// takes the same columns without an intermediate body.
func NewSink(opts *clickhouse.Options) (Sink, error) {
	if len(opts.Addr) == 0 {
		return nil, errors.New("clickhouse: no address")
	}
	settings := map[string]string{}
	for k, v := range opts.Settings {
		switch k {
		case "insert_deduplicate", "insert_deduplication_token", "deduplicate_blocks_in_dependent_materialized_views":
			// the sink's own, per insert
		default:
			settings[k] = fmt.Sprint(v)
		}
	}
	if opts.Protocol == clickhouse.HTTP {
		scheme := "http"
		if opts.TLS != nil {
			scheme = "https"
		}
		var more []string
		for _, a := range opts.Addr[1:] {
			more = append(more, scheme+"://"+a)
		}
		return NewHTTPSink(HTTPConfig{
			URL: scheme + "://" + opts.Addr[0], More: more, Database: opts.Auth.Database,
			User: opts.Auth.Username, Password: opts.Auth.Password, TLS: opts.TLS, Timeout: opts.ReadTimeout,
			Settings: settings,
		})
	}
	s := &NativeSink{addrs: opts.Addr, opts: ch.Options{
		Database: opts.Auth.Database, User: opts.Auth.Username, Password: opts.Auth.Password,
		TLS: opts.TLS, DialTimeout: opts.DialTimeout, ReadTimeout: opts.ReadTimeout, Compression: ch.CompressionLZ4,
		ClientName: "predlog-ingester",
	}}
	for k, v := range settings {
		s.settings = append(s.settings, ch.Setting{Key: k, Value: v, Important: true})
	}
	return s, nil
}

var _ Sink = (*NativeSink)(nil)

// NativeSink sends inserts over ClickHouse's native protocol. A ch-go client
// runs one query at a time, so the sink keeps idle clients for reuse.
//
// The development machines have no ClickHouse server speaking the native
// protocol (the devstack serves HTTP), so this path is exercised only
// against real servers (docker-compose, production).
type NativeSink struct {
	opts     ch.Options // Address set per dial
	addrs    []string   // tried in turn from cur on dial errors
	cur      atomic.Int64
	settings []ch.Setting // from the DSN, sent with every insert
	mu       sync.Mutex
	idle     []*ch.Client
}

func (s *NativeSink) get(ctx context.Context) (*ch.Client, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		if !c.IsClosed() {
			return c, nil
		}
	} else {
		s.mu.Unlock()
	}
	// Dial the server in use, else the others in turn.
	var err error
	start := s.cur.Load()
	for i := range int64(len(s.addrs)) {
		opts := s.opts
		opts.Address = s.addrs[(start+i)%int64(len(s.addrs))]
		var c *ch.Client
		if c, err = ch.Dial(ctx, opts); err == nil {
			if i > 0 {
				s.cur.CompareAndSwap(start, start+i)
			}
			return c, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nativeError("", err)
}

func (s *NativeSink) put(c *ch.Client, err error) {
	if err != nil || c.IsClosed() {
		_ = c.Close()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) < 16 {
		s.idle = append(s.idle, c)
		return
	}
	_ = c.Close()
}

// Close closes idle connections.
func (s *NativeSink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.idle {
		_ = c.Close()
	}
	s.idle = nil
}

// Insert implements Sink. Columns (ins.Input) go as a native data block;
// a body in another format travels inline after the statement.
func (s *NativeSink) Insert(ctx context.Context, ins Insert) error {
	q := ch.Query{}
	stmt := "INSERT INTO " + quoteIdent(ins.Table)
	if ins.Columns != "" {
		stmt += " " + ins.Columns
	}
	switch {
	case ins.Input != nil:
		q.Body = stmt + " VALUES"
		q.Input = ins.Input
	case ins.Format != "Native":
		q.Body = stmt + " FORMAT " + ins.Format + "\n" + string(ins.Body)
	default:
		return errors.New("native sink: a Native insert needs its columns (Insert.Input), not a body")
	}
	q.Settings = slices.Clone(s.settings)
	for _, kv := range ins.settings() {
		q.Settings = append(q.Settings, ch.Setting{Key: kv[0], Value: kv[1], Important: true})
	}
	c, err := s.get(ctx)
	if err != nil {
		return err
	}
	err = c.Do(ctx, q)
	s.put(c, err)
	if err != nil {
		return nativeError(ins.Table, err)
	}
	return nil
}

// Ping implements Sink.
func (s *NativeSink) Ping(ctx context.Context) error {
	c, err := s.get(ctx)
	if err != nil {
		return err
	}
	err = c.Ping(ctx)
	s.put(c, err)
	if err != nil {
		return nativeError("", err)
	}
	return nil
}

func nativeError(table string, err error) error {
	if e, ok := ch.AsException(err); ok {
		code := int(e.Code)
		msg := fmt.Sprintf("Code: %d. %s: %s", code, e.Name, e.Message)
		return &Error{Table: table, Code: code, Msg: msg, Kind: classify(code, 0, msg), cause: err}
	}
	return &Error{Table: table, Kind: KindTransient, Msg: err.Error(), cause: err}
}
