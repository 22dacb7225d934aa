package report

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/predlog/predlog/internal/api"
)

func ptr[T any](v T) *T { return &v }

// TestWrite serves fixed API answers and a fake ClickHouse, and checks the
// report prints the figures it was given, and only those.
func TestWrite(t *testing.T) {
	mux := http.NewServeMux()
	reply := func(path string, v any) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(v) })
	}
	reply("/v1/models", api.ModelList{Models: []api.ModelSummary{{ModelID: "fraud", ProblemType: ptr("binary"), LatestVersion: ptr("v2"), Versions: 2},
		{ModelID: "eta", ProblemType: ptr("regression"), LatestVersion: ptr("v1"), Versions: 1},
		{ModelID: "digits", ProblemType: ptr("multiclass"), LatestVersion: ptr("v1"), Versions: 1},
		{ModelID: "anon", LatestVersion: ptr("u1")}}})
	// Period figures, not those of the latest labelled window.
	at := time.Date(2026, 11, 27, 5, 51, 0, 0, time.UTC)
	reply("/v1/models/eta/performance", api.PerformanceHistory{
		Summary: api.PerformanceSummary{Windows: 2, LabeledPredictions: 500, AvgMAE: ptr(4.25), AvgRMSE: ptr(6.5), Trend: ptr("improving")},
		History: []api.PerformanceWindow{{WindowStart: at, LabeledCount: 31, MAE: ptr(5.212), RMSE: ptr(9.0), R2: ptr(0.61)}},
	})
	reply("/v1/models/digits/performance", api.PerformanceHistory{
		Summary: api.PerformanceSummary{Windows: 2, LabeledPredictions: 500, AvgAccuracy: ptr(0.91), AvgMacroF1: ptr(0.88), Trend: ptr("stable")},
		History: []api.PerformanceWindow{{WindowStart: at, LabeledCount: 31, Accuracy: ptr(0.5), MacroF1: ptr(0.4)}},
	})
	// A model without a metadata record: the problem type its windows were
	// scored as.
	reply("/v1/models/anon/performance", api.PerformanceHistory{History: []api.PerformanceWindow{{WindowStart: at, ProblemType: "regression"}},
		Summary: api.PerformanceSummary{Warnings: []api.Warning{{Code: api.WarnNoPositiveLabels, Message: "none of the period's 300 labelled predictions …"}}}})
	for _, m := range []string{"eta", "digits", "anon"} {
		reply("/v1/models/"+m+"/slices", api.SliceList{})
		reply("/v1/models/"+m+"/drift", api.DriftHistory{})
	}
	reply("/v1/models/fraud/performance", api.PerformanceHistory{Summary: api.PerformanceSummary{
		Windows: 3, TotalPredictions: 1234, LabeledPredictions: 1000, ErrorRate: ptr(0.01),
		AvgPrecision: ptr(0.8), AvgRecall: ptr(0.7), AvgF1: ptr(0.746), Trend: ptr("declining"),
	}})
	reply("/v1/models/fraud/slices", api.SliceList{Slices: []api.SliceSummary{
		{SliceValue: "acme", Summary: api.PerformanceSummary{TotalPredictions: 900, AvgF1: ptr(0.8)}},
		{SliceValue: "", Summary: api.PerformanceSummary{TotalPredictions: 200}},
		{SliceValue: "globex", Summary: api.PerformanceSummary{TotalPredictions: 100, AvgF1: ptr(0.5)}},
		{SliceValue: "initech", Summary: api.PerformanceSummary{TotalPredictions: 34, AvgF1: ptr(0.6)}},
	}})
	reply("/v1/models/fraud/drift", api.DriftHistory{Features: []api.FeatureDrift{
		{ModelVersion: "v2", Feature: "amount", FlaggedWindows: 2, Latest: &api.DriftWindow{PSI: ptr(0.41), Flagged: true, FlagReasons: []string{"psi"}}},
		{ModelVersion: "v2", Feature: "country", FlaggedWindows: 1, Latest: &api.DriftWindow{PSI: ptr(0.01)}},
	}})
	reply("/v1/experiments", api.ExperimentList{Experiments: []api.ExperimentSummary{{ExperimentID: "exp1"}}})
	reply("/v1/experiments/exp1", api.Experiment{ExperimentID: "exp1", ControlVariant: "A", Variants: []api.Variant{
		{Variant: "A", IsControl: true, ModelID: "fraud", ModelVersion: "v1", PredictionCount: 600},
		{Variant: "B", ModelID: "fraud", ModelVersion: "v2", PredictionCount: 634, Metrics: []api.VariantMetric{
			{Metric: "accuracy", Value: ptr(0.9), ControlValue: ptr(0.85), Lift: ptr(0.0588), PValue: ptr(0.001), Significant: true}}},
	}})
	apiSrv := httptest.NewServer(mux)
	defer apiSrv.Close()
	ch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r.Body)
		switch {
		case strings.Contains(b.String(), "quantilesTDigestMerge"):
			_, _ = w.Write([]byte("12.5 20 30 88.25\n"))
		default:
			http.Error(w, "unexpected query", http.StatusBadRequest)
		}
	}))
	defer ch.Close()

	var out bytes.Buffer
	if err := Write(context.Background(), Config{API: apiSrv.URL, ClickHouse: ch.URL, Database: "predlog", Days: 1, Granularity: "1m", SliceKey: "tenant"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"== fraud (binary, latest version v2, 2 version(s)) ==",
		"predictions  1234 in 3 window(s); labeled 1000; error rate 1.0%",
		"precision 0.800  recall 0.700  F1 0.746 (period)  trend declining",
		"MAE 4.250  RMSE 6.500 (period)  trend improving; R² 0.610 (window 2026-11-27 05:51, 31 labels)",
		"== anon (regression from its predictions, no metadata record; latest version u1) ==",
		"  warning      none of the period's 300 labelled predictions …",
		"accuracy 0.910  macro F1 0.880 (period)  trend stable",
		"latency      p50 12.500 ms  p99 88.250 ms",
		"by tenant    worst of 4: globex F1 0.500 (100); initech F1 0.600 (34); acme F1 0.800 (900)",
		// Not "the latest window": driftWindow may quote an earlier one.
		"flagged in the latest window of 30+ predictions: amount@v2 PSI 0.410 (psi)",
		"variant B        fraud@v2  634 predictions",
		"accuracy         0.900 vs 0.850  lift 5.9%",
		"significant",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "country") {
		t.Errorf("report lists a feature not flagged in its latest window:\n%s", out.String())
	}
}

func TestLabeledWindow(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 11, 27, 1, m, 0, 0, time.UTC) }
	w := func(m int, labeled uint64, mae float64) api.PerformanceWindow {
		return api.PerformanceWindow{WindowStart: at(m), LabeledCount: labeled, MAE: ptr(mae)}
	}
	tests := []struct {
		name string
		h    []api.PerformanceWindow
		want time.Time // zero: none
	}{
		{"latest with enough labels", []api.PerformanceWindow{w(1, 40, 1), w(2, 35, 2), w(3, 1, 3)}, at(2)},
		{"none with enough: the most labeled", []api.PerformanceWindow{w(1, 5, 1), w(2, 9, 2), w(3, 1, 3)}, at(2)},
		{"ties: the latest", []api.PerformanceWindow{w(1, 9, 1), w(2, 9, 2)}, at(2)},
		{"no labels", []api.PerformanceWindow{w(1, 0, 1)}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := labeledWindow(tt.h); !got.WindowStart.Equal(tt.want) {
				t.Errorf("window %v, want %v", got.WindowStart, tt.want)
			}
		})
	}
}

func TestWorstSlices(t *testing.T) {
	sl := func(v string, n uint64, s api.PerformanceSummary) api.SliceSummary {
		s.TotalPredictions = n
		return api.SliceSummary{SliceValue: v, Summary: s}
	}
	tests := []struct {
		name string
		give []api.SliceSummary
		want string
	}{
		{"none", nil, "no slices in the period"},
		{"regression: highest MAE first", []api.SliceSummary{
			sl("a", 10, api.PerformanceSummary{AvgMAE: ptr(1.0)}), sl("b", 20, api.PerformanceSummary{AvgMAE: ptr(3.0)}),
			sl("", 5, api.PerformanceSummary{}), sl("c", 7, api.PerformanceSummary{AvgMAE: ptr(2.0)}),
		}, "worst of 4: b MAE 3.000 (20); c MAE 2.000 (7); a MAE 1.000 (10)"},
		{"multiclass: lowest macro F1, other left out", []api.SliceSummary{
			sl("a", 10, api.PerformanceSummary{AvgMacroF1: ptr(0.9)}), sl("", 3, api.PerformanceSummary{AvgMacroF1: ptr(0.2)}),
			sl("other", 50, api.PerformanceSummary{AvgMacroF1: ptr(0.1)}),
		}, "worst of 2: (none) macro F1 0.200 (3); a macro F1 0.900 (10)"},
		{"no quality: error rate", []api.SliceSummary{
			sl("a", 10, api.PerformanceSummary{ErrorRate: ptr(0.01)}), sl("b", 10, api.PerformanceSummary{ErrorRate: ptr(0.1)}),
		}, "worst of 2: b errors 10.0% (10); a errors 1.0% (10)"},
	}
	for _, tt := range tests {
		if got := worstSlices(tt.give); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestTrendText(t *testing.T) {
	tests := []struct {
		name string
		give api.PerformanceSummary
		want string
	}{
		{"trend", api.PerformanceSummary{Trend: ptr("improving")}, "improving"},
		{"too few windows", api.PerformanceSummary{TrendDetail: api.TrendDetail{MinLabeled: 100}}, "n/a"},
		{"too few labels", api.PerformanceSummary{TrendDetail: api.TrendDetail{Change: ptr(0.3), StartLabeled: 40, EndLabeled: 120, MinLabeled: 100}},
			"n/a (40 and 120 labels at the ends, 100 needed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trend(tt.give); got != tt.want {
				t.Errorf("trend = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWriteRefusesBadFlags: a flag value the API refuses fails the report
// before anything is printed, without a request when the API would refuse
// it whatever its config (days, a malformed granularity). A slice key was
// refused only after the first model's header and quality were printed.
func TestWriteRefusesBadFlags(t *testing.T) {
	h, err := api.New(api.Options{Store: dotStore{}, SliceKeys: []string{"tenant"}})
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	defer apiSrv.Close()
	ch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("1 2 3 4\n"))
	}))
	defer ch.Close()
	tests := []struct {
		name        string
		cfg         Config
		wantErr     string
		wantRequest bool // only the API can tell
	}{
		{name: "no days", cfg: Config{Days: 0}, wantErr: "days: 0; the report covers 1 to 365 days"},
		{name: "too many days", cfg: Config{Days: 9999}, wantErr: "days: 9999; the report covers 1 to 365 days"},
		{name: "malformed granularity", cfg: Config{Days: 1, Granularity: "soon"}, wantErr: `granularity: want a whole number and s, m, h or d`},
		{name: "granularity not as the API names it", cfg: Config{Days: 1, Granularity: "60m"}, wantErr: `granularity: write "60m" as 1h`},
		{name: "granularity not served", cfg: Config{Days: 1, Granularity: "5m"}, wantRequest: true,
			wantErr: `--granularity refused by the aggregator: granularity: want one of 1m, 1h, 1d, got "5m"`},
		{name: "too many windows", cfg: Config{Days: 30, Granularity: "1m"}, wantRequest: true,
			wantErr: "--days refused by the aggregator: days: 30 days of 1m windows is more than"},
		{name: "slice key not served", cfg: Config{Days: 1, SliceKey: "region"}, wantRequest: true,
			wantErr: `--slice-key refused by the aggregator: slice_key: "region" is not a slice key; the aggregator slices by tenant`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requests.Store(0)
			tt.cfg.API, tt.cfg.ClickHouse, tt.cfg.Database = apiSrv.URL, ch.URL, "predlog"
			var out bytes.Buffer
			err := Write(context.Background(), tt.cfg, &out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Write: %v, want an error containing %q", err, tt.wantErr)
			}
			if out.Len() > 0 {
				t.Errorf("Write printed before refusing the flags:\n%s", out.String())
			}
			if n := requests.Load(); (n > 0) != tt.wantRequest {
				t.Errorf("Write made %d API requests; want some: %v", n, tt.wantRequest)
			}
		})
	}
}

// TestWriteQuotesNoAPIPassword: the aggregator's API may sit behind a proxy
// that wants a password in the URL; an error about the URL (one that does
// not parse, a refused connection) must not print it. A password with an
// unencoded '#', '?' or '/' is not userinfo to url.Parse, which quotes it.
func TestWriteQuotesNoAPIPassword(t *testing.T) {
	for _, u := range []string{
		"http://bob:secret9@127.0.0.1:1",
		"http://bob:12#secret9@127.0.0.1:1",
		"http://bob:12?secret9@127.0.0.1:1",
		"http://bob:12/secret9@127.0.0.1:1",
		"http://bob:top?secret9@127.0.0.1:9465",
		"http:bob:secret9@127.0.0.1:1",
	} {
		t.Run(u, func(t *testing.T) {
			err := Write(context.Background(), Config{API: u, Days: 1}, &bytes.Buffer{})
			if err == nil || strings.Contains(err.Error(), "secret9") {
				t.Fatalf("Write: %v, want an error without the password", err)
			}
		})
	}
}

// TestWriteSendsClickHouseCredentials: User and Password reach ClickHouse
// in its headers, so that the password need not be in --clickhouse.
func TestWriteSendsClickHouseCredentials(t *testing.T) {
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			_ = json.NewEncoder(w).Encode(api.ModelList{Models: []api.ModelSummary{{ModelID: "fraud"}}})
			return
		}
		_, _ = w.Write([]byte("{}"))
	}))
	defer apiSrv.Close()
	var user, key string
	ch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, key = r.Header.Get("X-ClickHouse-User"), r.Header.Get("X-ClickHouse-Key")
	}))
	defer ch.Close()
	cfg := Config{API: apiSrv.URL, ClickHouse: ch.URL, Database: "predlog", Days: 1, User: "reader", Password: "pw"}
	if err := Write(context.Background(), cfg, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if user != "reader" || key != "pw" {
		t.Errorf("ClickHouse got user %q and key %q, want reader and pw", user, key)
	}
}

// TestDriftWindow: the demo's last 1m window held the 5 predictions of the
// load's last second, too few for any test to flag, so the report said "no
// feature flagged in its latest window" of models whose feature had
// drifted for half an hour. The latest window with enough predictions is
// quoted instead.
func TestDriftWindow(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 11, 27, 1, m, 0, 0, time.UTC) }
	w := func(m int, n uint64, flagged bool) api.DriftWindow {
		return api.DriftWindow{WindowStart: at(m), SampleCount: n, Flagged: flagged}
	}
	tests := []struct {
		name string
		ws   []api.DriftWindow
		want time.Time
	}{
		{"sliver last", []api.DriftWindow{w(1, 300, true), w(2, 330, true), w(3, 5, false)}, at(2)},
		{"latest big enough", []api.DriftWindow{w(1, 300, true), w(2, 40, false)}, at(2)},
		{"none big enough: the latest", []api.DriftWindow{w(1, 3, true), w(2, 5, false)}, at(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			latest := tt.ws[len(tt.ws)-1]
			got := driftWindow(api.FeatureDrift{Latest: &latest, Windows: tt.ws})
			if !got.WindowStart.Equal(tt.want) {
				t.Errorf("window %v, want %v", got.WindowStart, tt.want)
			}
		})
	}
	if got := driftWindow(api.FeatureDrift{Latest: &api.DriftWindow{SampleCount: 1, Flagged: true}}); got == nil || !got.Flagged {
		t.Errorf("without windows: %+v, want Latest", got)
	}
}

// TestWriteClickHouseRefused: a database ClickHouse does not have fails the
// report naming the flags, not the first model, and no password of the
// URL.
func TestWriteClickHouseRefused(t *testing.T) {
	mux := http.NewServeMux()
	reply := func(path string, v any) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(v) })
	}
	reply("/v1/models", api.ModelList{Models: []api.ModelSummary{{ModelID: "fraud", ProblemType: ptr("binary")}}})
	reply("/v1/models/fraud/performance", api.PerformanceHistory{})
	apiSrv := httptest.NewServer(mux)
	defer apiSrv.Close()
	ch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Code: 81. DB::Exception: Database nope does not exist. (UNKNOWN_DATABASE)", http.StatusNotFound)
	}))
	defer ch.Close()
	u := strings.Replace(ch.URL, "http://", "http://u:s3cret@", 1) + "/?password=s3cret"
	var out bytes.Buffer
	err := Write(context.Background(), Config{API: apiSrv.URL, ClickHouse: u, Database: "nope", Days: 1}, &out)
	if err == nil || !strings.Contains(err.Error(), "--database nope") || !strings.Contains(err.Error(), "UNKNOWN_DATABASE") ||
		strings.Contains(err.Error(), "model fraud") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v; want the flags named, ClickHouse's reason, no model and no password", err)
	}
}

// TestWriteClickHouseModelError: a query error that is the model's (a
// timeout) names the model, not the flags.
func TestWriteClickHouseModelError(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/models", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(api.ModelList{Models: []api.ModelSummary{{ModelID: "fraud", ProblemType: ptr("binary")}}})
	})
	mux.HandleFunc("/v1/models/fraud/performance", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(api.PerformanceHistory{})
	})
	apiSrv := httptest.NewServer(mux)
	defer apiSrv.Close()
	ch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Code: 159. DB::Exception: Timeout exceeded. (TIMEOUT_EXCEEDED)", http.StatusInternalServerError)
	}))
	defer ch.Close()
	err := Write(context.Background(), Config{API: apiSrv.URL, ClickHouse: ch.URL, Database: "predlog", Days: 1}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "model fraud") || strings.Contains(err.Error(), "--database") {
		t.Errorf("err = %v; want the model named, not the flags", err)
	}
}
