package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// CheckFunc reports whether a dependency is ready; nil means ready. It must
// return promptly once ctx is done.
type CheckFunc func(ctx context.Context) error

// Check is a named readiness check, e.g. {"clickhouse", db.Ping}.
type Check struct {
	Name string
	Func CheckFunc
}

// ServerOptions configures the ops HTTP server.
type ServerOptions struct {
	// Addr to listen on, e.g. ":9464".
	Addr string
	// Logger; nil logs nothing.
	Logger *zap.Logger
	// Registry served on /metrics. NewServer adds the Go and process
	// collectors to it. Nil uses a fresh registry.
	Registry *prometheus.Registry
	// Checks run on every /readyz request; more can be added with AddCheck.
	Checks []Check
	// CheckTimeout bounds one /readyz request. Default 5s.
	CheckTimeout time.Duration
	// ShutdownTimeout bounds draining open requests on stop. Default 5s.
	ShutdownTimeout time.Duration
	// EnablePprof mounts net/http/pprof under /debug/pprof/ (CPU and heap
	// profiles, goroutine dumps). Off by default: profiles expose internals
	// and a CPU profile costs a few percent while it runs.
	EnablePprof bool
}

// Server serves /metrics, /healthz and /readyz, plus any handlers mounted
// with Handle (the aggregator's API shares the listener). Run it as an
// oklog/run actor through Run(ctx).
type Server struct {
	log             *zap.Logger
	addr            string
	mux             *http.ServeMux
	mounts          []mount // before mux, by path prefix (Handle)
	notFound        http.Handler
	checkTimeout    time.Duration
	shutdownTimeout time.Duration

	mu     sync.Mutex
	checks []Check
	ln     net.Listener
	// failing is each failing check's error as last logged: /readyz
	// answers without it (errors name internal addresses and users, and
	// the listener may be shared with the aggregator's API).
	failing map[string]failure
	// relogAfter: a failing check whose error changed is logged again only
	// this long after the last time (some errors change at every probe).
	relogAfter time.Duration
	probes     atomic.Uint64 // /readyz probes started
	logged     uint64        // the newest probe logged, under mu
}

type failure struct {
	err string
	at  time.Time
}

// NewServer builds the server; it does not listen yet.
func NewServer(opts ServerOptions) (*Server, error) {
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return nil, fmt.Errorf("register runtime collectors: %w", err)
		}
	}
	s := &Server{
		log:             opts.Logger,
		addr:            opts.Addr,
		mux:             http.NewServeMux(),
		checkTimeout:    opts.CheckTimeout,
		shutdownTimeout: opts.ShutdownTimeout,
		failing:         map[string]failure{},
		relogAfter:      5 * time.Minute,
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.checkTimeout <= 0 {
		s.checkTimeout = 5 * time.Second
	}
	if s.shutdownTimeout <= 0 {
		s.shutdownTimeout = 5 * time.Second
	}
	for _, c := range opts.Checks {
		s.AddCheck(c.Name, c.Func)
	}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: zap.NewStdLog(s.log),
		Registry: reg, // counts its own errors
	})
	s.mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg, metrics))
	s.mux.HandleFunc("GET /healthz", handleHealthz)
	s.mux.HandleFunc("GET /readyz", s.handleReadyz)
	if opts.EnablePprof {
		s.mux.HandleFunc("GET /debug/pprof/", pprof.Index) // also serves heap, goroutine, allocs, block, mutex
		// No /debug/pprof/cmdline: the command line holds whatever secrets
		// were passed as flags (--clickhouse.dsn with a password), and
		// the aggregator's ops port is its public API port.
		s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return s, nil
}

// Handle mounts h on every path under prefix (which ends in "/"), as it
// came: the server's ServeMux would answer a path with an empty or dot
// segment (an empty id) with a redirect to another path, which h does its
// own routing to refuse. Call before Run.
func (s *Server) Handle(prefix string, h http.Handler) {
	s.mounts = append(s.mounts, mount{prefix, h})
}

type mount struct {
	prefix string
	h      http.Handler
}

// NotFound sets the handler of the paths neither a mount nor the server's
// routes match, instead of ServeMux's text/plain 404: the aggregator's API
// shares the listener, and its clients expect its JSON error on any path
// (/, /v1, /metrics/). A path the server serves with another method still
// answers 405. Call before Run.
func (s *Server) NotFound(h http.Handler) { s.notFound = h }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	for _, m := range s.mounts {
		if strings.HasPrefix(r.URL.Path, m.prefix) {
			m.h.ServeHTTP(w, r)
			return
		}
	}
	if s.notFound != nil && !s.routed(r) {
		s.notFound.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// routed reports whether the mux has a route for r's path, with r's
// method or GET (a 405), or redirects it to one.
func (s *Server) routed(r *http.Request) bool {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		return true
	}
	get := r.Clone(r.Context())
	get.Method = http.MethodGet
	_, pattern := s.mux.Handler(get)
	return pattern != ""
}

// AddCheck adds a readiness check; safe to call while serving.
func (s *Server) AddCheck(name string, fn CheckFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, Check{Name: name, Func: fn})
}

// Handler returns the server's routes, for tests.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Listen binds the address now, so a busy port fails startup before anything
// else runs. Run calls it if it has not been called.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("ops server listen: %w", err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Run serves until ctx is done, then stops accepting and drains open
// requests for up to ShutdownTimeout. It returns nil after a clean stop.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()

	srv := &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		// Idle keep-alive connections are closed rather than held for
		// ever (each holds a goroutine and a file descriptor).
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    zap.NewStdLog(s.log),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("ops server listening", zap.Stringer("addr", ln.Addr()))

	select {
	case err := <-served:
		return fmt.Errorf("ops server: %w", err)
	case <-ctx.Done():
	}
	start := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		err = fmt.Errorf("ops server shutdown: %w", err)
		_ = srv.Close()
	}
	<-served // Serve has returned http.ErrServerClosed; the goroutine is done
	s.log.Info("ops server stopped", zap.Duration("took", time.Since(start)))
	return err
}

func handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// checkFailed is a failing check's error in the /readyz body.
const checkFailed = "failing; the log has the reason"

// CheckResult is one entry of the /readyz body.
type CheckResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// ReadyResponse is the /readyz body: status "ok" with 200, or "unavailable"
// with 503 and the names of the failing checks.
type ReadyResponse struct {
	Status string        `json:"status"`
	Failed []string      `json:"failed,omitempty"`
	Checks []CheckResult `json:"checks"`
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	probe := s.probes.Add(1)
	s.mu.Lock()
	checks := append([]Check(nil), s.checks...)
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(r.Context(), s.checkTimeout)
	defer cancel()
	results := make([]CheckResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					results[i] = CheckResult{Name: c.Name, Error: fmt.Sprintf("panic: %v", p)}
				}
			}()
			results[i] = CheckResult{Name: c.Name, OK: true}
			if err := c.Func(ctx); err != nil {
				if ctx.Err() == context.DeadlineExceeded {
					// The driver says "context canceled" or worse: say
					// what happened.
					err = fmt.Errorf("no answer within %v (a hung peer, or one too busy to answer): %w", s.checkTimeout, err)
				}
				results[i] = CheckResult{Name: c.Name, Error: err.Error()}
			}
		})
	}
	wg.Wait()

	s.logChanges(probe, results)
	resp := ReadyResponse{Status: "ok", Checks: results}
	for i, res := range results {
		if !res.OK {
			resp.Failed = append(resp.Failed, res.Name)
			results[i].Error = checkFailed
		}
	}
	code := http.StatusOK
	if len(resp.Failed) > 0 {
		resp.Status, code = "unavailable", http.StatusServiceUnavailable
		s.log.Debug("not ready", zap.Strings("failed", resp.Failed))
	}
	writeJSON(w, code, resp)
}

// logChanges logs, from the results of probe, a check that starts failing
// (a warning), fails with another error (again at most every relogAfter)
// and recovers: not every probe. Results of a probe older than one already
// logged are passed over (parallel probes finish in any order).
func (s *Server) logChanges(probe uint64, results []CheckResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if probe < s.logged {
		return
	}
	s.logged = probe
	now := time.Now()
	for _, res := range results {
		was, failed := s.failing[res.Name]
		switch {
		case !res.OK && (!failed || was.err != res.Error && now.Sub(was.at) >= s.relogAfter):
			s.failing[res.Name] = failure{res.Error, now}
			s.log.Warn("readiness check failing", zap.String("check", res.Name), zap.String("error", res.Error))
		case res.OK && failed:
			delete(s.failing, res.Name)
			s.log.Info("readiness check passing again", zap.String("check", res.Name))
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // client gone: nothing to do
}
