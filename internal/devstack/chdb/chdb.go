// Package chdb binds the embedded ClickHouse engine (chDB's libchdb) through
// purego, so that no cgo toolchain is needed and only the devstack links it.
//
// The library is loaded once per process: libchdb boots one engine per data
// path and cannot be reopened on another path while connections are open.
// Each Conn runs one statement at a time; callers serialize per Conn and may
// open several Conns for parallelism.
package chdb

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// lib holds the resolved C entry points. Signatures mirror chdb.h of libchdb
// 26.7; pointers travel as uintptr and byte buffers as *byte plus length so
// binary payloads (Native, RowBinary) survive NUL bytes.
type lib struct {
	version                  func() string
	setSignalHandlersEnabled func(enabled int32)
	connect                  func(argc int32, argv uintptr) unsafe.Pointer
	closeConn                func(connPtr uintptr)
	queryN                   func(conn uintptr, query *byte, queryLen uintptr, format *byte, formatLen uintptr) uintptr
	queryWithParamsN         func(conn uintptr, query *byte, queryLen uintptr, format *byte, formatLen uintptr, names uintptr, nameLens uintptr, values uintptr, valueLens uintptr, count uintptr) uintptr
	destroyResult            func(res uintptr)
	resultBuffer             func(res uintptr) unsafe.Pointer
	resultLength             func(res uintptr) uintptr
	resultError              func(res uintptr) string
	resultRowsRead           func(res uintptr) uint64
	resultRowsWritten        func(res uintptr) uint64
	resultElapsed            func(res uintptr) float64
	streamInsertN            func(conn uintptr, query *byte, queryLen uintptr, format *byte, formatLen uintptr) uintptr
	streamAppend             func(stream uintptr, data *byte, n uintptr) int32
	streamDone               func(stream uintptr) uintptr
	streamInsertError        func(stream uintptr) string
	destroyInsertStream      func(stream uintptr)
}

var (
	loadOnce sync.Once
	loaded   *lib
	loadErr  error
)

// Load opens libchdb at path once per process. Later calls return the first
// outcome, whatever path they pass.
func load(path string) (*lib, error) {
	loadOnce.Do(func() {
		keepFreedMemory()
		h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			loadErr = fmt.Errorf("dlopen %s: %w", path, err)
			return
		}
		l := &lib{}
		reg := []struct {
			fn   any
			name string
		}{
			{&l.version, "chdb_version"},
			{&l.setSignalHandlersEnabled, "chdb_set_signal_handlers_enabled"},
			{&l.connect, "chdb_connect"},
			{&l.closeConn, "chdb_close_conn"},
			{&l.queryN, "chdb_query_n"},
			{&l.queryWithParamsN, "chdb_query_with_params_n"},
			{&l.destroyResult, "chdb_destroy_query_result"},
			{&l.resultBuffer, "chdb_result_buffer"},
			{&l.resultLength, "chdb_result_length"},
			{&l.resultError, "chdb_result_error"},
			{&l.resultRowsRead, "chdb_result_rows_read"},
			{&l.resultRowsWritten, "chdb_result_rows_written"},
			{&l.resultElapsed, "chdb_result_elapsed"},
			{&l.streamInsertN, "chdb_stream_insert_n"},
			{&l.streamAppend, "chdb_stream_append"},
			{&l.streamDone, "chdb_stream_done"},
			{&l.streamInsertError, "chdb_stream_insert_error"},
			{&l.destroyInsertStream, "chdb_destroy_insert_stream"},
		}
		for _, r := range reg {
			if _, err := purego.Dlsym(h, r.name); err != nil {
				loadErr = fmt.Errorf("%s: missing symbol %s (libchdb older than 26.7?)", path, r.name)
				return
			}
			purego.RegisterLibFunc(r.fn, h, r.name)
		}
		// The engine's own SIGSEGV/SIGINT handlers would fight the Go
		// runtime's; turn them off before the first connect.
		l.setSignalHandlersEnabled(0)
		loaded = l
	})
	return loaded, loadErr
}

// Engine is the embedded ClickHouse engine rooted at one data directory.
type Engine struct {
	lib     *lib
	path    string
	mu      sync.Mutex
	anchor  *Conn // keeps the engine booted while pools come and go
	closed  bool
	Version string
}

// Open loads libPath and boots the engine on dataDir. Only one Engine per
// process may be open.
func Open(libPath, dataDir string) (*Engine, error) {
	l, err := load(libPath)
	if err != nil {
		return nil, err
	}
	e := &Engine{lib: l, path: dataDir, Version: l.version()}
	c, err := e.Connect()
	if err != nil {
		return nil, err
	}
	e.anchor = c
	return e, nil
}

// Connect opens another session on the engine. Sessions keep their own
// current database and settings.
func (e *Engine) Connect() (*Conn, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("chdb: engine closed")
	}
	args := []string{"chdb", "--path=" + e.path}
	cargs := make([][]byte, len(args))
	argv := make([]uintptr, len(args)+1)
	for i, a := range args {
		cargs[i] = append([]byte(a), 0)
		argv[i] = uintptr(unsafe.Pointer(&cargs[i][0]))
	}
	p := e.lib.connect(int32(len(args)), uintptr(unsafe.Pointer(&argv[0])))
	runtime.KeepAlive(cargs)
	runtime.KeepAlive(argv)
	if p == nil {
		return nil, fmt.Errorf("chdb: connect to %s failed", e.path)
	}
	return &Conn{e: e, ptr: uintptr(p), handle: *(*uintptr)(p)}, nil
}

// Close closes the anchor session; the engine stops with the last session.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.anchor.Close()
	return nil
}

// Conn is one engine session. It is not safe for concurrent use.
type Conn struct {
	e      *Engine
	ptr    uintptr // chdb_connection*
	handle uintptr // chdb_connection
}

// Close ends the session.
func (c *Conn) Close() {
	if c.ptr == 0 {
		return
	}
	c.e.lib.closeConn(c.ptr)
	c.ptr, c.handle = 0, 0
}

// Error is an engine exception. Code is the ClickHouse error code parsed from
// the "Code: N." prefix, 0 when absent.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Result is a materialized query result. Data is copied out of the engine.
type Result struct {
	Data        []byte
	RowsRead    uint64
	RowsWritten uint64
	Elapsed     float64
}

// Param is a named query parameter bound server-side ({name:Type}).
type Param struct{ Name, Value string }

// Query runs one statement and returns its output in format. Params bind
// {name:Type} placeholders; values never become SQL text.
func (c *Conn) Query(query, format string, params []Param) (*Result, error) {
	if c.handle == 0 {
		return nil, errors.New("chdb: connection closed")
	}
	q := bytesOf(query)
	f := bytesOf(format)
	var res uintptr
	if len(params) == 0 {
		res = c.e.lib.queryN(c.handle, ptrOf(q), uintptr(len(query)), ptrOf(f), uintptr(len(format)))
	} else {
		names := make([]uintptr, len(params))
		nameLens := make([]uintptr, len(params))
		values := make([]uintptr, len(params))
		valueLens := make([]uintptr, len(params))
		keep := make([][]byte, 0, 2*len(params))
		for i, p := range params {
			n, v := bytesOf(p.Name), bytesOf(p.Value)
			keep = append(keep, n, v)
			names[i], nameLens[i] = uintptr(unsafe.Pointer(ptrOf(n))), uintptr(len(p.Name))
			values[i], valueLens[i] = uintptr(unsafe.Pointer(ptrOf(v))), uintptr(len(p.Value))
		}
		res = c.e.lib.queryWithParamsN(c.handle, ptrOf(q), uintptr(len(query)), ptrOf(f), uintptr(len(format)),
			uintptr(unsafe.Pointer(&names[0])), uintptr(unsafe.Pointer(&nameLens[0])),
			uintptr(unsafe.Pointer(&values[0])), uintptr(unsafe.Pointer(&valueLens[0])), uintptr(len(params)))
		runtime.KeepAlive(keep)
		runtime.KeepAlive(names)
		runtime.KeepAlive(nameLens)
		runtime.KeepAlive(values)
		runtime.KeepAlive(valueLens)
	}
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	return c.takeResult(res)
}

func (c *Conn) takeResult(res uintptr) (*Result, error) {
	if res == 0 {
		return nil, errors.New("chdb: engine returned no result")
	}
	defer c.e.lib.destroyResult(res)
	if msg := c.e.lib.resultError(res); msg != "" {
		return nil, newError(msg)
	}
	out := &Result{
		RowsRead:    c.e.lib.resultRowsRead(res),
		RowsWritten: c.e.lib.resultRowsWritten(res),
		Elapsed:     c.e.lib.resultElapsed(res),
	}
	if n := c.e.lib.resultLength(res); n > 0 {
		buf := c.e.lib.resultBuffer(res)
		out.Data = append([]byte(nil), unsafe.Slice((*byte)(buf), n)...)
	}
	return out, nil
}

// InsertStream feeds one INSERT with data in chunks, so bodies of any size
// go to the engine without being spliced into SQL text.
type InsertStream struct {
	c      *Conn
	handle uintptr
}

// Insert begins a streaming INSERT. query must not carry FORMAT or data.
func (c *Conn) Insert(query, format string) (*InsertStream, error) {
	if c.handle == 0 {
		return nil, errors.New("chdb: connection closed")
	}
	q, f := bytesOf(query), bytesOf(format)
	h := c.e.lib.streamInsertN(c.handle, ptrOf(q), uintptr(len(query)), ptrOf(f), uintptr(len(format)))
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	if h == 0 {
		return nil, errors.New("chdb: engine returned no insert stream")
	}
	if msg := c.e.lib.streamInsertError(h); msg != "" {
		c.e.lib.destroyInsertStream(h)
		c.endFailedStream()
		return nil, newError(msg)
	}
	return &InsertStream{c: c, handle: h}, nil
}

// Append copies p into the engine.
func (s *InsertStream) Append(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	rc := s.c.e.lib.streamAppend(s.handle, &p[0], uintptr(len(p)))
	runtime.KeepAlive(p)
	if rc != 0 {
		if msg := s.c.e.lib.streamInsertError(s.handle); msg != "" {
			return newError(msg)
		}
		return errors.New("chdb: stream append failed")
	}
	return nil
}

// Done commits the insert and frees the stream.
func (s *InsertStream) Done() (*Result, error) {
	res := s.c.e.lib.streamDone(s.handle)
	out, err := s.c.takeResult(res)
	s.free()
	if err != nil {
		s.c.endFailedStream()
	}
	return out, err
}

// Abort cancels the insert (what was already written into parts stays, as in
// ClickHouse) and frees the stream.
func (s *InsertStream) Abort() {
	s.free()
	s.c.endFailedStream()
}

// endFailedStream ends the engine's record of a failed insert stream: it
// stays in system.processes, holding its table, until the connection runs
// another query, and a DROP of that table from another connection would
// wait for it forever.
func (c *Conn) endFailedStream() { _, _ = c.Query("SELECT 1", "TabSeparated", nil) }

func (s *InsertStream) free() {
	if s.handle != 0 {
		s.c.e.lib.destroyInsertStream(s.handle)
		s.handle = 0
	}
}

// newError parses "Code: 62. DB::Exception: ..." into an Error.
func newError(msg string) *Error {
	e := &Error{Msg: strings.TrimSpace(msg)}
	rest, ok := strings.CutPrefix(e.Msg, "Code: ")
	if ok {
		n := 0
		for _, r := range rest {
			if r < '0' || r > '9' {
				break
			}
			n = n*10 + int(r-'0')
		}
		e.Code = n
	}
	return e
}

// bytesOf returns s as a NUL-terminated byte slice; the NUL keeps engine code
// that still calls strlen safe, the explicit lengths keep binary data intact.
func bytesOf(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

func ptrOf(b []byte) *byte { return &b[0] }
