package chwriter

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/ch-go/proto"
)

// HTTPConfig says where and how inserts are sent over ClickHouse's HTTP
// interface.
type HTTPConfig struct {
	URL string // scheme://host:port, e.g. http://127.0.0.1:8123
	// More are further servers (scheme://host:port) of the same cluster:
	// after a connection error the sink sends to the next one. Retries of
	// an insert keep its deduplication token, which replicated tables
	// honour across replicas.
	More     []string
	Database string
	User     string
	Password string // sent in a header, never in the URL, never logged
	TLS      *tls.Config
	// Timeout bounds one insert request, from dial to the answer.
	Timeout time.Duration
	// Settings are sent with every insert (from the DSN, e.g.
	// insert_quorum); the deduplication settings are the sink's own.
	Settings map[string]string
}

// Insert is one INSERT with its data: columns (Input and Rows, Format
// Native) or an encoded Body in Format.
type Insert struct {
	Table   string
	Columns string // "(a, b)" or "" for all columns
	Format  string // Native or JSONEachRow
	Input   proto.Input
	Rows    int
	Body    []byte
	// Token is the insert_deduplication_token: a retry of the same data with
	// the same token is dropped by ClickHouse, also in materialized views.
	Token string
}

// settings are the query settings ins needs, whatever the protocol.
func (ins Insert) settings() [][2]string {
	var out [][2]string
	if ins.Format == "JSONEachRow" {
		// A key without a column is an error, not a field dropped
		// without a word (the server's default skips it): the table is
		// older or other than the rows (classify: a schema error).
		out = append(out, [2]string{"input_format_skip_unknown_fields", "0"})
	}
	if ins.Token != "" {
		out = append(out,
			[2]string{"insert_deduplicate", "1"},
			[2]string{"insert_deduplication_token", ins.Token},
			// Without it the table drops a retried block but its
			// materialized views count it again.
			[2]string{"deduplicate_blocks_in_dependent_materialized_views", "1"})
	}
	return out
}

// Sink writes inserts to ClickHouse.
type Sink interface {
	Insert(ctx context.Context, ins Insert) error
	Ping(ctx context.Context) error
}

var _ Sink = (*HTTPSink)(nil)

// HTTPSink sends inserts over the HTTP interface. clickhouse-go/v2's batch API
// would box every value through reflection (measured in the package's
// benchmarks); the ingester already holds columns, so it posts the Native
// block it encoded itself.
type HTTPSink struct {
	cfg    HTTPConfig
	bases  []*url.URL   // URL, then More
	cur    atomic.Int64 // index into bases of the server in use
	client *http.Client
	bufs   sync.Pool // *[]byte for Native bodies
	sizes  sync.Map  // table -> *atomic.Int64: bytes per row of its last body, to size the next one
}

// NewHTTPSink validates cfg and returns a sink.
func NewHTTPSink(cfg HTTPConfig) (*HTTPSink, error) {
	var bases []*url.URL
	for _, raw := range append([]string{cfg.URL}, cfg.More...) {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("clickhouse url: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("clickhouse url: scheme %q, want http or https", u.Scheme)
		}
		bases = append(bases, &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"})
	}
	if cfg.Database == "" {
		return nil, errors.New("clickhouse: empty database")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     cfg.TLS,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	s := &HTTPSink{cfg: cfg, bases: bases, client: &http.Client{Transport: tr, Timeout: cfg.Timeout}}
	s.bufs.New = func() any { return new([]byte) }
	return s, nil
}

// Close releases idle connections.
func (s *HTTPSink) Close() { s.client.CloseIdleConnections() }

// Insert sends one INSERT. Errors are *Error where ClickHouse answered.
func (s *HTTPSink) Insert(ctx context.Context, ins Insert) error {
	q := url.Values{}
	for k, v := range s.cfg.Settings {
		q.Set(k, v)
	}
	stmt := "INSERT INTO " + quoteIdent(s.cfg.Database) + "." + quoteIdent(ins.Table)
	if ins.Columns != "" {
		stmt += " " + ins.Columns
	}
	q.Set("query", stmt+" FORMAT "+ins.Format)
	q.Set("database", s.cfg.Database)
	for _, kv := range ins.settings() {
		q.Set(kv[0], kv[1])
	}
	body := ins.Body
	var release func()
	if ins.Input != nil {
		bp := s.bufs.Get().(*[]byte)
		// Back to the pool once the transport is done with the body (it
		// closes it), not when Do returns: after a timeout the transport
		// may still be writing it, and a reused buffer would send another
		// insert's bytes under this insert's deduplication token.
		release = func() { s.bufs.Put(bp) }
		// The pool loses its buffers at every GC; growing a new one by
		// doubling cost ~7% of the ingester's CPU (growslice under ch-go's
		// EncodeColumn), so it starts at the size the table's last body
		// had per row, for this many rows.
		v, ok := s.sizes.Load(ins.Table)
		if !ok {
			v, _ = s.sizes.LoadOrStore(ins.Table, new(atomic.Int64))
		}
		perRow := v.(*atomic.Int64)
		if want := int(perRow.Load()) * ins.Rows * 9 / 8; cap(*bp) < want {
			*bp = make([]byte, 0, want)
		}
		var err error
		if body, err = encodeNative((*bp)[:0], ins.Input, ins.Rows, ins.Table); err != nil {
			release()
			return err
		}
		if ins.Rows > 0 {
			perRow.Store(int64(len(body) / ins.Rows))
		}
		*bp = body[:0]
	}
	_, err := s.do(ctx, q, body, release, ins.Table)
	return err
}

// Ping checks that ClickHouse answers and the database exists.
func (s *HTTPSink) Ping(ctx context.Context) error {
	q := url.Values{"query": {"SELECT 1"}, "database": {s.cfg.Database}}
	_, err := s.do(ctx, q, nil, nil, "")
	return err
}

// do posts body; release, if not nil, is called once the transport has
// closed the body (always, also on errors), and body must stay unchanged
// until then.
func (s *HTTPSink) do(ctx context.Context, q url.Values, body []byte, release func(), table string) ([]byte, error) {
	i := s.cur.Load()
	u := *s.bases[i%int64(len(s.bases))]
	u.RawQuery = q.Encode()
	var rd io.Reader = bytes.NewReader(body)
	if release != nil {
		rd = &releasingBody{Reader: bytes.NewReader(body), release: release}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), rd)
	if err != nil {
		if release != nil {
			release()
		}
		return nil, err
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	if s.cfg.User != "" {
		req.Header.Set("X-ClickHouse-User", s.cfg.User)
		req.Header.Set("X-ClickHouse-Key", s.cfg.Password)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL carries no secret (credentials travel in headers), but
		// url.Error prints all of it, statement included: keep the server
		// (which one of several failed, or timed out) and the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		// The next attempt goes to the next server (unless another
		// request moved on already).
		s.cur.CompareAndSwap(i, i+1)
		return nil, &Error{Table: table, Kind: KindTransient, Msg: "clickhouse " + u.Host + ": " + err.Error(), cause: err}
	}
	defer resp.Body.Close()
	out, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		code, _ := strconv.Atoi(resp.Header.Get("X-ClickHouse-Exception-Code"))
		msg := strings.TrimSpace(string(out))
		return nil, &Error{Table: table, Status: resp.StatusCode, Code: code, Msg: msg, Kind: classify(code, resp.StatusCode, msg)}
	}
	if rerr != nil {
		return nil, &Error{Table: table, Kind: KindTransient, Msg: "read response: " + rerr.Error(), cause: rerr}
	}
	// A failure after the server flushed its headers arrives in the body.
	if bytes.Contains(out, []byte("__exception__")) {
		return nil, &Error{Table: table, Status: resp.StatusCode, Kind: KindTransient, Msg: string(out)}
	}
	return out, nil
}

// releasingBody is a request body that calls release on its first Close.
// It has no GetBody on purpose: a body the transport could replay would
// outlive the Close that releases its buffer.
type releasingBody struct {
	*bytes.Reader
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	b.once.Do(b.release)
	return nil
}

func quoteIdent(s string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(s) + "`"
}
