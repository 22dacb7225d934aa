package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/predlog/predlog/internal/telemetry"
)

// fakeStore implements Store with function fields; a nil field answers
// with no rows.
type fakeStore struct {
	models            func(ctx context.Context, limit int) ([]ModelSummary, error)
	volumes           func(ctx context.Context, since time.Time, limit int) (map[string]Volume, error)
	modelVersions     func(ctx context.Context, id string, limit int) ([]ModelVersion, error)
	servedVersions    func(ctx context.Context, id string, limit int) ([]string, error)
	trainingJobs      func(ctx context.Context, id string, limit int) ([]TrainingJob, error)
	featureImportance func(ctx context.Context, id string, limit int) ([]FeatureImportance, error)
	baselines         func(ctx context.Context, id string, limit int) ([]Baseline, error)
	performance       func(ctx context.Context, q WindowQuery, limit int) ([]PerformanceWindow, error)
	predictions       func(ctx context.Context, q WindowQuery, limit int) ([]Prediction, error)
	drift             func(ctx context.Context, q WindowQuery, feature string, limit int) ([]DriftWindow, error)
	driftFeatures     func(ctx context.Context, q WindowQuery, limit int) ([]string, error)
	experiments       func(ctx context.Context, limit int) ([]ExperimentSummary, error)
	experimentWindows func(ctx context.Context, id string) ([]ExperimentWindow, error)
	abResults         func(ctx context.Context, id string, w ExperimentWindow, limit int) ([]ABResult, error)
}

var _ Store = (*fakeStore)(nil)

func (f *fakeStore) Experiments(ctx context.Context, limit int) ([]ExperimentSummary, error) {
	if f.experiments == nil {
		return nil, nil
	}
	return f.experiments(ctx, limit)
}

func (f *fakeStore) Models(ctx context.Context, limit int) ([]ModelSummary, error) {
	if f.models == nil {
		return nil, nil
	}
	return f.models(ctx, limit)
}

func (f *fakeStore) Volumes(ctx context.Context, since time.Time, limit int) (map[string]Volume, error) {
	if f.volumes == nil {
		return nil, nil
	}
	return f.volumes(ctx, since, limit)
}

func (f *fakeStore) ModelVersions(ctx context.Context, id string, limit int) ([]ModelVersion, error) {
	if f.modelVersions == nil {
		return nil, nil
	}
	return f.modelVersions(ctx, id, limit)
}

func (f *fakeStore) ServedVersions(ctx context.Context, id string, limit int) ([]string, error) {
	if f.servedVersions == nil {
		return nil, nil
	}
	return f.servedVersions(ctx, id, limit)
}

func (f *fakeStore) TrainingJobs(ctx context.Context, id string, limit int) ([]TrainingJob, error) {
	if f.trainingJobs == nil {
		return nil, nil
	}
	return f.trainingJobs(ctx, id, limit)
}

func (f *fakeStore) Baselines(ctx context.Context, id string, limit int) ([]Baseline, error) {
	if f.baselines == nil {
		return nil, nil
	}
	return f.baselines(ctx, id, limit)
}

func (f *fakeStore) FeatureImportance(ctx context.Context, id string, limit int) ([]FeatureImportance, error) {
	if f.featureImportance == nil {
		return nil, nil
	}
	return f.featureImportance(ctx, id, limit)
}

func (f *fakeStore) PerformanceWindows(ctx context.Context, q WindowQuery, limit int) ([]PerformanceWindow, error) {
	if f.performance == nil {
		return nil, nil
	}
	return f.performance(ctx, q, limit)
}

func (f *fakeStore) RecentPredictions(ctx context.Context, q WindowQuery, limit int) ([]Prediction, error) {
	if f.predictions == nil {
		return nil, nil
	}
	return f.predictions(ctx, q, limit)
}

func (f *fakeStore) DriftFeatures(ctx context.Context, q WindowQuery, limit int) ([]string, error) {
	if f.driftFeatures == nil {
		return nil, nil
	}
	return f.driftFeatures(ctx, q, limit)
}

func (f *fakeStore) DriftWindows(ctx context.Context, q WindowQuery, feature string, limit int) ([]DriftWindow, error) {
	if f.drift == nil {
		return nil, nil
	}
	return f.drift(ctx, q, feature, limit)
}

func (f *fakeStore) ExperimentWindows(ctx context.Context, id string) ([]ExperimentWindow, error) {
	if f.experimentWindows == nil {
		return nil, nil
	}
	return f.experimentWindows(ctx, id)
}

func (f *fakeStore) ABResults(ctx context.Context, id string, w ExperimentWindow, limit int) ([]ABResult, error) {
	if f.abResults == nil {
		return nil, nil
	}
	return f.abResults(ctx, id, w, limit)
}

var testNow = time.Date(2026, 5, 17, 12, 30, 15, 0, time.UTC)

func newTestHandler(t *testing.T, store Store, mod ...func(*Options)) *Handler {
	t.Helper()
	opts := Options{Store: store, Now: func() time.Time { return testNow }}
	for _, m := range mod {
		m(&opts)
	}
	h, err := New(opts)
	require.NoError(t, err)
	return h
}

func serve(t *testing.T, h http.Handler, method, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return rec.Code, body
}

func f64(v float64) *float64 { return &v }

func known(id string) func(context.Context, string, int) ([]ModelVersion, error) {
	return func(_ context.Context, got string, _ int) ([]ModelVersion, error) {
		if got != id {
			return nil, nil
		}
		return []ModelVersion{{ModelID: id, ModelVersion: "2"}, {ModelID: id, ModelVersion: "1"}}, nil
	}
}

// TestPerformanceQuery: the parameters reach the store resolved, the
// period starts on a window boundary, and undefined metrics are null.
func TestPerformanceQuery(t *testing.T) {
	var got WindowQuery
	var gotLimit int
	store := &fakeStore{
		modelVersions: known("m"),
		performance: func(_ context.Context, q WindowQuery, limit int) ([]PerformanceWindow, error) {
			got, gotLimit = q, limit
			return []PerformanceWindow{{F1: f64(math.NaN()), PredictionCount: 1}}, nil
		},
	}
	h := newTestHandler(t, store)
	tests := []struct {
		path string
		want WindowQuery
	}{
		{"/v1/models/m/performance", WindowQuery{ModelID: "m", Version: "*", Granularity: "1h",
			From: time.Date(2026, 4, 17, 12, 0, 0, 0, time.UTC), To: testNow}},
		{"/v1/models/m/performance?days=2&granularity=1d&version=v%271", WindowQuery{ModelID: "m", Version: "v'1", Granularity: "1d",
			From: time.Date(2026, 5, 15, 0, 0, 0, 0, time.UTC), To: testNow}},
		{"/v1/models/m/performance?days=1&granularity=1m", WindowQuery{ModelID: "m", Version: "*", Granularity: "1m",
			From: time.Date(2026, 5, 16, 12, 30, 0, 0, time.UTC), To: testNow}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body := serve(t, h, http.MethodGet, tt.path)
			require.Equal(t, http.StatusOK, code, body)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, DefaultMaxWindows+1, gotLimit)
			hist := body["history"].([]any)
			assert.Nil(t, hist[0].(map[string]any)["f1"])
			assert.Equal(t, []any{}, body["recent_predictions"])
		})
	}

	// Without 1h, and with sizes that do not divide a day: the defaults
	// make a valid request (the default granularity is the finest that 30
	// days fit in; days given no more than the granularity allows), and
	// periods start where the aggregator's epoch-aligned windows do.
	h = newTestHandler(t, store, func(o *Options) { o.Granularities = []string{"7d", "1m", "10m"} })
	for _, tt := range []struct {
		path     string
		want     WindowQuery
		wantDays float64
	}{
		{"/v1/models/m/performance", WindowQuery{ModelID: "m", Version: "*", Granularity: "10m",
			From: time.Date(2026, 4, 17, 12, 30, 0, 0, time.UTC), To: testNow}, 30},
		{"/v1/models/m/performance?granularity=1m", WindowQuery{ModelID: "m", Version: "*", Granularity: "1m",
			From: time.Date(2026, 5, 11, 12, 30, 0, 0, time.UTC), To: testNow}, 6},
		{"/v1/models/m/performance?granularity=7d&days=30", WindowQuery{ModelID: "m", Version: "*", Granularity: "7d",
			From: time.Date(2026, 4, 16, 0, 0, 0, 0, time.UTC), To: testNow}, 30}, // a Thursday, as 1970-01-01
	} {
		t.Run(tt.path, func(t *testing.T) {
			code, body := serve(t, h, http.MethodGet, tt.path)
			require.Equal(t, http.StatusOK, code, body)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantDays, body["query"].(map[string]any)["days"])
		})
	}
	code, body := serve(t, h, http.MethodGet, "/v1/models/m/performance?granularity=1m&days=7")
	assert.Equal(t, http.StatusBadRequest, code, "days given are not shortened")
	assert.Equal(t, "days", body["parameter"])
}

// TestFinerGranularityFallback: a model younger than one window of the
// default granularity (no 1h window yet) is answered with its minutes when
// the request names no granularity; never when it names one, nor by
// shortening days it gave.
func TestFinerGranularityFallback(t *testing.T) {
	var asked []string
	store := &fakeStore{
		modelVersions: known("m"),
		performance: func(_ context.Context, q WindowQuery, _ int) ([]PerformanceWindow, error) {
			asked = append(asked, q.Granularity)
			if q.Granularity != "1m" {
				return nil, nil
			}
			return []PerformanceWindow{{PredictionCount: 7}}, nil
		},
		drift: func(_ context.Context, q WindowQuery, feature string, _ int) ([]DriftWindow, error) {
			asked = append(asked, q.Granularity)
			if q.Granularity != "1m" || (feature != "" && feature != "x") {
				return nil, nil
			}
			return []DriftWindow{{ModelVersion: "1", Feature: "x", FeatureType: "numeric", WindowStart: testNow.Add(-time.Minute)}}, nil
		},
	}
	h := newTestHandler(t, store, func(o *Options) { o.SliceKeys = []string{"tenant"} })
	tests := []struct {
		path      string
		wantGran  string
		wantDays  float64
		wantFound bool
		wantAsked []string
	}{
		{"/v1/models/m/performance", "1m", 6, true, []string{"1h", "1m"}},
		{"/v1/models/m/performance?days=2", "1m", 2, true, []string{"1h", "1m"}},
		{"/v1/models/m/performance?days=7", "1h", 7, false, []string{"1h"}},
		{"/v1/models/m/performance?granularity=1h", "1h", 30, false, []string{"1h"}},
		{"/v1/models/m/drift", "1m", 6, true, []string{"1h", "1m"}},
		{"/v1/models/m/drift?granularity=1h", "1h", 7, false, []string{"1h"}},
		{"/v1/models/m/drift?feature=x", "1m", 6, true, []string{"1h", "1m"}},
		{"/v1/models/m/slices?slice_key=tenant", "1m", 6, true, []string{"1h", "1m"}},
		{"/v1/models/m/slices?slice_key=tenant&granularity=1h", "1h", 30, false, []string{"1h"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			asked = nil
			code, body := serve(t, h, http.MethodGet, tt.path)
			require.Equal(t, http.StatusOK, code, body)
			q := body["query"].(map[string]any)
			assert.Equal(t, tt.wantGran, q["granularity"])
			assert.Equal(t, tt.wantDays, q["days"])
			assert.Equal(t, tt.wantAsked, asked)
			list := "history"
			switch {
			case strings.Contains(tt.path, "/drift"):
				list = "features"
			case strings.Contains(tt.path, "/slices"):
				list = "slices"
			}
			assert.Equal(t, tt.wantFound, len(body[list].([]any)) > 0, body[list])
		})
	}

	// A misspelt feature of such a model: a 404 naming its 1m features.
	store.driftFeatures = func(_ context.Context, q WindowQuery, _ int) ([]string, error) {
		if q.Granularity != "1m" {
			return nil, nil
		}
		return []string{"x"}, nil
	}
	code, body := serve(t, h, http.MethodGet, "/v1/models/m/drift?feature=y")
	assert.Equal(t, http.StatusNotFound, code, body)
	assert.Contains(t, body["message"], `features with 1m drift: "x"`)
}

func TestPerformanceTruncated(t *testing.T) {
	store := &fakeStore{
		performance: func(_ context.Context, _ WindowQuery, limit int) ([]PerformanceWindow, error) {
			out := make([]PerformanceWindow, limit) // oldest first
			for i := range out {
				out[i].PredictionCount = uint64(i)
			}
			return out, nil
		},
	}
	h := newTestHandler(t, store, func(o *Options) { o.MaxWindows = 48 })
	code, body := serve(t, h, http.MethodGet, "/v1/models/m/performance?days=2")
	require.Equal(t, http.StatusOK, code, body)
	hist := body["history"].([]any)
	require.Len(t, hist, 48)
	assert.Equal(t, 1.0, hist[0].(map[string]any)["prediction_count"], "the oldest window is cut")
	assert.Equal(t, true, body["truncated"])
	assert.Nil(t, body["model"], "no metadata record")

	code, body = serve(t, h, http.MethodGet, "/v1/models/m/performance?days=3&granularity=1h")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "days", body["parameter"])
	// Without a granularity, the finest that the days fit in.
	code, body = serve(t, h, http.MethodGet, "/v1/models/m/performance?days=3")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "1d", body["query"].(map[string]any)["granularity"])
}

func TestErrors(t *testing.T) {
	boom := errors.New("connection refused")
	tests := []struct {
		name     string
		store    *fakeStore
		opts     func(*Options)
		method   string
		path     string
		wantCode int
		wantErr  string // code field
	}{
		{name: "store error", store: &fakeStore{modelVersions: func(context.Context, string, int) ([]ModelVersion, error) { return nil, boom }},
			path: "/v1/models/m", wantCode: 500, wantErr: "internal"},
		{name: "ClickHouse unreachable", store: &fakeStore{models: func(context.Context, int) ([]ModelSummary, error) {
			return nil, fmt.Errorf("models: %w", &net.OpError{Op: "dial", Net: "tcp", Err: boom})
		}}, path: "/v1/models", wantCode: 503, wantErr: "unavailable"},
		{name: "table renamed away", store: &fakeStore{models: func(context.Context, int) ([]ModelSummary, error) {
			return nil, fmt.Errorf("models: %w", &clickhouse.HTTPError{StatusCode: 404, Err: &clickhouse.Exception{Code: 60, Name: "DB::Exception",
				Message: "Unknown table expression identifier 'models'; connection refused"}})
		}}, path: "/v1/models", wantCode: 503, wantErr: "unavailable"},
		{name: "database dropped", store: &fakeStore{modelVersions: func(context.Context, string, int) ([]ModelVersion, error) {
			return nil, fmt.Errorf("model versions: %w", &clickhouse.Exception{Code: 81, Message: "Database predlog does not exist; connection refused"})
		}}, path: "/v1/models/m", wantCode: 503, wantErr: "unavailable"},
		{name: "ClickHouse went away mid-answer", store: &fakeStore{models: func(context.Context, int) ([]ModelSummary, error) {
			return nil, fmt.Errorf("models: read: %w", io.ErrUnexpectedEOF)
		}}, path: "/v1/models", wantCode: 503, wantErr: "unavailable"},
		{name: "socket deadline", store: &fakeStore{models: func(context.Context, int) ([]ModelSummary, error) {
			return nil, fmt.Errorf("models: %w", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded})
		}}, path: "/v1/models", wantCode: 504, wantErr: "timeout"},
		{name: "TLS alert", store: &fakeStore{models: func(context.Context, int) ([]ModelSummary, error) {
			return nil, fmt.Errorf("models: %w", &net.OpError{Op: "remote error", Err: boom})
		}}, path: "/v1/models", wantCode: 500, wantErr: "internal"},
		{name: "client gone", store: &fakeStore{models: func(context.Context, int) ([]ModelSummary, error) {
			return nil, fmt.Errorf("models: %w", context.Canceled)
		}}, path: "/v1/models", wantCode: 499, wantErr: "canceled"},
		{name: "connection closed at the deadline", store: &fakeStore{models: func(ctx context.Context, _ int) ([]ModelSummary, error) {
			dl, _ := ctx.Deadline()
			time.Sleep(time.Until(dl) - 20*time.Millisecond)
			return nil, fmt.Errorf("models: read: %w", io.EOF)
		}}, opts: func(o *Options) { o.Timeout = 200 * time.Millisecond }, path: "/v1/models", wantCode: 504, wantErr: "timeout"},
		{name: "deadline", store: &fakeStore{models: func(ctx context.Context, _ int) ([]ModelSummary, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}}, opts: func(o *Options) { o.Timeout = time.Millisecond }, path: "/v1/models", wantCode: 504, wantErr: "timeout"},
		{name: "not ready", store: &fakeStore{}, opts: func(o *Options) {
			o.Ready = func(context.Context) error { return fmt.Errorf("ping http://default@10.0.0.1:8123: %w", boom) }
		}, path: "/v1/models", wantCode: 503, wantErr: "unavailable"},
		{name: "post", store: &fakeStore{}, method: http.MethodPost, path: "/v1/models", wantCode: 405, wantErr: "method_not_allowed"},
		{name: "delete", store: &fakeStore{}, method: http.MethodDelete, path: "/v1/models/m", wantCode: 405, wantErr: "method_not_allowed"},
		{name: "unknown endpoint", store: &fakeStore{}, path: "/v1/models/m/nope", wantCode: 404, wantErr: "not_found"},
		{name: "post to an unknown endpoint", store: &fakeStore{}, method: http.MethodPost, path: "/v1/nope", wantCode: 404, wantErr: "not_found"},
		{name: "unknown model", store: &fakeStore{}, path: "/v1/models/m", wantCode: 404, wantErr: "not_found"},
		{name: "unknown experiment", store: &fakeStore{}, path: "/v1/experiments/e", wantCode: 404, wantErr: "not_found"},
		{name: "list takes no parameters", store: &fakeStore{}, path: "/v1/models?days=1", wantCode: 400, wantErr: "invalid_parameter"},
		{name: "bad query string", store: &fakeStore{}, path: "/v1/models/m/performance?days=%zz", wantCode: 400, wantErr: "invalid_parameter"},
		{name: "control character", store: &fakeStore{}, path: "/v1/models/a%00b", wantCode: 400, wantErr: "invalid_parameter"},
		{name: "empty id", store: &fakeStore{}, path: "/v1/models//performance", wantCode: 400, wantErr: "invalid_parameter"},
		{name: "empty experiment id", store: &fakeStore{}, path: "/v1/experiments//", wantCode: 404, wantErr: "not_found"}, // as /v1/experiments/e/
		{name: "dot id", store: &fakeStore{}, path: "/v1/experiments/.", wantCode: 400, wantErr: "invalid_parameter"},
		{name: "dot model id", store: &fakeStore{}, path: "/v1/models/../drift", wantCode: 400, wantErr: "invalid_parameter"},
		{name: "dot segment", store: &fakeStore{}, path: "/v1/models/m/../drift", wantCode: 404, wantErr: "not_found"}, // as /v1/models/m/x/drift
		{name: "encoded slashes are part of the id", store: &fakeStore{}, path: "/v1/models/s3:%2F%2Fbucket%2F..%2Fchurn", wantCode: 404, wantErr: "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mods []func(*Options)
			if tt.opts != nil {
				mods = append(mods, tt.opts)
			}
			h := newTestHandler(t, tt.store, mods...)
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			code, body := serve(t, h, method, tt.path)
			assert.Equal(t, tt.wantCode, code, body)
			assert.Equal(t, tt.wantErr, body["code"])
			assert.NotContains(t, body["message"], "connection refused", "internals stay in the log")
		})
	}
}

// TestUnmatchedPaths: a path no endpoint has answers the JSON error of
// api/openapi.yaml, naming the endpoints, also outside /v1/ (the handler
// answers the listener's unmatched paths) and with an empty or dot
// segment where no id goes; ServeMux answered text/plain "404 page not
// found" outside /v1/, and /v1/models/x//drift was a 400.
func TestUnmatchedPaths(t *testing.T) {
	h := newTestHandler(t, &fakeStore{})
	ops, err := telemetry.NewServer(telemetry.ServerOptions{})
	require.NoError(t, err)
	// As the aggregator mounts it.
	ops.Handle("/v1/", h)
	ops.NotFound(h)
	const endpoints = "the API serves GET /v1/models, /v1/models/{id}, /v1/models/{id}/performance, /v1/models/{id}/drift, /v1/models/{id}/slices, /v1/experiments, /v1/experiments/{id}"
	tests := []struct {
		method, path string
		wantCode     int
		wantErr      string // code field
	}{
		{"GET", "/", 404, "not_found"},
		{"GET", "/v1", 404, "not_found"},
		{"GET", "/v1/", 404, "not_found"},
		{"GET", "/V1/models", 404, "not_found"},
		{"GET", "/metrics/", 404, "not_found"},
		{"POST", "/nope", 404, "not_found"},
		{"GET", "//nope", 404, "not_found"},
		{"GET", "/v1/models/x/", 404, "not_found"},
		{"GET", "/v1/experiments/", 404, "not_found"},
		{"GET", "/v1/models/x//drift", 404, "not_found"},
		{"GET", "/v1//models", 404, "not_found"},
		{"POST", "/v1/models/x//drift", 404, "not_found"},
		// An empty id is a malformed id, as before.
		{"GET", "/v1/models//drift", 400, "invalid_parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			ops.Handler().ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			assert.Equal(t, tt.wantCode, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			var e Error
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
			assert.Equal(t, tt.wantErr, e.Code)
			if tt.wantCode == 404 {
				assert.Contains(t, e.Message, endpoints)
			}
		})
	}
	// The ops routes are the server's still.
	for _, tt := range []struct {
		method, path string
		wantCode     int
	}{{"GET", "/healthz", 200}, {"GET", "/metrics", 200}, {"POST", "/metrics", 405}} {
		rec := httptest.NewRecorder()
		ops.Handler().ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		assert.Equal(t, tt.wantCode, rec.Code, tt.method+" "+tt.path)
	}
}

func TestMethodNotAllowedSaysAllow(t *testing.T) {
	h := newTestHandler(t, &fakeStore{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/models", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
	_, body := serve(t, h, http.MethodGet, "/v1/models?days=1")
	assert.Equal(t, "days: unknown parameter; this endpoint takes none", body["message"])
}

// TestParamsRejectedBeforeQuery: a malformed request never reaches the
// store, and is a 400 also while the aggregator is not ready.
func TestParamsRejectedBeforeQuery(t *testing.T) {
	called := false
	fail := func() { called = true }
	store := &fakeStore{
		models:         func(context.Context, int) ([]ModelSummary, error) { fail(); return nil, nil },
		servedVersions: func(context.Context, string, int) ([]string, error) { fail(); return nil, nil },
		modelVersions:  func(context.Context, string, int) ([]ModelVersion, error) { fail(); return nil, nil },
		performance:    func(context.Context, WindowQuery, int) ([]PerformanceWindow, error) { fail(); return nil, nil },
		drift:          func(context.Context, WindowQuery, string, int) ([]DriftWindow, error) { fail(); return nil, nil },
		experimentWindows: func(context.Context, string) ([]ExperimentWindow, error) {
			fail()
			return nil, nil
		},
	}
	h := newTestHandler(t, store, func(o *Options) { o.SliceKeys = []string{"tenant"} })
	notReady := newTestHandler(t, store, func(o *Options) {
		o.SliceKeys = []string{"tenant"}
		o.Ready = func(context.Context) error { return errors.New("schema not checked yet") }
	})
	tests := []struct {
		path, param string
	}{
		{"/v1/models?days=1", "days"},
		{"/v1/models/m/performance?days=-1", "days"},
		{"/v1/models/m/performance?slice_value=a", "slice_value"},
		{"/v1/models/m/performance?slice_key=tenant", "slice_value"},
		{"/v1/models/m/performance?slice_key=region&slice_value=eu", "slice_key"},
		{"/v1/models/m/performance?slice_key=tenant&slice_value=%FF", "slice_value"},
		{"/v1/models/m/performance?slice_key=tenant&slice_value=" + strings.Repeat("x", MaxSliceValueChars+1), "slice_value"},
		{"/v1/models/m/slices", "slice_key"},
		{"/v1/models/m/slices?slice_key=region", "slice_key"},
		{"/v1/models/m/slices?slice_key=tenant&slice_value=a", "slice_value"},
		{"/v1/models/m/performance?days=abc", "days"},
		{"/v1/models/m/performance?days=1.5", "days"},
		{"/v1/models/m/performance?days=", "days"},
		{"/v1/models/m/performance?granularity=5m", "granularity"},
		{"/v1/models/m/performance?granularity=1H", "granularity"},
		{"/v1/models/m/performance?version=" + strings.Repeat("x", MaxVersionChars+1), "version"},
		{"/v1/models/m/drift?feature=", "feature"},
		{"/v1/models/m/drift?feature=a%7Fb", "feature"},
		{"/v1/models/m/drift?version=a%0D", "version"},
		{"/v1/models/" + strings.Repeat("x", MaxIDChars+1) + "/drift", "id"},
		{"/v1/experiments/e?granularity=week", "granularity"},
		{"/v1/experiments/e?days=1", "days"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			for _, h := range []*Handler{h, notReady} {
				called = false
				code, body := serve(t, h, http.MethodGet, tt.path)
				assert.Equal(t, http.StatusBadRequest, code, body)
				assert.Equal(t, tt.param, body["parameter"])
				assert.True(t, strings.HasPrefix(body["message"].(string), tt.param+": "), body["message"])
				assert.False(t, called, "store called")
			}
		})
	}
	// Well-formed requests while not ready: 503 (404 for no endpoint),
	// without a query.
	for path, want := range map[string]int{"/v1/models": 503, "/v1/models/m": 503, "/v1/models/m/performance": 503,
		"/v1/models/m/drift": 503, "/v1/models/m/slices?slice_key=tenant": 503, "/v1/experiments/e": 503, "/v1/nope": 404} {
		called = false
		code, body := serve(t, notReady, http.MethodGet, path)
		assert.Equal(t, want, code, "%s: %v", path, body)
		assert.False(t, called, "%s: store called while not ready", path)
	}
}

func TestModels(t *testing.T) {
	name := "Fraud"
	var since time.Time
	store := &fakeStore{
		models: func(context.Context, int) ([]ModelSummary, error) {
			return []ModelSummary{{ModelID: "b", Name: &name, Versions: 2}, {ModelID: "d"}}, nil
		},
		volumes: func(_ context.Context, s time.Time, _ int) (map[string]Volume, error) {
			since = s
			return map[string]Volume{"b": {7, "2"}, "a": {3, "v9"}}, nil
		},
	}
	code, body := serve(t, newTestHandler(t, store), http.MethodGet, "/v1/models")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, time.Date(2026, 5, 17, 11, 30, 0, 0, time.UTC), since)
	models := body["models"].([]any)
	require.Len(t, models, 3)
	a, b, d := models[0].(map[string]any), models[1].(map[string]any), models[2].(map[string]any)
	assert.Equal(t, "a", a["model_id"])
	assert.Nil(t, a["name"], "traffic without metadata")
	assert.Equal(t, "v9", a["latest_version"], "traffic without metadata: the version served last")
	assert.Equal(t, 3.0, a["predictions_last_hour"])
	assert.Equal(t, "Fraud", b["name"])
	assert.Equal(t, 7.0, b["predictions_last_hour"])
	assert.Equal(t, 0.0, d["predictions_last_hour"])
}

// TestModelDetailTruncated: each list of the model detail is cut at its
// limit, and truncated says so.
func TestModelDetailTruncated(t *testing.T) {
	n := func(limit, over int) int { return limit + over }
	tests := []struct {
		name                      string
		versions, served, jobs, f int // rows the store has
		want                      bool
	}{
		{"all within", 3, 2, maxTrainingJobs, maxFeatureImportances, false},
		{"versions", n(maxVersions, 5), 0, 1, 1, true},
		{"served", 1, n(maxVersions, 1), 1, 1, true},
		{"jobs", 1, 0, n(maxTrainingJobs, 1), 1, true},
		{"importance", 1, 0, 1, n(maxFeatureImportances, 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := func(have, limit int) int { return min(have, limit) } // what a store returns
			store := &fakeStore{
				modelVersions: func(_ context.Context, _ string, limit int) ([]ModelVersion, error) {
					return make([]ModelVersion, rows(tt.versions, limit)), nil
				},
				servedVersions: func(_ context.Context, _ string, limit int) ([]string, error) {
					out := make([]string, rows(tt.served, limit))
					for i := range out {
						out[i] = fmt.Sprint("s", i)
					}
					return out, nil
				},
				trainingJobs: func(_ context.Context, _ string, limit int) ([]TrainingJob, error) {
					return make([]TrainingJob, rows(tt.jobs, limit)), nil
				},
				featureImportance: func(_ context.Context, _ string, limit int) ([]FeatureImportance, error) {
					return make([]FeatureImportance, rows(tt.f, limit)), nil
				},
			}
			code, body := serve(t, newTestHandler(t, store), http.MethodGet, "/v1/models/m")
			require.Equal(t, http.StatusOK, code, body)
			assert.Equal(t, tt.want, body["truncated"])
			assert.LessOrEqual(t, len(body["versions"].([]any)), maxVersions)
			assert.LessOrEqual(t, len(body["unregistered_versions"].([]any)), maxVersions)
			assert.LessOrEqual(t, len(body["training_jobs"].([]any)), maxTrainingJobs)
			assert.LessOrEqual(t, len(body["feature_importance"].([]any)), maxFeatureImportances)
		})
	}
}

// TestSliceKeysNamed: a slice key the aggregator does not slice by is a
// 400 that says which keys it does.
func TestSliceKeysNamed(t *testing.T) {
	tests := []struct {
		keys []string
		want string
	}{
		{nil, "slice_key: \"tenant\" is not a slice key; slicing is off (set slices.metadata_keys in the aggregator's config)"},
		{[]string{"region", "plan"}, "slice_key: \"tenant\" is not a slice key; the aggregator slices by region, plan (slices.metadata_keys)"},
	}
	for _, tt := range tests {
		h := newTestHandler(t, &fakeStore{}, func(o *Options) { o.SliceKeys = tt.keys })
		code, body := serve(t, h, http.MethodGet, "/v1/models/m/slices?slice_key=tenant")
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Equal(t, tt.want, body["message"])
	}
}

// TestSlices: the slices answer groups the windows by value, summarises
// each in time order, and lists the busiest first.
func TestSlices(t *testing.T) {
	var got WindowQuery
	at := func(h int) time.Time { return testNow.Add(time.Duration(h-10) * time.Hour).Truncate(time.Hour) }
	win := func(v string, h int, n uint64, f1 float64) PerformanceWindow {
		return PerformanceWindow{SliceValue: v, WindowStart: at(h), WindowEnd: at(h + 1), PredictionCount: n, LabeledCount: n, F1: &f1}
	}
	store := &fakeStore{performance: func(_ context.Context, q WindowQuery, _ int) ([]PerformanceWindow, error) {
		got = q
		return []PerformanceWindow{win("a", 0, 100, 0.5), win("b", 0, 300, 0.9), win("gone", 0, 0, 0), win("a", 1, 100, 0.9), win("b", 1, 300, 0.5), win("", 1, 200, 0.7)}, nil
	}}
	h := newTestHandler(t, store, func(o *Options) { o.SliceKeys = []string{"tenant"} })
	code, body := serve(t, h, http.MethodGet, "/v1/models/m/slices?slice_key=tenant&days=1")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, WindowQuery{ModelID: "m", Version: "*", Granularity: "1h", From: testNow.Add(-24 * time.Hour).Truncate(time.Hour), To: testNow,
		SliceKey: "tenant", AnyValue: true}, got)
	list := body["slices"].([]any)
	require.Len(t, list, 3)
	var values, trends []any
	for _, s := range list {
		s := s.(map[string]any)
		values = append(values, s["slice_value"])
		trends = append(trends, s["summary"].(map[string]any)["trend"])
	}
	assert.Equal(t, []any{"b", "", "a"}, values)
	assert.Equal(t, []any{"declining", nil, "improving"}, trends)
}

// TestSlicesTruncatedAtWindow: past MaxSliceRows the oldest window goes
// whole, so every value keeps the same windows.
func TestSlicesTruncatedAtWindow(t *testing.T) {
	const windows = MaxSliceRows/3 + 1 // × 3 values: one row too many
	store := &fakeStore{performance: func(_ context.Context, _ WindowQuery, limit int) ([]PerformanceWindow, error) {
		var out []PerformanceWindow // oldest first
		for w := range windows {
			for _, v := range []string{"a", "b", "c"} {
				out = append(out, PerformanceWindow{SliceValue: v, WindowStart: testNow.Add(time.Duration(w-windows) * time.Minute), PredictionCount: 1})
			}
		}
		return out[max(0, len(out)-limit):], nil
	}}
	h := newTestHandler(t, store, func(o *Options) { o.SliceKeys = []string{"tenant"} })
	code, body := serve(t, h, http.MethodGet, "/v1/models/m/slices?slice_key=tenant&granularity=1m&days=1")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, true, body["truncated"])
	for _, s := range body["slices"].([]any) {
		assert.Equal(t, float64(windows-1), s.(map[string]any)["summary"].(map[string]any)["windows"])
	}
}

func TestDriftGrouping(t *testing.T) {
	var gotFeature string
	w := func(version, feature string, hour int, flagged bool) DriftWindow {
		return DriftWindow{ModelVersion: version, Feature: feature, FeatureType: "numeric",
			WindowStart: testNow.Truncate(time.Hour).Add(time.Duration(hour) * time.Hour), Flagged: flagged, FlagReasons: []string{}}
	}
	store := &fakeStore{
		drift: func(_ context.Context, _ WindowQuery, feature string, _ int) ([]DriftWindow, error) {
			gotFeature = feature
			return []DriftWindow{w("1", "a", -2, true), w("1", "a", -1, false), w("2", "a", -1, true), w("1", "b", -1, false)}, nil
		},
	}
	h := newTestHandler(t, store)
	code, body := serve(t, h, http.MethodGet, "/v1/models/m/drift?feature=a%27b")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "a'b", gotFeature)
	assert.Equal(t, "a'b", body["feature"])
	feats := body["features"].([]any)
	require.Len(t, feats, 3)
	first := feats[0].(map[string]any)
	assert.Equal(t, 1.0, first["flagged_windows"])
	assert.Len(t, first["windows"], 2)
	assert.Equal(t, testNow.Truncate(time.Hour).Add(-time.Hour).Format(time.RFC3339), first["latest"].(map[string]any)["window_start"])
	assert.Equal(t, "2", feats[1].(map[string]any)["model_version"])

	_, body = serve(t, h, http.MethodGet, "/v1/models/m/drift")
	assert.Equal(t, "", gotFeature)
	assert.Nil(t, body["feature"])
}

// TestDriftTruncatedKeepsLatest: a cut drops the oldest windows, so every
// feature keeps its latest one (not the alphabetically last features).
func TestDriftTruncatedKeepsLatest(t *testing.T) {
	w := func(feature string, hour int) DriftWindow {
		return DriftWindow{ModelVersion: "1", Feature: feature, FeatureType: "numeric",
			WindowStart: testNow.Truncate(time.Hour).Add(time.Duration(hour) * time.Hour), FlagReasons: []string{}}
	}
	store := &fakeStore{
		drift: func(context.Context, WindowQuery, string, int) ([]DriftWindow, error) {
			// One more than the limit, newest first as the store returns them.
			return []DriftWindow{w("a", -1), w("z", -1), w("a", -2), w("z", -2), w("a", -3)}, nil
		},
	}
	h := newTestHandler(t, store, func(o *Options) { o.MaxDriftRows = 4 })
	code, body := serve(t, h, http.MethodGet, "/v1/models/m/drift")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, true, body["truncated"])
	feats := body["features"].([]any)
	require.Len(t, feats, 2)
	for _, f := range feats {
		f := f.(map[string]any)
		assert.Len(t, f["windows"], 2, f["feature"])
		assert.Equal(t, testNow.Truncate(time.Hour).Add(-time.Hour).Format(time.RFC3339),
			f["latest"].(map[string]any)["window_start"], f["feature"])
	}
}

func TestExperiment(t *testing.T) {
	var picked ExperimentWindow
	windows := []ExperimentWindow{{Granularity: "1d"}, {Granularity: "1h"}}
	store := &fakeStore{
		experimentWindows: func(context.Context, string) ([]ExperimentWindow, error) { return windows, nil },
		abResults: func(_ context.Context, _ string, w ExperimentWindow, _ int) ([]ABResult, error) {
			picked = w
			row := func(variant string, control bool, metric string, srm float64) ABResult {
				return ABResult{Variant: variant, IsControl: control, ControlVariant: "A", SRMPValue: f64(srm),
					VariantMetric: VariantMetric{Metric: metric, Lift: f64(math.Inf(1))}}
			}
			return []ABResult{row("A", true, "f1", 0.0001), row("B", false, "accuracy", 0.0001), row("B", false, "f1", 0.0001)}, nil
		},
	}
	h := newTestHandler(t, store)
	code, body := serve(t, h, http.MethodGet, "/v1/experiments/e")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "1d", picked.Granularity, "coarsest without cumulative")
	assert.Equal(t, true, body["srm_mismatch"])
	vs := body["variants"].([]any)
	require.Len(t, vs, 2)
	assert.Len(t, vs[1].(map[string]any)["metrics"], 2)

	windows = append(windows, ExperimentWindow{Granularity: "cumulative"})
	serve(t, h, http.MethodGet, "/v1/experiments/e")
	assert.Equal(t, "cumulative", picked.Granularity)
	serve(t, h, http.MethodGet, "/v1/experiments/e?granularity=1h")
	assert.Equal(t, "1h", picked.Granularity)
}

// TestNonFiniteNeverEncoded: a NaN that slipped past the store is a clean
// 500, not half a body.
func TestNonFiniteNeverEncoded(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, PerformanceSummary{AvgF1: f64(math.NaN())})
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	var e Error
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
	assert.Equal(t, "internal", e.Code)
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	h := newTestHandler(t, &fakeStore{}, func(o *Options) { o.Registerer = reg })
	serve(t, h, http.MethodGet, "/v1/models")
	serve(t, h, http.MethodGet, "/v1/models/x")
	serve(t, h, http.MethodGet, "/v1/models/x")
	assert.Equal(t, 1.0, testutil.ToFloat64(h.requests.WithLabelValues("models", "200")))
	assert.Equal(t, 2.0, testutil.ToFloat64(h.requests.WithLabelValues("model", "404")))
	n, err := testutil.GatherAndCount(reg, "predlog_aggregator_api_request_duration_seconds")
	require.NoError(t, err)
	assert.Equal(t, 8, n, "one series per route, resolved up front")
}

func TestNewRejectsBadGranularity(t *testing.T) {
	_, err := New(Options{Store: &fakeStore{}, Granularities: []string{"1h", "hourly"}})
	assert.ErrorContains(t, err, `"hourly"`)
	_, err = New(Options{})
	assert.Error(t, err)
}

func TestArrayParam(t *testing.T) {
	assert.Equal(t, `[]`, arrayParam(nil))
	assert.Equal(t, `['a','b']`, arrayParam([]string{"a", "b"}))
	assert.Equal(t, `['it\'s','a\\b',']\', \'']`, arrayParam([]string{`it's`, `a\b`, `]', '`}))
}

func TestGranularityName(t *testing.T) {
	f := func(d time.Duration, want string) {
		t.Helper()
		assert.Equal(t, want, GranularityName(d))
		back, ok := granularityDuration(want)
		assert.True(t, ok)
		assert.Equal(t, d, back)
	}
	f(time.Minute, "1m")
	f(5*time.Minute, "5m")
	f(time.Hour, "1h")
	f(24*time.Hour, "1d")
	f(48*time.Hour, "2d")
	f(90*time.Second, "90s")
	f(36*time.Hour, "36h")
	for _, bad := range []string{"", "h", "0h", "-1h", "1w", "1.5h", "1H"} {
		_, ok := granularityDuration(bad)
		assert.False(t, ok, bad)
	}
}

// TestDriftUnknownFeature: a feature without drift while others have some
// is a 404 naming (the first 20 of) those; without any drift, an empty 200.
func TestDriftUnknownFeature(t *testing.T) {
	var features []string
	var limit int
	store := &fakeStore{
		modelVersions: func(context.Context, string, int) ([]ModelVersion, error) {
			return []ModelVersion{{ModelVersion: "v1"}}, nil
		},
		driftFeatures: func(_ context.Context, _ WindowQuery, l int) ([]string, error) {
			limit = l
			return features[:min(len(features), l)], nil
		},
	}
	h := newTestHandler(t, store)
	features = []string{"amount", "country"}
	code, body := serve(t, h, http.MethodGet, "/v1/models/m/drift?feature=amnt")
	assert.Equal(t, http.StatusNotFound, code, body)
	assert.Equal(t, `model "m" has no 1h drift for feature "amnt" in the last 7 day(s); features with 1h drift: "amount", "country"`, body["message"])
	assert.Equal(t, 21, limit)

	features = nil
	for i := range 25 {
		features = append(features, fmt.Sprintf("f%02d", i))
	}
	_, body = serve(t, h, http.MethodGet, "/v1/models/m/drift?feature=nope")
	assert.True(t, strings.HasSuffix(body["message"].(string), `"f19" and more`), body["message"])

	features = nil
	code, body = serve(t, h, http.MethodGet, "/v1/models/m/drift?feature=nope")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Empty(t, body["features"])
}

// TestQueryStringErrors: a malformed query string says what is wrong, the
// first offending parameter in the request is the one named (every time),
// and lengths count characters, as the OpenAPI file's maxLength does.
func TestQueryStringErrors(t *testing.T) {
	h := newTestHandler(t, &fakeStore{modelVersions: known("m")})
	tests := []struct {
		path      string
		wantCode  int
		wantParam string
		wantMsg   string
	}{
		{"/v1/models/m/performance?days=%zz", 400, "query", `invalid URL escape "%zz"`},
		{"/v1/models/m/performance?days=1;granularity=1m", 400, "query", "semicolon"},
		{"/v1/models/m/performance?foo=1&bar=2&days=abc", 400, "foo", "unknown parameter"},
		{"/v1/models/m/performance?days=abc&bar=2&foo=1", 400, "bar", "unknown parameter"},
		{"/v1/models/m/performance?days=2&days=3&foo=1", 400, "days", "more than once"},
		{"/v1/models/m/performance?=x", 400, "query", "without a name"},
		{"/v1/models?=", 400, "query", "without a name"},
		{"/v1/models/" + url.PathEscape(strings.Repeat("ü", MaxIDChars)), 404, "", "not found"},
		{"/v1/models/" + url.PathEscape(strings.Repeat("ü", MaxIDChars+1)), 400, "id", "longer than 256 characters"},
		{"/v1/models/m/performance?version=" + url.QueryEscape(strings.Repeat("ü", MaxVersionChars)), 404, "", "no version"},
	}
	for _, tt := range tests {
		for range 10 { // map order would show within ten tries
			code, body := serve(t, h, http.MethodGet, tt.path)
			require.Equal(t, tt.wantCode, code, "%s: %v", tt.path, body)
			if tt.wantParam != "" {
				require.Equal(t, tt.wantParam, body["parameter"], tt.path)
			}
			require.Contains(t, body["message"], tt.wantMsg, tt.path)
		}
	}
}
