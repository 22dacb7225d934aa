// Package api is the aggregator's JSON query API: models, their metadata,
// performance and drift history, and A/B experiment results, read from
// ClickHouse. api/openapi.yaml documents it.
//
// Requests are validated before anything is queried (400 naming the
// parameter), every value reaches ClickHouse as a bound query parameter,
// and each request runs under a deadline that is also sent to ClickHouse as
// max_execution_time; each query carries a LIMIT and max_result_rows.
package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/chquery"
)

// DefaultGranularities is the default of Options.Granularities.
var DefaultGranularities = []string{"1m", "1h", "1d"}

// Defaults of Options and of the query parameters.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultMaxWindows      = 10_000
	DefaultMaxDriftRows    = 50_000
	DefaultPerformanceDays = 30
	DefaultDriftDays       = 7
	DefaultGranularity     = "1h"
	RecentPredictionsLimit = 100
)

// Bounds of the other lists, and fixed thresholds.
const (
	maxModels               = 1000
	maxVersions             = 1000
	maxTrainingJobs         = 100
	maxFeatureImportances   = 1000
	maxABRows               = 10_000
	maxExperiments          = 1000
	srmMismatchPValue       = 0.001
	cumulativeGranularity   = "cumulative"
	errCodeInvalidParameter = "invalid_parameter"
)

// ErrNotFound is returned for an unknown model or experiment; it answers 404.
var ErrNotFound = errors.New("not found")

// notFound is ErrNotFound with a message that says what is missing.
type notFound struct{ msg string }

func (e *notFound) Error() string        { return e.msg }
func (e *notFound) Is(target error) bool { return target == ErrNotFound }

// Options configures the handler.
type Options struct {
	Store Store
	// Logger; nil logs nothing.
	Logger *zap.Logger
	// Registerer for the request metrics; nil registers none.
	Registerer prometheus.Registerer
	// Granularities accepted in ?granularity= (the aggregator's window
	// sizes, see GranularityName). Default DefaultGranularities.
	Granularities []string
	// Timeout bounds one request, ClickHouse queries included. Default
	// DefaultTimeout.
	Timeout time.Duration
	// MaxWindows bounds the windows of one history answer: days ×
	// windows per day above it is a 400. Default DefaultMaxWindows.
	MaxWindows int
	// MaxDriftRows bounds the rows (windows × features) of a drift answer;
	// the oldest windows beyond it are cut off with truncated=true. Default DefaultMaxDriftRows.
	MaxDriftRows int
	// TrendTolerance, see Summarize. Default DefaultTrendTolerance.
	TrendTolerance float64
	// TrendMinLabeled, see Summarize. Default DefaultTrendMinLabeled; -1
	// for none.
	TrendMinLabeled int
	// SliceKeys are the metadata keys the aggregator slices performance by
	// (slices.metadata_keys), accepted in ?slice_key=.
	SliceKeys []string
	// Ready, when set, must pass before requests are served (503 until
	// then), e.g. the schema gate's check.
	Ready func(ctx context.Context) error
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Handler serves the API under /v1/.
type Handler struct {
	opts Options
	log  *zap.Logger
	mux  *http.ServeMux
	// uncleanPath answers paths ServeMux would redirect (ServeHTTP) that
	// have an endpoint's shape, noEndpoint those that do not.
	uncleanPath, noEndpoint http.HandlerFunc
	// endpoints are the GET routes' patterns, for a 404's message.
	endpoints []string

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

var _ http.Handler = (*Handler)(nil)

// New builds the handler.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil {
		return nil, errors.New("api: Store is required")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if len(opts.Granularities) == 0 {
		opts.Granularities = DefaultGranularities
	}
	for _, g := range opts.Granularities {
		if _, ok := granularityDuration(g); !ok {
			return nil, errors.New("api: invalid granularity " + strconv.Quote(g))
		}
	}
	// Finest first (defaultGranularity relies on it).
	opts.Granularities = slices.Clone(opts.Granularities)
	slices.SortStableFunc(opts.Granularities, func(a, b string) int {
		da, _ := granularityDuration(a)
		db, _ := granularityDuration(b)
		return cmp.Compare(da, db)
	})
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxWindows <= 0 {
		opts.MaxWindows = DefaultMaxWindows
	}
	if opts.MaxDriftRows <= 0 {
		opts.MaxDriftRows = DefaultMaxDriftRows
	}
	if opts.TrendTolerance <= 0 {
		opts.TrendTolerance = DefaultTrendTolerance
	}
	if opts.TrendMinLabeled == 0 {
		opts.TrendMinLabeled = DefaultTrendMinLabeled
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Store = gatedStore{s: opts.Store}
	h := &Handler{
		opts: opts,
		log:  opts.Logger,
		mux:  http.NewServeMux(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "predlog_aggregator_api_requests_total",
			Help: "Query API requests by route and status code (499: the client went away before the answer).",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "predlog_aggregator_api_request_duration_seconds",
			Help:    "Query API request latency by route.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{h.requests, h.duration} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	h.route("GET /v1/models", "models", h.listModels)
	h.route("GET /v1/models/{id}", "model", h.getModel)
	h.route("GET /v1/models/{id}/performance", "performance", h.getPerformance)
	h.route("GET /v1/models/{id}/drift", "drift", h.getDrift)
	h.route("GET /v1/models/{id}/slices", "slices", h.getSlices)
	h.route("GET /v1/experiments", "experiments", h.listExperiments)
	h.route("GET /v1/experiments/{id}", "experiment", h.getExperiment)
	// Every other path, including other methods on the routes above (the
	// method-less pattern matches them first), and those outside /v1/
	// where the handler answers the listener's unmatched paths: the
	// JSON error of api/openapi.yaml, not ServeMux's text/plain 404.
	h.route("/", "unknown", func(r *http.Request) (any, error) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && h.isRoute(r, r.URL) {
			return nil, errMethodNotAllowed
		}
		return nil, ErrNotFound
	})
	h.uncleanPath = h.handler("unknown", func(r *http.Request) (any, error) {
		return nil, paramErr("path", "%s has an empty, \".\" or \"..\" segment; ids are 1 to %d characters", quote(r.URL.Path), MaxIDChars)
	})
	h.noEndpoint = h.handler("unknown", func(*http.Request) (any, error) { return nil, ErrNotFound })
	return h, nil
}

// isRoute reports whether a GET of u's path would reach an endpoint: a
// method other than GET on such a path is a 405, on any other a 404.
func (h *Handler) isRoute(r *http.Request, u *url.URL) bool {
	get := r.Clone(r.Context())
	get.Method, get.URL = http.MethodGet, u
	_, pattern := h.mux.Handler(get)
	return pattern != "/"
}

// ServeHTTP serves the API; mount it on "/v1/", and as the handler of the
// listener's unmatched paths (telemetry.Server.NotFound).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The escaped path, as ServeMux cleans it: an id with an encoded "/"
	// (s3:%2F%2Fbucket) is one segment.
	if p := r.URL.EscapedPath(); cleanPath(p) != p {
		// ServeMux would redirect it to the cleaned path, another resource
		// (/v1/models//drift to /v1/models/drift, the model "drift"). An
		// empty or dot segment where an endpoint takes an id is a
		// malformed id; elsewhere (/v1/models/x//drift) the path names no
		// endpoint, a 404 as /v1/models/x/ is.
		if h.isRoute(r, idsFilled(p)) {
			h.uncleanPath(w, r)
		} else {
			h.noEndpoint(w, r)
		}
		return
	}
	h.mux.ServeHTTP(w, r)
}

// idsFilled is the escaped path p with its empty, "." and ".." segments
// (but a trailing slash) replaced by an id, as a URL to match routes with.
func idsFilled(p string) *url.URL {
	segs := strings.Split(p, "/")
	for i := 1; i < len(segs); i++ {
		if segs[i] == "." || segs[i] == ".." || segs[i] == "" && i < len(segs)-1 {
			segs[i] = "id"
		}
	}
	u, err := url.Parse(strings.Join(segs, "/"))
	if err != nil {
		return &url.URL{Path: "/"} // p parsed as a request's path: not reached
	}
	return u
}

// cleanPath is p as ServeMux cleans it: no empty, "." or ".." segments,
// the trailing slash kept.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// route mounts fn, which returns the response body or an error, with the
// request deadline, readiness gate, error mapping and metrics.
func (h *Handler) route(pattern, name string, fn func(r *http.Request) (any, error)) {
	if p, ok := strings.CutPrefix(pattern, "GET "); ok {
		h.endpoints = append(h.endpoints, p)
	}
	h.mux.HandleFunc(pattern, h.handler(name, fn))
}

func (h *Handler) handler(name string, fn func(r *http.Request) (any, error)) http.HandlerFunc {
	dur := h.duration.WithLabelValues(name)
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
		defer cancel()
		if err := h.ready(ctx); err != nil {
			// The handler still checks its parameters; its queries fail
			// (gatedStore).
			ctx = context.WithValue(ctx, notReadyKey{}, err)
		}
		r = r.WithContext(ctx)

		body, err := fn(r)
		code := http.StatusOK
		if err != nil {
			code, body = h.errorResponse(r, name, err)
			if code == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", "GET, HEAD")
			}
		} else {
			body = scrubbed(body)
		}
		writeJSON(w, code, body)
		h.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
		dur.Observe(time.Since(start).Seconds())
	}
}

// notReadyError is Options.Ready failing; it answers 503.
type notReadyError struct{ err error }

func (e *notReadyError) Error() string { return "not ready: " + e.err.Error() }
func (e *notReadyError) Unwrap() error { return e.err }

func (h *Handler) ready(ctx context.Context) error {
	if h.opts.Ready == nil {
		return nil
	}
	if err := h.opts.Ready(ctx); err != nil {
		return &notReadyError{err}
	}
	return nil
}

var errMethodNotAllowed = errors.New("method not allowed")

// errorResponse maps err to a status and body, logging what is not the
// client's fault.
func (h *Handler) errorResponse(r *http.Request, route string, err error) (int, Error) {
	var (
		pe *ParamError
		nr *notReadyError
		ex *clickhouse.Exception
		op *net.OpError
	)
	err = chquery.ShortURLError(err) // for the log
	switch {
	case errors.As(err, &pe):
		return http.StatusBadRequest, Error{Code: errCodeInvalidParameter, Message: pe.Error(), Parameter: pe.Param}
	case errors.Is(err, ErrNotFound):
		msg := h.notFoundMessage(r)
		if nf := (*notFound)(nil); errors.As(err, &nf) {
			msg = nf.msg
		}
		return http.StatusNotFound, Error{Code: "not_found", Message: msg}
	case errors.As(err, &nr):
		// The reason names ClickHouse's address and user: for the
		// operator (the log), not for API clients. Debug: the
		// schema gate already logs each failed check, not each request.
		h.log.Debug("api request refused: not ready", zap.String("route", route), zap.Error(err))
		return http.StatusServiceUnavailable, Error{Code: "unavailable",
			Message: "not ready: starting, ClickHouse unreachable or its schema not checked yet; try again later"}
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed, Error{Code: "method_not_allowed", Message: r.Method + " not allowed; the API is read-only (GET)"}
	case errors.Is(r.Context().Err(), context.Canceled), errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer. Its own code,
		// so that the 503s count ClickHouse's outages only.
		return StatusClientClosedRequest, Error{Code: "canceled", Message: "request canceled"}
	case errors.Is(r.Context().Err(), context.DeadlineExceeded),
		errors.As(err, &ex) && ex.Code == 159, // TIMEOUT_EXCEEDED
		errors.As(err, &op) && op.Timeout(),   // the socket's deadline, a moment before the request's
		nearDeadline(r.Context()):             // e.g. the connection dropped as the deadline closed it
		h.log.Warn("api request timed out", zap.String("route", route), zap.Duration("timeout", h.opts.Timeout), zap.Error(err))
		return http.StatusGatewayTimeout, Error{Code: "timeout", Message: "the query took longer than " + h.opts.Timeout.String()}
	case errors.As(err, &ex) && (ex.Code == chUnknownTable || ex.Code == chUnknownDatabase):
		// A table renamed away or dropped under a running aggregator (the
		// error logged here names it; /readyz checks only the tables the
		// cycles need, not every one the API reads, such as
		// training_jobs): the operator's to restore, not a fault of the
		// request or a bug, and the same request succeeds once it is back.
		h.log.Warn("api request failed: a table it reads is missing", zap.String("route", route), zap.Error(err))
		return http.StatusServiceUnavailable, Error{Code: "unavailable",
			Message: "a ClickHouse table this answer reads is missing (renamed or dropped?); try again later (the aggregator log names it)"}
	case errors.As(err, &op) && op.Op != "remote error", // not a TLS alert (a certificate to fix)
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), // the server went away mid-answer
		errors.Is(err, clickhouse.ErrAcquireConnTimeout):
		// Not a fault of the request, nor of the aggregator: ClickHouse
		// (or the network to it) is down or busy, and a retry may succeed.
		h.log.Warn("api request failed: ClickHouse unreachable", zap.String("route", route), zap.Error(err))
		return http.StatusServiceUnavailable, Error{Code: "unavailable", Message: "ClickHouse is unreachable or busy; try again later (the aggregator log has the details)"}
	}
	h.log.Error("api request failed", zap.String("route", route), zap.Error(err))
	return http.StatusInternalServerError, Error{Code: "internal", Message: "internal error; see the aggregator log"}
}

// ClickHouse error codes errorResponse tells apart.
const (
	chUnknownTable    = 60
	chUnknownDatabase = 81
)

// StatusClientClosedRequest is the status recorded (in
// predlog_aggregator_api_requests_total) for a request whose client went
// away before the answer, as nginx logs it; nobody receives it.
const StatusClientClosedRequest = 499

// nearDeadline reports whether ctx's deadline is less than
// deadlineMargin away: an error then is most likely the deadline's doing
// (the driver closes the connection at it), whatever it says.
func nearDeadline(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < deadlineMargin
}

const deadlineMargin = 100 * time.Millisecond

func (h *Handler) notFoundMessage(r *http.Request) string {
	switch id := r.PathValue("id"); {
	case strings.HasPrefix(r.URL.Path, "/v1/experiments/") && id != "":
		return "experiment " + quote(id) + " not found"
	case id != "":
		return "model " + quote(id) + " not found"
	}
	return "no such endpoint: " + quote(r.URL.Path) + "; the API serves GET " + strings.Join(h.endpoints, ", ") + " (api/openapi.yaml)"
}

// writeJSON encodes fully before writing, so an encoding failure is a clean
// 500 rather than half a body.
func writeJSON(w http.ResponseWriter, code int, body any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(body); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(Error{Code: "internal", Message: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes()) // client gone: nothing to do
}

// pathID validates the {id} path segment.
func pathID(r *http.Request, param string) (string, error) {
	id := r.PathValue("id")
	return id, checkID(param, id, MaxIDChars)
}

// period resolves days and granularity into [from, to): to is now, from is
// now - days rounded down to a window boundary, so the first window is whole.
func (h *Handler) period(modelID, version, granularity string, days int) (Period, error) {
	g, _ := granularityDuration(granularity) // validated
	perDay := float64(24*time.Hour) / float64(g)
	if n := float64(days) * perDay; n > float64(h.opts.MaxWindows) {
		return Period{}, paramErr("days", "%d days of %s windows is more than %d windows; use fewer days or a coarser granularity",
			days, granularity, h.opts.MaxWindows)
	}
	now := h.opts.Now().UTC()
	return Period{
		ModelID:     modelID,
		Version:     version,
		Granularity: granularity,
		Days:        days,
		From:        windowFloor(now.Add(-time.Duration(days)*24*time.Hour), g),
		To:          now,
	}, nil
}

// windowFloor rounds t down to a multiple of g since the Unix epoch, as the
// aggregator's windows (toStartOfInterval) are aligned; time.Truncate
// counts from year 1, which differs for sizes such as 7d or 7m.
func windowFloor(t time.Time, g time.Duration) time.Time {
	d := time.Duration(t.UnixNano()) % g
	if d < 0 {
		d += g
	}
	return t.Add(-d)
}

func (h *Handler) listModels(r *http.Request) (any, error) {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return nil, err
	}
	ctx := r.Context()
	now := h.opts.Now().UTC()
	models, err := h.opts.Store.Models(ctx, maxModels+1)
	if err != nil {
		return nil, err
	}
	volumes, err := h.opts.Store.Volumes(ctx, now.Add(-time.Hour).Truncate(time.Minute), maxModels+1)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(models))
	for i := range models {
		models[i].PredictionsLastHour = volumes[models[i].ModelID].Predictions
		seen[models[i].ModelID] = true
	}
	// Models serving traffic without a metadata record are listed too, with
	// the version they served last, as their detail gives it.
	for id, v := range volumes {
		if !seen[id] {
			models = append(models, ModelSummary{ModelID: id, LatestVersion: &v.LastServed, PredictionsLastHour: v.Predictions})
		}
	}
	slices.SortFunc(models, func(a, b ModelSummary) int { return strings.Compare(a.ModelID, b.ModelID) })
	out := ModelList{Models: models, GeneratedAt: now}
	out.Models, out.Truncated = cut(out.Models, maxModels, false)
	if out.Models == nil {
		out.Models = []ModelSummary{}
	}
	return out, nil
}

func (h *Handler) getModel(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return nil, err
	}
	ctx := r.Context()
	versions, err := h.opts.Store.ModelVersions(ctx, id, maxVersions+1)
	if err != nil {
		return nil, err
	}
	served, err := h.opts.Store.ServedVersions(ctx, id, maxVersions+1)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 && len(served) == 0 {
		return nil, ErrNotFound
	}
	// A model serving traffic without a metadata record (it is listed by
	// /v1/models) answers too, with the versions seen in its predictions.
	registered := make(map[string]bool, len(versions))
	for _, v := range versions {
		registered[v.ModelVersion] = true
	}
	unregistered := []string{}
	for _, v := range served {
		if !registered[v] {
			unregistered = append(unregistered, v)
		}
	}
	latest := ""
	if len(versions) > 0 {
		latest = versions[0].ModelVersion
	} else {
		latest = served[0]
	}
	jobs, err := h.opts.Store.TrainingJobs(ctx, id, maxTrainingJobs+1)
	if err != nil {
		return nil, err
	}
	fi, err := h.opts.Store.FeatureImportance(ctx, id, maxFeatureImportances+1)
	if err != nil {
		return nil, err
	}
	baselines, err := h.opts.Store.Baselines(ctx, id, maxVersions+1)
	if err != nil {
		return nil, err
	}
	out := ModelDetail{ModelID: id, LatestVersion: latest}
	out.Versions, out.Truncated = cut(nonNil(versions), maxVersions, out.Truncated)
	out.UnregisteredVersions, out.Truncated = cut(unregistered, maxVersions, out.Truncated || len(served) > maxVersions)
	out.TrainingJobs, out.Truncated = cut(nonNil(jobs), maxTrainingJobs, out.Truncated)
	out.FeatureImportance, out.Truncated = cut(nonNil(fi), maxFeatureImportances, out.Truncated)
	out.Baselines, out.Truncated = cut(nonNil(baselines), maxVersions, out.Truncated)
	return out, nil
}

// cut keeps the first limit elements of s; truncated is true if it was or
// s had more.
func cut[T any](s []T, limit int, truncated bool) ([]T, bool) {
	if len(s) > limit {
		return s[:limit], true
	}
	return s, truncated
}

// historyParams reads the parameters common to the history endpoints.
func (h *Handler) historyParams(r *http.Request, defDays int, extra ...string) (query, Period, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return query{}, Period{}, err
	}
	q, err := parseQuery(r.URL.RawQuery, append([]string{"days", "granularity", "version"}, extra...)...)
	if err != nil {
		return query{}, Period{}, err
	}
	days, err := q.days(defDays)
	if err != nil {
		return query{}, Period{}, err
	}
	_, daysGiven := q.get("days")
	gran, err := q.granularity(h.defaultGranularity(days), h.opts.Granularities)
	if err != nil {
		return query{}, Period{}, err
	}
	if most := h.maxDays(gran); !daysGiven && days > most {
		// A default must not be what makes the request invalid: the
		// period shrinks to what the granularity allows (the answer's
		// query.days says so).
		if most < 1 {
			return query{}, Period{}, paramErr("granularity", "one day of %s windows is more than %d windows; use a coarser granularity",
				gran, h.opts.MaxWindows)
		}
		days = most
	}
	version, err := q.version()
	if err != nil {
		return query{}, Period{}, err
	}
	p, err := h.period(id, version, gran, days)
	return q, p, err
}

func (h *Handler) trendRule() TrendRule {
	return TrendRule{Tolerance: h.opts.TrendTolerance, MinLabeled: h.opts.TrendMinLabeled}
}

// finerPeriods returns the periods to try, in order, when an answer at
// p's granularity has no windows (found) and the request named none: the
// served granularities finer than p's, nearest first, with the days the
// request gave, or with the default days shrunk to what each allows. A
// model younger than one window of the default granularity (an hour) is
// then answered with its minutes rather than with nothing; query in the
// answer says which granularity was served.
func (h *Handler) finerPeriods(q query, p Period, found int) []Period {
	if _, given := q.get("granularity"); given || found > 0 {
		return nil
	}
	_, daysGiven := q.get("days")
	var out []Period
	i := slices.Index(h.opts.Granularities, p.Granularity) // finest first
	for j := i - 1; j >= 0; j-- {
		g, days := h.opts.Granularities[j], p.Days
		if most := h.maxDays(g); days > most {
			if daysGiven || most < 1 {
				continue
			}
			days = most
		}
		fp, err := h.period(p.ModelID, p.Version, g, days)
		if err != nil {
			continue
		}
		out = append(out, fp)
	}
	return out
}

// answerFiner answers p with fetch and, when that has no rows and the
// request named no granularity, the finer periods of finerPeriods in turn,
// the first with rows. It returns the period answered and its rows, and
// tried, the finest period asked: an empty answer's 404 checks look there
// too.
func answerFiner[T any](h *Handler, q query, p Period, fetch func(Period) ([]T, error)) (answered Period, rows []T, tried Period, err error) {
	if rows, err = fetch(p); err != nil {
		return p, nil, p, err
	}
	tried = p
	for _, fp := range h.finerPeriods(q, p, len(rows)) {
		fp.SliceKey, fp.SliceValue = p.SliceKey, p.SliceValue
		fr, err := fetch(fp)
		if err != nil {
			return p, nil, p, err
		}
		if tried = fp; len(fr) > 0 {
			return fp, fr, fp, nil
		}
	}
	return p, rows, tried, nil
}

// over is wq for the windows of p (its slice selection kept).
func (wq WindowQuery) over(p Period) WindowQuery {
	wq.Granularity, wq.From, wq.To = p.Granularity, p.From, p.To
	return wq
}

// defaultGranularity is 1h when served and days of it fit in
// MaxWindows, else the finest served granularity they fit in, else the
// coarsest.
func (h *Handler) defaultGranularity(days int) string {
	if slices.Contains(h.opts.Granularities, DefaultGranularity) && h.maxDays(DefaultGranularity) >= days {
		return DefaultGranularity
	}
	for _, g := range h.opts.Granularities { // finest first
		if h.maxDays(g) >= days {
			return g
		}
	}
	return h.opts.Granularities[len(h.opts.Granularities)-1]
}

// maxDays is the most days of granularity windows that MaxWindows allows.
func (h *Handler) maxDays(granularity string) int {
	g, _ := granularityDuration(granularity) // validated
	// In floating point, as period checks it: MaxWindows × g in int64
	// nanoseconds overflows for sizes of 11 days and more at the default
	// MaxWindows (the aggregator takes sizes up to 366 days), which made
	// the default period of such a granularity a 400.
	days := math.Floor(float64(h.opts.MaxWindows) * float64(g) / float64(24*time.Hour))
	return int(min(days, math.MaxInt32))
}

func windowQuery(p Period) WindowQuery {
	return WindowQuery{ModelID: p.ModelID, Version: p.Version, Granularity: p.Granularity, From: p.From, To: p.To}
}

func (h *Handler) getPerformance(r *http.Request) (any, error) {
	q, p, err := h.historyParams(r, DefaultPerformanceDays, "slice_key", "slice_value")
	if err != nil {
		return nil, err
	}
	wq, err := h.sliceQuery(q, &p, true)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	versions, err := h.opts.Store.ModelVersions(ctx, p.ModelID, maxVersions)
	if err != nil {
		return nil, err
	}
	// checkP: the finest period tried, where an empty answer's 404
	// checks look after p's.
	p, windows, checkP, err := answerFiner(h, q, p, func(p Period) ([]PerformanceWindow, error) {
		return h.opts.Store.PerformanceWindows(ctx, wq.over(p), h.opts.MaxWindows+1)
	})
	if err != nil {
		return nil, err
	}
	wq, checkWQ := wq.over(p), wq.over(checkP)
	preds := []Prediction{}
	if wq.SliceKey == "" || wq.SliceValue != OtherSlice {
		if preds, err = h.opts.Store.RecentPredictions(ctx, wq, RecentPredictionsLimit); err != nil {
			return nil, err
		}
	}
	if len(windows) == 0 && len(preds) == 0 {
		if err := h.checkVersion(ctx, p.ModelID, p.Version, versions); err != nil {
			return nil, err
		}
		if wq.SliceKey != "" {
			if err := h.checkSliceValue(ctx, wq, p); err != nil {
				return nil, err
			}
			if checkP != p {
				if err := h.checkSliceValue(ctx, checkWQ, checkP); err != nil {
					return nil, err
				}
			}
		}
	}
	out := PerformanceHistory{
		Model:             pickVersion(versions, p.Version),
		Query:             p,
		History:           nonNil(windows),
		RecentPredictions: nonNil(preds),
	}
	if len(out.History) > h.opts.MaxWindows {
		out.History, out.Truncated = out.History[len(out.History)-h.opts.MaxWindows:], true
	}
	out.Summary = Summarize(out.History, h.trendRule())
	out.Summary.Warnings = append(out.Summary.Warnings, labelWarnings(out.History)...)
	return out, nil
}

// checkVersion answers 404 for a model with neither a metadata record nor
// served predictions, and for a version (other than AllVersions) it has
// neither registered nor served, naming the versions it has. registered
// are the model's metadata versions.
func (h *Handler) checkVersion(ctx context.Context, id, version string, registered []ModelVersion) error {
	served, err := h.opts.Store.ServedVersions(ctx, id, maxVersions+1)
	if err != nil {
		return err
	}
	known := make([]string, 0, len(registered)+len(served))
	for _, v := range registered {
		known = append(known, v.ModelVersion)
	}
	for _, v := range served {
		if !slices.Contains(known, v) {
			known = append(known, v)
		}
	}
	switch {
	case len(known) == 0:
		return ErrNotFound
	case version == AllVersions || slices.Contains(known, version):
		return nil
	}
	return &notFound{msg: fmt.Sprintf("model %s has no version %s; its versions: %s", quote(id), quote(version), quoteList(known))}
}

// quoteList quotes the first 20 items for a message, saying how many more.
func quoteList(items []string) string {
	const shown = 20
	list := make([]string, 0, shown)
	for _, v := range items[:min(len(items), shown)] {
		list = append(list, quote(v))
	}
	more := ""
	if len(items) > shown {
		more = fmt.Sprintf(" and %d more", len(items)-shown)
	}
	return strings.Join(list, ", ") + more
}

// checkFeature answers a drift query for one feature that found nothing:
// a 404 naming the features that have drift in the period, when there are
// any (a misspelt name), else nil (no drift at all yet).
func (h *Handler) checkFeature(ctx context.Context, p Period, feature string) error {
	const shown = 20
	features, err := h.opts.Store.DriftFeatures(ctx, windowQuery(p), shown+1)
	if err != nil {
		return err
	}
	if len(features) == 0 {
		return nil
	}
	more := ""
	if len(features) > shown {
		features, more = features[:shown], " and more"
	}
	return &notFound{msg: fmt.Sprintf("model %s has no %s drift for feature %s in the last %d day(s); features with %s drift: %s%s",
		quote(p.ModelID), p.Granularity, quote(feature), p.Days, p.Granularity, quoteList(features), more)}
}

// checkSliceValue answers a sliced query that found nothing: a 404 naming
// the values the key has in the period, when it has any (a misspelt or
// miscased value answered 200 with empty windows), else nil (nothing
// sliced by the key yet).
func (h *Handler) checkSliceValue(ctx context.Context, wq WindowQuery, p Period) error {
	all := wq
	all.AnyValue = true
	windows, err := h.opts.Store.PerformanceWindows(ctx, all, h.opts.MaxWindows)
	if err != nil {
		return err
	}
	var values []string
	for _, w := range windows {
		if !slices.Contains(values, w.SliceValue) {
			values = append(values, w.SliceValue)
		}
	}
	if len(values) == 0 {
		return nil
	}
	slices.Sort(values)
	return &notFound{msg: fmt.Sprintf("model %s has no %s windows with %s = %s in the last %d day(s) (values match exactly, case included); its values: %s",
		quote(p.ModelID), p.Granularity, quote(wq.SliceKey), quote(wq.SliceValue), p.Days, quoteList(values))}
}

// pickVersion returns the metadata of version, or of the newest version for
// AllVersions; nil when there is none.
func pickVersion(versions []ModelVersion, version string) *ModelVersion {
	for i := range versions {
		if version == AllVersions || versions[i].ModelVersion == version {
			return &versions[i]
		}
	}
	return nil
}

func (h *Handler) getDrift(r *http.Request) (any, error) {
	q, p, err := h.historyParams(r, DefaultDriftDays, "feature")
	if err != nil {
		return nil, err
	}
	var feature *string
	if f, ok := q.get("feature"); ok {
		if err := checkID("feature", f, MaxIDChars); err != nil {
			return nil, err
		}
		feature = &f
	}
	ctx := r.Context()
	filter := ""
	if feature != nil {
		filter = *feature
	}
	p, rows, checkP, err := answerFiner(h, q, p, func(p Period) ([]DriftWindow, error) { // checkP as in getPerformance
		return h.opts.Store.DriftWindows(ctx, windowQuery(p), filter, h.opts.MaxDriftRows+1)
	})
	if err != nil {
		return nil, err
	}
	out := DriftHistory{Query: p, Feature: feature, Features: []FeatureDrift{}}
	// The store answers newest first: a cut drops the oldest windows, never
	// a whole feature's latest ones.
	rows, out.Truncated = cut(rows, h.opts.MaxDriftRows, false)
	slices.SortStableFunc(rows, func(a, b DriftWindow) int {
		return cmp.Or(strings.Compare(a.Feature, b.Feature), strings.Compare(a.ModelVersion, b.ModelVersion),
			a.WindowStart.Compare(b.WindowStart))
	})
	if len(rows) == 0 {
		versions, err := h.opts.Store.ModelVersions(ctx, p.ModelID, maxVersions)
		if err != nil {
			return nil, err
		}
		if err := h.checkVersion(ctx, p.ModelID, p.Version, versions); err != nil {
			return nil, err
		}
		if filter != "" {
			if err := h.checkFeature(ctx, p, filter); err != nil {
				return nil, err
			}
			if checkP != p {
				if err := h.checkFeature(ctx, checkP, filter); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, w := range rows {
		n := len(out.Features)
		if n == 0 || out.Features[n-1].Feature != w.Feature || out.Features[n-1].ModelVersion != w.ModelVersion {
			out.Features = append(out.Features, FeatureDrift{
				ModelVersion: w.ModelVersion, Feature: w.Feature, FeatureType: w.FeatureType, Windows: []DriftWindow{},
			})
			n++
		}
		f := &out.Features[n-1]
		f.Windows = append(f.Windows, w)
		if w.Flagged {
			f.FlaggedWindows++
		}
	}
	for i := range out.Features {
		f := &out.Features[i]
		f.Latest = &f.Windows[len(f.Windows)-1]
	}
	return out, nil
}

func (h *Handler) listExperiments(r *http.Request) (any, error) {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return nil, err
	}
	exps, err := h.opts.Store.Experiments(r.Context(), maxExperiments+1)
	if err != nil {
		return nil, err
	}
	out := ExperimentList{GeneratedAt: h.opts.Now().UTC()}
	out.Experiments, out.Truncated = cut(exps, maxExperiments, false)
	if out.Experiments == nil {
		out.Experiments = []ExperimentSummary{}
	}
	for i := range out.Experiments {
		e := &out.Experiments[i]
		if e.SRMPValue != nil {
			mismatch := *e.SRMPValue < srmMismatchPValue
			e.SRMMismatch = &mismatch
		}
		for _, l := range []*[]string{&e.ModelIDs, &e.Variants, &e.SignificantMetrics} {
			if *l == nil {
				*l = []string{}
			}
		}
	}
	return out, nil
}

func (h *Handler) getExperiment(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	q, err := parseQuery(r.URL.RawQuery, "granularity")
	if err != nil {
		return nil, err
	}
	allowed := append([]string{cumulativeGranularity}, h.opts.Granularities...)
	gran, err := q.granularity("", allowed)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	available, err := h.opts.Store.ExperimentWindows(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(available) == 0 {
		return nil, ErrNotFound
	}
	w, ok := pickExperimentWindow(available, gran)
	if !ok {
		return nil, paramErr("granularity", "experiment has no %s results; available: %s", quote(gran), granularityList(available))
	}
	rows, err := h.opts.Store.ABResults(ctx, id, w, maxABRows+1)
	if err != nil {
		return nil, err
	}
	out := Experiment{ExperimentID: id, Window: w, Available: available, Variants: []Variant{}}
	rows, out.Truncated = cut(rows, maxABRows, false)
	for _, row := range rows {
		if out.ControlVariant == "" {
			out.ControlVariant = row.ControlVariant
		}
		if out.SRMPValue == nil && row.SRMPValue != nil {
			out.SRMPValue = row.SRMPValue
			mismatch := *row.SRMPValue < srmMismatchPValue
			out.SRMMismatch = &mismatch
		}
		out.Final = row.Final
		n := len(out.Variants)
		if n == 0 || out.Variants[n-1].Variant != row.Variant {
			out.Variants = append(out.Variants, Variant{
				Variant:         row.Variant,
				IsControl:       row.IsControl,
				ModelID:         row.ModelID,
				ModelVersion:    row.ModelVersion,
				PredictionCount: row.PredictionCount,
				LabeledCount:    row.LabeledCount,
				ExpectedShare:   row.ExpectedShare,
				Metrics:         []VariantMetric{},
			})
			n++
		}
		v := &out.Variants[n-1]
		v.Metrics = append(v.Metrics, row.VariantMetric)
	}
	return out, nil
}

// pickExperimentWindow returns the latest window of gran; for "" the
// cumulative one if any, else the coarsest granularity.
func pickExperimentWindow(available []ExperimentWindow, gran string) (ExperimentWindow, bool) {
	if gran != "" {
		for _, w := range available {
			if w.Granularity == gran {
				return w, true
			}
		}
		return ExperimentWindow{}, false
	}
	best, bestSize := available[0], time.Duration(-1)
	for _, w := range available {
		if w.Granularity == cumulativeGranularity {
			return w, true
		}
		if d, ok := granularityDuration(w.Granularity); ok && d > bestSize {
			best, bestSize = w, d
		}
	}
	return best, true
}

func granularityList(ws []ExperimentWindow) string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.Granularity
	}
	return strings.Join(names, ", ")
}
