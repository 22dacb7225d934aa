// Package chhttp serves the ClickHouse HTTP interface in front of the
// embedded engine, well enough for clickhouse-go/v2 (Protocol: HTTP), curl and
// other plain HTTP clients.
//
// What it does beyond passing SQL through:
//   - answers clickhouse-go's hello query with revision 0, so the client
//     decodes every later Native result at the revision the engine writes;
//   - streams INSERT bodies into the engine instead of splicing them into
//     the SQL text, which breaks past about a thousand rows;
//   - forwards only allow-listed settings (see settings.go);
//   - bounds request bodies and reports engine exceptions as HTTP 500 with
//     X-ClickHouse-Exception-Code, the way ClickHouse does.
package chhttp

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/devstack/chdb"
)

// Config configures the HTTP front end.
type Config struct {
	Addr          string // listen address; default 127.0.0.1:8123
	MaxBodyBytes  int64  // INSERT body bound after decompression; default 2 GiB
	MaxQueryBytes int64  // bound on query text (all but INSERT data); default 64 MiB
	Sessions      int    // engine sessions, i.e. statements run at once; default 4
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8123"
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 2 << 30
	}
	if c.MaxQueryBytes <= 0 {
		c.MaxQueryBytes = 64 << 20
	}
	if c.Sessions <= 0 {
		c.Sessions = 4
	}
}

// ClickHouse error codes the server itself raises.
const (
	codeSyntaxError    = 62
	codeUnknownSetting = 115
	codeTooLarge       = 307 // TOO_LARGE_STRING_SIZE is the nearest ClickHouse has
	codeBadArguments   = 36
	codeUnknownFormat  = 73
	codeNetworkError   = 210
)

const helloQuery = "SELECT displayName(), version(), revision(), timezone()"

// Server is the HTTP interface. Create it with New, run it with Serve, stop
// it with Shutdown.
type Server struct {
	cfg   Config
	eng   *chdb.Engine
	log   *zap.Logger
	pool  chan *session
	hello helloInfo

	mu  sync.Mutex
	srv *http.Server
}

type helloInfo struct{ displayName, version, timezone string }

// session is one engine connection plus what the server set on it.
type session struct {
	conn     *chdb.Conn
	db       string            // current database; "" when unknown
	defaults map[string]string // default values of forwarded settings, read lazily
}

// New opens cfg.Sessions engine sessions and reads the server identity.
func New(cfg Config, eng *chdb.Engine, log *zap.Logger) (*Server, error) {
	cfg.setDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{cfg: cfg, eng: eng, log: log, pool: make(chan *session, cfg.Sessions)}
	for range cfg.Sessions {
		c, err := eng.Connect()
		if err != nil {
			s.closeSessions()
			return nil, fmt.Errorf("open engine session: %w", err)
		}
		s.pool <- &session{conn: c}
	}
	sess := <-s.pool
	res, err := sess.conn.Query("SELECT displayName(), version(), timezone()", "TabSeparated", nil)
	s.pool <- sess
	if err != nil {
		s.closeSessions()
		return nil, fmt.Errorf("read server identity: %w", err)
	}
	f := strings.Split(strings.TrimRight(string(res.Data), "\n"), "\t")
	if len(f) != 3 {
		s.closeSessions()
		return nil, fmt.Errorf("read server identity: unexpected %q", res.Data)
	}
	s.hello = helloInfo{displayName: f[0], version: f[1], timezone: f[2]}
	return s, nil
}

func (s *Server) closeSessions() {
	for {
		select {
		case sess := <-s.pool:
			sess.conn.Close()
		default:
			return
		}
	}
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.srv == nil {
		s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	}
	srv := s.srv
	s.mu.Unlock()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting, waits for running statements, then closes the
// engine sessions.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	if srv == nil {
		srv = &http.Server{}
		s.srv = srv
	}
	s.mu.Unlock()
	err := srv.Shutdown(ctx)
	for range s.cfg.Sessions {
		select {
		case sess := <-s.pool:
			sess.conn.Close()
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
	return err
}

// httpError is an error with the status and ClickHouse code to answer with.
type httpError struct {
	status int
	code   int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func reqErr(status, code int, format string, args ...any) *httpError {
	return &httpError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP implements the endpoints /, /ping and /replicas_status.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ping", "/replicas_status":
		_, _ = io.WriteString(w, "Ok.\n")
		return
	case "/":
	default:
		http.Error(w, "There is no handle "+r.URL.Path+"\n\nUse / or /ping.", http.StatusNotFound)
		return
	}
	start := time.Now()
	summary, out, err := s.handle(r)
	if err != nil {
		s.writeError(w, err)
		s.log.Debug("query failed", zap.Error(err), zap.Duration("took", time.Since(start)))
		return
	}
	h := w.Header()
	h.Set("X-ClickHouse-Server-Display-Name", s.hello.displayName)
	h.Set("X-ClickHouse-Timezone", s.hello.timezone)
	h.Set("X-ClickHouse-Summary", summary)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func (s *Server) writeError(w http.ResponseWriter, err error) {
	status, code, msg := http.StatusInternalServerError, 0, err.Error()
	var he *httpError
	var ce *chdb.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		status, code = he.status, he.code
		msg = fmt.Sprintf("Code: %d. DB::Exception: %s. (devstack)", he.code, he.msg)
	case errors.As(err, &mbe):
		status, code = http.StatusRequestEntityTooLarge, codeTooLarge
		msg = fmt.Sprintf("Code: %d. DB::Exception: request body exceeds %d bytes (devstack --clickhouse.max-body-bytes / --clickhouse.max-query-bytes). (devstack)", code, mbe.Limit)
	case errors.As(err, &ce):
		code = ce.Code
		msg = ce.Msg
	default:
		code = 1000 // POCO_EXCEPTION: any other failure
		msg = fmt.Sprintf("Code: %d. DB::Exception: %s. (devstack)", code, msg)
	}
	h := w.Header()
	h.Set("X-ClickHouse-Exception-Code", strconv.Itoa(code))
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// request is a parsed HTTP request.
type request struct {
	database    string
	format      string
	settings    [][2]string
	params      []chdb.Param
	compress    bool // answer in ClickHouse's compressed block format
	compression compress.Method
	hello       bool
}

func (s *Server) parseParams(r *http.Request) (*request, error) {
	q := r.URL.Query()
	req := &request{database: "default", format: "TabSeparated", compression: compress.LZ4}
	if v := r.Header.Get("X-ClickHouse-Database"); v != "" {
		req.database = v
	}
	if v := q.Get("database"); v != "" {
		req.database = v
	}
	if v := r.Header.Get("X-ClickHouse-Format"); v != "" {
		req.format = v
	}
	if v := q.Get("default_format"); v != "" {
		req.format = v
	}
	req.hello = q.Has("client_protocol_version")
	req.compress = q.Get("compress") == "1"
	if m := q.Get("network_compression_method"); m != "" {
		switch strings.ToUpper(m) {
		case "LZ4":
			req.compression = compress.LZ4
		case "ZSTD":
			req.compression = compress.ZSTD
		default:
			return nil, reqErr(http.StatusBadRequest, codeBadArguments, "network_compression_method %q is not supported (use LZ4 or ZSTD)", m)
		}
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch {
		case strings.HasPrefix(k, "param_"):
			req.params = append(req.params, chdb.Param{Name: strings.TrimPrefix(k, "param_"), Value: v})
		case handledParams[k]:
		case forwardedSettings[k]:
			req.settings = append(req.settings, [2]string{k, v})
		default:
			return nil, reqErr(http.StatusBadRequest, codeUnknownSetting,
				"setting %q is not forwarded to the embedded engine; devstack passes only a safe list of settings (internal/devstack/chhttp/settings.go)", k)
		}
	}
	return req, nil
}

// body returns the request body, decoded and bounded.
func (s *Server) body(r *http.Request) (io.Reader, error) {
	var rd io.Reader = r.Body
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, reqErr(http.StatusBadRequest, codeBadArguments, "gzip body: %v", err)
		}
		rd = zr
	case "deflate":
		zr, err := zlib.NewReader(rd)
		if err != nil {
			return nil, reqErr(http.StatusBadRequest, codeBadArguments, "deflate body: %v", err)
		}
		rd = zr
	case "br":
		rd = brotli.NewReader(rd)
	case "zstd":
		zr, err := zstd.NewReader(rd, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, reqErr(http.StatusBadRequest, codeBadArguments, "zstd body: %v", err)
		}
		rd = zr.IOReadCloser()
	default:
		return nil, reqErr(http.StatusBadRequest, codeBadArguments, "Content-Encoding %q is not supported", enc)
	}
	if r.URL.Query().Get("decompress") == "1" {
		rd = &blockReader{r: compress.NewReader(rd)}
	}
	// Bound what is read after decoding, so a small compressed body cannot
	// expand without limit.
	return &limitedReader{r: rd, n: s.cfg.MaxBodyBytes, limit: s.cfg.MaxBodyBytes}, nil
}

// blockReader reads ClickHouse's compressed block format (decompress=1),
// turning ch-go's wrapped EOF at a block boundary into io.EOF and anything
// else into a client error.
type blockReader struct{ r io.Reader }

func (b *blockReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		err = io.EOF
	default:
		err = reqErr(http.StatusBadRequest, codeBadArguments, "compressed body: %v", err)
	}
	return n, err
}

type limitedReader struct {
	r     io.Reader
	n     int64 // bytes still allowed
	limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, &http.MaxBytesError{Limit: l.limit}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// handle runs the request and returns the X-ClickHouse-Summary header and
// the response body.
func (s *Server) handle(r *http.Request) (string, []byte, error) {
	req, err := s.parseParams(r)
	if err != nil {
		return "", nil, err
	}
	body, err := s.body(r)
	if err != nil {
		return "", nil, err
	}
	var (
		sql    string
		ins    insertData
		stream io.Reader // INSERT data still to read from the body
		isIns  bool
	)
	if qp := r.URL.Query().Get("query"); qp != "" {
		if ins, isIns = splitInsert(qp); isIns {
			stream = io.MultiReader(strings.NewReader(ins.data), body)
		} else {
			rest, err := s.readQuery(body, int64(len(qp)))
			if err != nil {
				return "", nil, fmt.Errorf("read body: %w", err)
			}
			sql = qp
			if len(rest) > 0 {
				sql += "\n" + string(rest)
			}
		}
	} else {
		all, err := s.readQuery(body, 0)
		if err != nil {
			return "", nil, fmt.Errorf("read body: %w", err)
		}
		sql = string(all)
		if ins, isIns = splitInsert(sql); isIns {
			stream = strings.NewReader(ins.data)
		}
	}
	if !isIns && strings.TrimSpace(sql) == "" {
		return "", nil, reqErr(http.StatusBadRequest, codeSyntaxError, "Empty query")
	}

	if req.hello && strings.TrimSpace(sql) == helloQuery {
		return `{"read_rows":"1"}`, s.maybeCompress(req, s.helloBlock()), nil
	}

	sess, err := s.acquire(r.Context())
	if err != nil {
		return "", nil, err
	}
	defer func() { s.pool <- sess }()
	restore, err := s.prepare(sess, req)
	if err != nil {
		return "", nil, err
	}
	defer restore()

	if isIns {
		res, err := s.insert(sess, ins, stream, req.params)
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf(`{"written_rows":"%d","elapsed_ns":"%d"}`, res.RowsWritten, int64(res.Elapsed*1e9)), nil, nil
	}
	if firstKeyword(sql) == "USE" {
		sess.db = "" // the statement changes the session's database
	}
	res, err := sess.conn.Query(sql, req.format, req.params)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf(`{"read_rows":"%d","written_rows":"%d","elapsed_ns":"%d"}`, res.RowsRead, res.RowsWritten, int64(res.Elapsed*1e9)),
		s.maybeCompress(req, res.Data), nil
}

// readQuery reads query text, bounded by MaxQueryBytes: unlike INSERT data,
// it is held in memory whole.
func (s *Server) readQuery(body io.Reader, already int64) ([]byte, error) {
	max := s.cfg.MaxQueryBytes - already
	b, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &http.MaxBytesError{Limit: s.cfg.MaxQueryBytes}
	}
	return b, nil
}

func (s *Server) acquire(ctx context.Context) (*session, error) {
	select {
	case sess := <-s.pool:
		return sess, nil
	case <-ctx.Done():
		return nil, reqErr(http.StatusServiceUnavailable, codeNetworkError, "client went away while waiting for an engine session")
	}
}

// prepare switches the session to the request's database and settings and
// returns what undoes the settings.
func (s *Server) prepare(sess *session, req *request) (func(), error) {
	if sess.db != req.database {
		if _, err := sess.conn.Query("USE "+quoteIdent(req.database), "TabSeparated", nil); err != nil {
			sess.db = ""
			return nil, err
		}
		sess.db = req.database
	}
	if len(req.settings) == 0 {
		return func() {}, nil
	}
	if err := s.loadDefaults(sess); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("SET ")
	for i, kv := range req.settings {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(kv[0] + " = " + quoteString(kv[1]))
	}
	restore := func() {
		var u strings.Builder
		u.WriteString("SET ")
		for i, kv := range req.settings {
			if i > 0 {
				u.WriteString(", ")
			}
			u.WriteString(kv[0] + " = " + quoteString(sess.defaults[kv[0]]))
		}
		if _, err := sess.conn.Query(u.String(), "TabSeparated", nil); err != nil {
			s.log.Warn("restore settings", zap.Error(err))
		}
	}
	if _, err := sess.conn.Query(b.String(), "TabSeparated", nil); err != nil {
		restore()
		return nil, err
	}
	return restore, nil
}

func (s *Server) loadDefaults(sess *session) error {
	if sess.defaults != nil {
		return nil
	}
	res, err := sess.conn.Query("SELECT name, value FROM system.settings", "TabSeparated", nil)
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	sess.defaults = make(map[string]string, len(forwardedSettings))
	for _, line := range strings.Split(string(res.Data), "\n") {
		name, value, ok := strings.Cut(line, "\t")
		if ok && forwardedSettings[name] {
			sess.defaults[name] = unescapeTSV(value)
		}
	}
	return nil
}

// insert streams data into the engine in chunks.
func (s *Server) insert(sess *session, ins insertData, data io.Reader, params []chdb.Param) (*chdb.Result, error) {
	if len(params) > 0 {
		return nil, reqErr(http.StatusBadRequest, codeBadArguments, "query parameters are not supported on INSERT with data")
	}
	st, err := sess.conn.Insert(ins.stmt, ins.format)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<20)
	for {
		n, rerr := io.ReadFull(data, buf)
		if n > 0 {
			if err := st.Append(buf[:n]); err != nil {
				st.Abort()
				return nil, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			st.Abort()
			return nil, fmt.Errorf("read body: %w", rerr)
		}
	}
	return st.Done()
}

// helloBlock encodes clickhouse-go's hello answer at protocol revision
// 54460: block info, then per column a name, a type, a "no custom
// serialization" byte and the value. It reports revision 0, the revision the
// engine's Native output is written at.
func (s *Server) helloBlock() []byte {
	var b []byte
	b = appendUvarint(b, 1)
	b = append(b, 0) // is_overflows
	b = appendUvarint(b, 2)
	b = append(b, 0xff, 0xff, 0xff, 0xff) // bucket_num = -1
	b = appendUvarint(b, 0)
	b = appendUvarint(b, 4) // columns
	b = appendUvarint(b, 1) // rows
	str := func(name, v string) {
		b = appendString(b, name)
		b = appendString(b, "String")
		b = append(b, 0)
		b = appendString(b, v)
	}
	str("displayName()", s.hello.displayName)
	str("version()", s.hello.version)
	b = appendString(b, "revision()")
	b = appendString(b, "UInt32")
	b = append(b, 0)
	b = append(b, 0, 0, 0, 0)
	str("timezone()", s.hello.timezone)
	return b
}

func (s *Server) maybeCompress(req *request, data []byte) []byte {
	if !req.compress || len(data) == 0 {
		return data
	}
	w := compress.NewWriter(compress.LevelZero, req.compression)
	var out bytes.Buffer
	const chunk = 1 << 20
	for len(data) > 0 {
		n := min(len(data), chunk)
		if err := w.Compress(data[:n]); err != nil {
			// Compress only fails on an unknown method, which parseParams rules out.
			panic(fmt.Sprintf("compress: %v", err))
		}
		out.Write(w.Data)
		data = data[n:]
	}
	return out.Bytes()
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendString(b []byte, s string) []byte {
	b = appendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func quoteIdent(s string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(s) + "`"
}

func quoteString(s string) string {
	return "'" + strings.NewReplacer("\\", "\\\\", "'", "\\'").Replace(s) + "'"
}

func unescapeTSV(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	return strings.NewReplacer(`\\`, `\`, `\t`, "\t", `\n`, "\n", `\'`, "'").Replace(s)
}
