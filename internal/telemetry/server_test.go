package telemetry

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func ok(context.Context) error { return nil }

func TestHealthz(t *testing.T) {
	s, err := NewServer(ServerOptions{})
	require.NoError(t, err)
	code, body := get(t, s.Handler(), "/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"ok"}`, body)
}

// TestHandleGetsPathsAsSent: a mounted handler sees every path under its
// prefix unchanged, empty segments included, rather than ServeMux's
// redirect to the cleaned path; other paths still reach the server's own.
func TestHandleGetsPathsAsSent(t *testing.T) {
	s, err := NewServer(ServerOptions{})
	require.NoError(t, err)
	s.Handle("/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	tests := []struct{ path, want string }{
		{"/v1/models//drift", "/v1/models//drift"},
		{"/v1/models/m/../drift", "/v1/models/m/../drift"},
		{"/v1/models", "/v1/models"},
		{"/healthz", `{"status":"ok"}`},
	}
	for _, tt := range tests {
		code, body := get(t, s.Handler(), tt.path)
		assert.Equal(t, http.StatusOK, code, tt.path)
		assert.Equal(t, tt.want, strings.TrimSpace(body), tt.path)
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name     string
		checks   []Check
		wantCode int
		want     ReadyResponse
	}{
		{
			name:     "no checks",
			wantCode: http.StatusOK,
			want:     ReadyResponse{Status: "ok", Checks: []CheckResult{}},
		},
		{
			name:     "all pass",
			checks:   []Check{{"kafka", ok}, {"clickhouse", ok}},
			wantCode: http.StatusOK,
			want:     ReadyResponse{Status: "ok", Checks: []CheckResult{{Name: "kafka", OK: true}, {Name: "clickhouse", OK: true}}},
		},
		{
			name: "one fails",
			checks: []Check{
				{"kafka", ok},
				{"clickhouse", func(context.Context) error { return errors.New("dial tcp 127.0.0.1:8123: connection refused") }},
			},
			wantCode: http.StatusServiceUnavailable,
			want: ReadyResponse{Status: "unavailable", Failed: []string{"clickhouse"}, Checks: []CheckResult{
				{Name: "kafka", OK: true},
				{Name: "clickhouse", Error: checkFailed},
			}},
		},
		{
			name: "timeout and panic",
			checks: []Check{
				{"slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
				{"buggy", func(context.Context) error { panic("boom") }},
			},
			wantCode: http.StatusServiceUnavailable,
			want: ReadyResponse{Status: "unavailable", Failed: []string{"slow", "buggy"}, Checks: []CheckResult{
				{Name: "slow", Error: checkFailed},
				{Name: "buggy", Error: checkFailed},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewServer(ServerOptions{Checks: tt.checks, CheckTimeout: 50 * time.Millisecond})
			require.NoError(t, err)
			code, body := get(t, s.Handler(), "/readyz")
			assert.Equal(t, tt.wantCode, code)
			var got ReadyResponse
			require.NoError(t, json.Unmarshal([]byte(body), &got), body)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestReadyzTimeoutSaysSo: a check cut off by the timeout is logged as
// such, not as the "context canceled" a driver returns.
func TestReadyzTimeoutSaysSo(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	hung := func(ctx context.Context) error { <-ctx.Done(); return errors.New("context canceled") }
	s, err := NewServer(ServerOptions{Logger: zap.New(core), CheckTimeout: 20 * time.Millisecond, Checks: []Check{{"clickhouse", hung}}})
	require.NoError(t, err)
	code, _ := get(t, s.Handler(), "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	warned := logs.FilterMessage("readiness check failing").All()
	require.Len(t, warned, 1)
	assert.Contains(t, warned[0].ContextMap()["error"], "no answer within 20ms")
}

// TestReadyzLogsReasons: /readyz answers without a check's error (it names
// internal addresses and users); the log has it, once per change.
func TestReadyzLogsReasons(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	reason := errors.New("dial tcp 10.0.0.7:8123: user default: connection refused")
	s, err := NewServer(ServerOptions{Logger: zap.New(core), Checks: []Check{{"clickhouse", func(context.Context) error { return reason }}}})
	require.NoError(t, err)
	for range 3 {
		code, body := get(t, s.Handler(), "/readyz")
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.NotContains(t, body, "10.0.0.7")
		assert.NotContains(t, body, "default")
	}
	warned := logs.FilterMessage("readiness check failing").All()
	require.Len(t, warned, 1, "logged once, not per probe")
	assert.Equal(t, reason.Error(), warned[0].ContextMap()["error"])

	// Another error: logged again, but not at every probe (a lag in the
	// message changes each time).
	reason = errors.New("schema not checked yet")
	get(t, s.Handler(), "/readyz")
	assert.Len(t, logs.FilterMessage("readiness check failing").All(), 1, "another error within relogAfter")
	s.relogAfter = 0
	get(t, s.Handler(), "/readyz")
	assert.Len(t, logs.FilterMessage("readiness check failing").All(), 2, "another error after relogAfter")
	// A probe that started before the last one logged is passed over.
	s.logChanges(1, []CheckResult{{Name: "clickhouse", Error: "stale"}})
	assert.Len(t, logs.FilterMessage("readiness check failing").All(), 2, "an older probe's result")
	reason = nil
	code, _ := get(t, s.Handler(), "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Len(t, logs.FilterMessage("readiness check passing again").All(), 1)
}

func TestAddCheck(t *testing.T) {
	s, err := NewServer(ServerOptions{})
	require.NoError(t, err)
	code, _ := get(t, s.Handler(), "/readyz")
	require.Equal(t, http.StatusOK, code)
	s.AddCheck("shutdown", func(context.Context) error { return errors.New("shutting down") })
	code, body := get(t, s.Handler(), "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, `"failed":["shutdown"]`)
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "predlog_ingester_messages_total",
		Help: "Kafka messages consumed, by topic and outcome.",
	}, []string{"topic", "outcome"})
	batch := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "predlog_ingester_batch_rows",
		Help:    "Rows per ClickHouse insert.",
		Buckets: []float64{100, 1000, 10000},
	})
	reg.MustRegister(events, batch)
	events.WithLabelValues("predlog.predictions", "ok").Add(42)
	events.WithLabelValues("predlog.predictions", "dlq").Inc()
	batch.Observe(500)
	batch.Observe(20000)

	s, err := NewServer(ServerOptions{Registry: reg})
	require.NoError(t, err)
	_, err = NewServer(ServerOptions{Registry: reg}) // the runtime collectors may already be there
	require.NoError(t, err)

	code, body := get(t, s.Handler(), "/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "\ngo_goroutines ")
	assert.Contains(t, body, "\nprocess_cpu_seconds_total ")

	// The predlog_ families are deterministic: compare them to the golden file.
	var sample strings.Builder
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "predlog_") || strings.HasPrefix(line, "# HELP predlog_") || strings.HasPrefix(line, "# TYPE predlog_") {
			sample.WriteString(line + "\n")
		}
	}
	golden := "testdata/metrics.golden"
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(sample.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), sample.String())
}

// TestNotFound: the paths no route matches go to the NotFound handler (the
// aggregator's API, whose clients expect its JSON error), those the server
// serves with another method are still a 405, and without one they are
// ServeMux's 404 (the ingester's ops port).
func TestNotFound(t *testing.T) {
	tests := []struct {
		method, path string
		notFound     bool // set a NotFound handler
		wantCode     int
		wantBody     string
	}{
		{"GET", "/", true, http.StatusTeapot, "not found: /"},
		{"GET", "/metrics/", true, http.StatusTeapot, "not found: /metrics/"},
		{"POST", "/nope", true, http.StatusTeapot, "not found: /nope"},
		{"GET", "/healthz", true, http.StatusOK, `{"status":"ok"}`},
		{"POST", "/readyz", true, http.StatusMethodNotAllowed, "Method Not Allowed"},
		{"GET", "/", false, http.StatusNotFound, "404 page not found"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %v", tt.method, tt.path, tt.notFound), func(t *testing.T) {
			s, err := NewServer(ServerOptions{})
			require.NoError(t, err)
			if tt.notFound {
				s.NotFound(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusTeapot)
					_, _ = io.WriteString(w, "not found: "+r.URL.Path)
				}))
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			assert.Equal(t, tt.wantCode, rec.Code)
			assert.Equal(t, tt.wantBody, strings.TrimSpace(rec.Body.String()))
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	s, err := NewServer(ServerOptions{})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/readyz", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

func TestPprof(t *testing.T) {
	tests := []struct {
		name string
		give bool
		path string
		want int
	}{
		{name: "off by default", give: false, path: "/debug/pprof/", want: http.StatusNotFound},
		{name: "index", give: true, path: "/debug/pprof/", want: http.StatusOK},
		{name: "named profile", give: true, path: "/debug/pprof/goroutine?debug=1", want: http.StatusOK},
		// The command line holds secrets passed as flags.
		{name: "no cmdline", give: true, path: "/debug/pprof/cmdline", want: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewServer(ServerOptions{EnablePprof: tt.give})
			require.NoError(t, err)
			code, _ := get(t, s.Handler(), tt.path)
			assert.Equal(t, tt.want, code)
		})
	}
}

func TestRunServesAndStops(t *testing.T) {
	s, err := NewServer(ServerOptions{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	s.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hi") }))
	require.NoError(t, s.Listen())
	addr := s.Addr().String()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	resp, err := http.Get("http://" + addr + "/api/hello")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "hi", string(b))
	http.DefaultClient.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	_, err = http.Get("http://" + addr + "/healthz")
	assert.Error(t, err, "listener must be closed")
}

func TestRunListenError(t *testing.T) {
	a, err := NewServer(ServerOptions{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, a.Listen())
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.NoError(t, a.Run(ctx)) // closes the listener
	}()
	b, err := NewServer(ServerOptions{Addr: a.Addr().String()})
	require.NoError(t, err)
	err = b.Run(context.Background())
	assert.ErrorContains(t, err, "ops server listen:")
}
