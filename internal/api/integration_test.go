package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/predlog/predlog/internal/api"
	"github.com/predlog/predlog/internal/report"
	"github.com/predlog/predlog/internal/testenv"
	"github.com/predlog/predlog/internal/testenv/testschema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// trickyID is a registered model id made of everything an injection would
// use; it must be found exactly, and only exactly.
const trickyID = `it's"; DROP TABLE models; --{x:String}\n\`

// trickyRequests are request ids of trickyID's predictions, newest first.
var trickyRequests = []string{`r'1\`, `r"2;{x:String}]`, "r\t3,'4'"}

// sqlString quotes s as a ClickHouse string literal (test data only).
func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// fixture is one database with the schema and a known dataset, relative to
// now (prediction_logs has a TTL, so times must be recent).
type fixture struct {
	st  *testenv.Stack
	db  string
	h   http.Handler
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := emptyFixture(t, time.Now().UTC().Truncate(time.Hour).Add(30*time.Minute))
	f.load(t)
	return f
}

// emptyFixture is a fresh database with the schema and a handler on it
// whose clock stands at now.
func emptyFixture(t *testing.T, now time.Time) *fixture {
	t.Helper()
	st := testenv.Get(t)
	db := testschema.Database(t, st)
	h, err := api.New(api.Options{
		Store:     api.NewClickHouseStore(st.Conn(t, db)),
		Logger:    zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
		Now:       func() time.Time { return now },
		SliceKeys: []string{"tenant", "region"},
		// Not the 10s default: under CI's parallel load one request timed
		// out, and these tests are about answers, not latency.
		Timeout: time.Minute,
	})
	require.NoError(t, err)
	return &fixture{st: st, db: db, h: h, now: now}
}

func (f *fixture) exec(t *testing.T, sql string) {
	t.Helper()
	f.st.Exec(t, f.db, sql)
}

// The dataset. Hours count back from the start of the current hour: window
// n (0..719) starts at hour0 - (720-n) h, so 30 days of 1h windows, oldest
// first, all inside ?days=30.
//   - m-improving: F1 rises linearly 0.60 → 0.80; m-declining falls 0.80 →
//     0.60; m-stable wobbles 0.80 ± 0.005. Each window has 100 predictions,
//     5 errors, tp=80 fp=20 fn=20 tn=0 (precision = recall = 0.8), latency
//     10 ms on even and 20 ms on odd windows (mean 15).
//   - Rows that must not count: a window older than 30 days, a sliced row,
//     version 1 rows (the default is version "*"), an older computation of
//     window 719 with F1 0.
func (f *fixture) load(t *testing.T) {
	hour0 := f.now.Truncate(time.Hour)
	start := hour0.Add(-720 * time.Hour).Unix()
	f1 := map[string]string{
		"m-improving": "0.6 + 0.2 * n / 719",
		"m-declining": "0.8 - 0.2 * n / 719",
		"m-stable":    "0.8 + 0.005 * sin(n)",
	}
	perf := func(model, version, sliceKey, f1Expr, computedAt string, from, count int) string {
		return fmt.Sprintf(`INSERT INTO performance_metrics
			(model_id, model_version, granularity, slice_key, slice_value, window_start, window_end, problem_type,
			 prediction_count, error_count, error_rate, latency_avg_ms, labeled_count, tp, fp, tn, fn,
			 precision, recall, f1, accuracy, tpr, label_delay_p95_s, final, computed_at)
			SELECT %s, %s, '1h', %s, if(%s = '', '', 'a'),
			       toDateTime(%d + n * 3600, 'UTC'), toDateTime(%d + (n + 1) * 3600, 'UTC'), 'binary',
			       100, 5, 0.05, if(n %% 2 = 0, 10, 20), 100, 80, 20, 0, 20,
			       0.8, 0.8, %s, 0.8, 0.8, 42, n < 500, %s
			FROM (SELECT toInt64(number) + %d AS n FROM numbers(%d))`,
			sqlString(model), sqlString(version), sqlString(sliceKey), sqlString(sliceKey), start, start, f1Expr, computedAt, from, count)
	}
	for model, expr := range f1 {
		f.exec(t, perf(model, "*", "", expr, "now64(3)", 0, 720))
	}
	f.exec(t, perf("m-improving", "*", "", "0", "now64(3) - INTERVAL 60 SECOND", 719, 1)) // superseded by FINAL
	f.exec(t, perf("m-improving", "*", "", "0", "now64(3)", -1, 1))                       // before the period
	f.exec(t, perf("m-improving", "*", "tenant", "0", "now64(3)", 0, 720))                // sliced
	// More slices of tenant: a quoted value in the last day, other, and a
	// value retired into other (0 predictions: not listed).
	for _, v := range []string{trickySlice, "other", "retired"} {
		row := strings.Replace(perf("m-improving", "*", "tenant", "0.5", "now64(3)", 696, 24), "if('tenant' = '', '', 'a')", sqlString(v), 1)
		if v == "retired" {
			row = strings.Replace(row, "100, 5, 0.05", "0, 0, 0.05", 1)
		}
		f.exec(t, row)
	}
	f.exec(t, perf("m-improving", "1", "", "0.1", "now64(3)", 0, 720))              // one version
	f.exec(t, perf(trickyID, "*", "", "0.5 + 0.01 * (n % 2)", "now64(3)", 696, 24)) // stable

	models := []struct{ id, version, stage, created string }{
		{"m-improving", "1", "archived", "now64(3) - INTERVAL (86400 * 60) SECOND"},
		{"m-improving", "2", "production", "now64(3) - INTERVAL (86400 * 10) SECOND"},
		{"m-declining", "1", "production", "now64(3) - INTERVAL (86400 * 10) SECOND"},
		{"m-stable", "1", "staging", "now64(3) - INTERVAL (86400 * 10) SECOND"},
		{trickyID, "v'1", "registered", "now64(3) - INTERVAL 86400 SECOND"},
	}
	for _, m := range models {
		f.exec(t, fmt.Sprintf(`INSERT INTO models
			(model_id, model_version, name, architecture, framework, parameters, training_datasets, artifact_uri,
			 stage, aliases, tags, problem_type, created_at, created_by, updated_at, updated_by, ingest_time)
			VALUES (%s, %s, 'Fraud '||%s, 'gbt', 'xgboost 2.1', '{"max_depth": 6}', ['ds@1'], 's3://m',
			        %s, ['champion'], {'team': 'risk'}, 'binary', %s, 'alice', now64(3), 'bob', now64(3))`,
			sqlString(m.id), sqlString(m.version), sqlString(m.version), sqlString(m.stage), m.created))
	}
	f.exec(t, `INSERT INTO training_jobs (job_id, model_id, model_version, status, hyperparameters, dataset_name,
			cost, train_metrics, started_at, updated_at, ingest_time)
		VALUES ('job-1', 'm-improving', '2', 'succeeded', '{"lr": 0.1}', 'fraud', 12.5, {'auc': 0.9},
		        now64(3) - INTERVAL (86400 * 11) SECOND, now64(3), now64(3))`)
	// One computation has one computed_at (now64 in VALUES differs per row).
	older, newer := f.now.Unix()-160, f.now.Unix()-60
	f.exec(t, fmt.Sprintf(`INSERT INTO feature_importance (model_id, model_version, method, scope, feature, score, computed_at, ingest_time) VALUES
		('m-improving', '2', 'shap', 'global', 'amount', 0.2, toDateTime64(%[1]d, 3, 'UTC'), now64(3)),
		('m-improving', '2', 'shap', 'global', 'old_feature', 0.9, toDateTime64(%[1]d, 3, 'UTC'), now64(3)),
		('m-improving', '2', 'shap', 'global', 'amount', 0.5, toDateTime64(%[2]d, 3, 'UTC'), now64(3)),
		('m-improving', '2', 'shap', 'global', 'country', 0.3, toDateTime64(%[2]d, 3, 'UTC'), now64(3)),
		('m-improving', '2', 'shap', 'local', 'amount', 0.7, toDateTime64(%[2]d, 3, 'UTC'), now64(3))`, older, newer))

	// Baselines: version 2 mixes a training baseline (amount) with a frozen
	// window (country, replacing an older training row); version 1 has a
	// training baseline only; another model's row is not listed.
	f.exec(t, fmt.Sprintf(`INSERT INTO feature_baselines (model_id, model_version, feature, feature_type, source, window_start, window_end, sample_count, computed_at, ingest_time) VALUES
		('m-improving', '2', 'amount', 'numeric', 'training', NULL, NULL, 10, toDateTime64(%[1]d, 3, 'UTC'), now64(3)),
		('m-improving', '2', 'country', 'categorical', 'training', NULL, NULL, 10, toDateTime64(%[1]d, 3, 'UTC'), now64(3)),
		('m-improving', '2', 'country', 'categorical', 'reference_window', toDateTime64(%[3]d, 3, 'UTC'), toDateTime64(%[4]d, 3, 'UTC'), 10, toDateTime64(%[2]d, 3, 'UTC'), now64(3)),
		('m-improving', '1', 'amount', 'numeric', 'training', NULL, NULL, 10, toDateTime64(%[1]d, 3, 'UTC'), now64(3)),
		('m-stable', '1', 'amount', 'numeric', 'training', NULL, NULL, 10, toDateTime64(%[2]d, 3, 'UTC'), now64(3))`,
		older, newer, f.now.Add(-48*time.Hour).Unix(), f.now.Add(-24*time.Hour).Unix()))

	// A prediction stamped tomorrow (a skewed clock): not in any volume.
	f.exec(t, fmt.Sprintf(`INSERT INTO prediction_logs (request_id, model_id, model_version, event_time, latency_ms, status)
		VALUES ('future', 'm-stable', '1', toDateTime64(%d, 3, 'UTC'), 1, 'ok')`, f.now.Add(24*time.Hour).Unix()))

	// Two older predictions of the tricky tenant (a slice's recent ones).
	f.exec(t, fmt.Sprintf(`INSERT INTO prediction_logs (request_id, model_id, model_version, event_time, latency_ms, status, metadata)
		SELECT 'sliced' || toString(number), 'm-improving', '2', toDateTime64(%d - number, 3, 'UTC'), 1, 'ok', map('tenant', %s)
		FROM numbers(2)`, f.now.Add(-2*time.Hour).Unix(), sqlString(trickySlice)))

	// 150 predictions of m-improving version 2, one per minute back from
	// now; outcomes for the newest 10; 3 older than the period.
	f.exec(t, fmt.Sprintf(`INSERT INTO prediction_logs
			(request_id, model_id, model_version, event_time, score, predicted_label, latency_ms, status)
		SELECT 'r' || toString(number), 'm-improving', '2', toDateTime64(%d - 60 * number, 3, 'UTC'),
		       number / 150, if(number %% 2 = 0, '1', '0'), 12.5, if(number = 0, 'error', 'ok')
		FROM numbers(150)`, f.now.Unix()-1))
	f.exec(t, fmt.Sprintf(`INSERT INTO prediction_logs (request_id, model_id, model_version, event_time, latency_ms, status)
		SELECT 'old' || toString(number), 'm-improving', '2', toDateTime64(%d, 3, 'UTC'), 1, 'ok' FROM numbers(3)`,
		f.now.Add(-31*24*time.Hour).Unix()))
	// A model serving without a metadata record: version 7 each minute,
	// 8 in the newest minute too (a tie, which the smaller version wins),
	// 6 half an hour ago, and 9 stamped tomorrow (a skewed clock: not the
	// version served last).
	f.exec(t, fmt.Sprintf(`INSERT INTO prediction_logs (request_id, model_id, model_version, event_time, latency_ms, status)
		SELECT 'u' || toString(number), 'm-unregistered', '7', toDateTime64(%d - 60 * number, 3, 'UTC'), 3, 'ok' FROM numbers(5)
		UNION ALL SELECT 'u8', 'm-unregistered', '8', toDateTime64(%d, 3, 'UTC'), 3, 'ok'
		UNION ALL SELECT 'u6', 'm-unregistered', '6', toDateTime64(%d, 3, 'UTC'), 3, 'ok'
		UNION ALL SELECT 'u9', 'm-unregistered', '9', toDateTime64(%d, 3, 'UTC'), 3, 'ok'`,
		f.now.Unix()-1, f.now.Unix()-1, f.now.Unix()-1800, f.now.Add(24*time.Hour).Unix()))
	f.exec(t, `INSERT INTO outcomes (request_id, model_id, event_time, label)
		SELECT 'r' || toString(number), 'm-improving', now64(3), '1' FROM numbers(10)`)
	// Predictions of the tricky model with request ids an array parameter
	// must quote, and their outcomes.
	for i, id := range trickyRequests {
		f.exec(t, fmt.Sprintf(`INSERT INTO prediction_logs (request_id, model_id, model_version, event_time, latency_ms, status)
			VALUES (%s, %s, 'v''1', toDateTime64(%d, 3, 'UTC'), 1, 'ok')`, sqlString(id), sqlString(trickyID), f.now.Unix()-int64(i)-1))
		f.exec(t, fmt.Sprintf(`INSERT INTO outcomes (request_id, model_id, event_time, label) VALUES (%s, %s, now64(3), %s)`,
			sqlString(id), sqlString(trickyID), sqlString(fmt.Sprint("label-", i))))
	}

	// Drift: two features of version 2 over the last 7 days, and one of
	// version 1; amount flagged in the last 10 windows.
	drift := func(version, feature, ftype string, hours int, flaggedFrom int) string {
		return fmt.Sprintf(`INSERT INTO drift_metrics
			(model_id, model_version, granularity, window_start, window_end, feature, feature_type,
			 baseline_computed_at, sample_count, psi, js_divergence, null_rate, baseline_null_rate,
			 null_rate_change, flagged, flag_reasons, final, computed_at)
			SELECT 'm-improving', %s, '1h', toDateTime(%d + number * 3600, 'UTC'), toDateTime(%d + (number + 1) * 3600, 'UTC'),
			       %s, %s, if(%s = 'numeric', now64(3) - INTERVAL (86400 * 30) SECOND, toDateTime64(0, 3, 'UTC')), 100,
			       if(number >= %d, 0.4, 0.01), nan, 0, 0, 0, number >= %d, if(number >= %d, ['psi'], []), 0, now64(3)
			FROM numbers(%d)`,
			sqlString(version), hour0.Add(-time.Duration(hours)*time.Hour).Unix(), hour0.Add(-time.Duration(hours)*time.Hour).Unix(),
			sqlString(feature), sqlString(ftype), sqlString(ftype), flaggedFrom, flaggedFrom, flaggedFrom, hours)
	}
	f.exec(t, drift("2", "amount", "numeric", 168, 158))
	f.exec(t, drift("2", "country", "categorical", 168, 1000))
	f.exec(t, drift("1", "amount", "numeric", 24, 1000))

	// Experiment exp-1: control A, treatment B, two metrics, cumulative and
	// 1h windows; an older computation of the cumulative window.
	ab := func(gran string, windowStart int64, variant string, control bool, metric string, value, lift, p float64, computed string) string {
		return fmt.Sprintf(`INSERT INTO ab_results
			(experiment_id, granularity, window_start, window_end, variant, metric, model_id, model_version,
			 is_control, control_variant, prediction_count, labeled_count, expected_share, srm_p_value,
			 value, control_value, lift, lift_ci_lower, lift_ci_upper, p_value, statistic, test, significant, final, computed_at)
			VALUES ('exp-1', %s, toDateTime(%d, 'UTC'), toDateTime(%d, 'UTC'), %s, %s, 'm-improving', %s,
			        %v, 'A', 1000, 900, 0.5, 0.4, %v, 0.8, %v, %v, %v, %v, 2.5, 'z', %v, 0, %s)`,
			sqlString(gran), windowStart, f.now.Unix(), sqlString(variant), sqlString(metric), sqlString(map[bool]string{true: "1", false: "2"}[control]),
			control, value, lift, lift-0.01, lift+0.01, p, p < 0.05, computed)
	}
	begin := hour0.Add(-48 * time.Hour).Unix()
	f.exec(t, ab("cumulative", begin, "A", true, "accuracy", 0.8, 0, 1, "now64(3)"))
	f.exec(t, ab("cumulative", begin, "B", false, "accuracy", 0.84, 0.05, 0.01, "now64(3)"))
	f.exec(t, ab("cumulative", begin, "B", false, "f1", 0.7, -0.01, 0.6, "now64(3)"))
	f.exec(t, ab("cumulative", begin, "B", false, "accuracy", 0.1, -0.9, 0.5, "now64(3) - INTERVAL 60 SECOND"))
	f.exec(t, ab("1h", hour0.Unix()-3600, "A", true, "accuracy", 0.8, 0, 1, "now64(3)"))
	f.exec(t, ab("1h", hour0.Unix()-7200, "A", true, "accuracy", 0.8, 0, 1, "now64(3)"))

	// Experiment exp-2, ended a day ago: its cumulative window moved back
	// an hour when earlier data arrived; the older window's rows (variant
	// C, significant) stay behind under an older computed_at.
	exp2 := func(start int64, variant string, control bool, significant bool, computed string) string {
		return fmt.Sprintf(`INSERT INTO ab_results
			(experiment_id, granularity, window_start, window_end, variant, metric, model_id, model_version,
			 is_control, control_variant, prediction_count, labeled_count, srm_p_value, p_value, test, significant, final, computed_at)
			VALUES ('exp-2', 'cumulative', toDateTime(%d, 'UTC'), toDateTime(%d, 'UTC'), %s, 'error_rate', %s, '1',
			        %v, 'A', 300, 0, 0.0001, 0.5, 'z', %v, 0, %s)`,
			start, f.now.Add(-24*time.Hour).Unix(), sqlString(variant), sqlString(map[bool]string{true: "m-stable", false: "m-improving"}[control]),
			control, significant, computed)
	}
	f.exec(t, exp2(begin+3600, "A", true, false, "now64(3) - INTERVAL 60 SECOND"))
	f.exec(t, exp2(begin+3600, "C", false, true, "now64(3) - INTERVAL 60 SECOND"))
	f.exec(t, exp2(begin, "A", true, false, "now64(3)"))
	f.exec(t, exp2(begin, "B", false, false, "now64(3)"))
}

// get serves path and decodes the JSON body into a generic value.
func (f *fixture) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return rec.Code, body
}

func TestIntegration(t *testing.T) {
	f := newFixture(t)
	t.Run("performance", func(t *testing.T) { testPerformance(t, f) })
	t.Run("models", func(t *testing.T) { testModels(t, f) })
	t.Run("drift", func(t *testing.T) { testDrift(t, f) })
	t.Run("experiment", func(t *testing.T) { testExperiment(t, f) })
	t.Run("errors", func(t *testing.T) { testErrors(t, f) })
	t.Run("injection", func(t *testing.T) { testInjection(t, f) })
	t.Run("slices", func(t *testing.T) { testSlices(t, f) })
	t.Run("report", func(t *testing.T) { testReport(t, f) })
}

// testReport runs predlog-report's Write on the fixture: every model and
// experiment gets its section, whatever its id holds (trickyID's backslash
// once broke the latency query's parameter, an experiment id with a space
// or a quote the list of experiments).
func testReport(t *testing.T, f *fixture) {
	const trickyExp = `exp 3 'x';\`
	for _, v := range []struct {
		variant string
		control bool
	}{{"A", true}, {"B", false}} {
		f.exec(t, fmt.Sprintf(`INSERT INTO ab_results
			(experiment_id, granularity, window_start, window_end, variant, metric, model_id, model_version,
			 is_control, control_variant, prediction_count, labeled_count, srm_p_value, p_value, test, significant, final, computed_at)
			VALUES (%s, 'cumulative', toDateTime(%d, 'UTC'), toDateTime(%d, 'UTC'), %s, 'error_rate', %s, 'v''1',
			        %v, 'A', 300, 0, 0.5, 0.5, 'z', 0, 0, now64(3))`,
			sqlString(trickyExp), f.now.Add(-2*time.Hour).Unix(), f.now.Unix(), sqlString(v.variant), sqlString(trickyID), v.control))
	}
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	var out strings.Builder
	err := report.Write(t.Context(), report.Config{API: srv.URL, ClickHouse: f.st.ClickHouseURL, Database: f.db, Days: 2}, &out)
	require.NoError(t, err, out.String())
	for _, want := range []string{
		"== " + trickyID + " (",
		"== m-improving (",
		"== experiment " + trickyExp + " (",
		"== experiment exp-1 (",
		"variant B        " + trickyID + "@v'1  300 predictions",
	} {
		assert.Contains(t, out.String(), want)
	}
}

// trickySlice is a slice value an injection would use.
const trickySlice = `acme'; DROP TABLE x --{y:String}`

func testSlices(t *testing.T, f *fixture) {
	base := "/v1/models/m-improving/"
	t.Run("one slice", func(t *testing.T) {
		code, body := f.get(t, base+"performance?slice_key=tenant&slice_value="+url.QueryEscape(trickySlice))
		require.Equal(t, http.StatusOK, code, body)
		q := body["query"].(map[string]any)
		assert.Equal(t, "tenant", q["slice_key"])
		assert.Equal(t, trickySlice, q["slice_value"])
		assert.Len(t, body["history"], 24)
		sum := body["summary"].(map[string]any)
		assert.Equal(t, 2400.0, sum["total_predictions"])
		assert.InDelta(t, 0.5, sum["trend_detail"].(map[string]any)["end"], 1e-9)
		preds := body["recent_predictions"].([]any)
		require.Len(t, preds, 2)
		assert.Equal(t, "sliced0", preds[0].(map[string]any)["request_id"])
	})
	t.Run("other has no recent predictions", func(t *testing.T) {
		code, body := f.get(t, base+"performance?slice_key=tenant&slice_value=other")
		require.Equal(t, http.StatusOK, code, body)
		assert.Len(t, body["history"], 24)
		assert.Empty(t, body["recent_predictions"])
	})
	t.Run("without the key", func(t *testing.T) {
		code, body := f.get(t, base+"performance?slice_key=tenant&slice_value=")
		require.Equal(t, http.StatusOK, code, body)
		assert.Equal(t, "", body["query"].(map[string]any)["slice_value"])
		assert.Empty(t, body["history"])
		preds := body["recent_predictions"].([]any)
		require.Len(t, preds, 100)
		for _, p := range preds {
			assert.NotContains(t, p.(map[string]any)["request_id"], "sliced")
		}
	})
	t.Run("retired value", func(t *testing.T) {
		// Rows of 0 predictions are not windows of the slice: the value
		// is not found, and the answer names the values there are.
		code, body := f.get(t, base+"performance?slice_key=tenant&slice_value=retired")
		require.Equal(t, http.StatusNotFound, code, body)
		assert.Contains(t, body["message"], `"other"`)
	})
	t.Run("miscased value", func(t *testing.T) {
		// It answered 200 with nothing, as if the slice had no traffic.
		code, body := f.get(t, base+"performance?slice_key=tenant&slice_value=A")
		require.Equal(t, http.StatusNotFound, code, body)
		assert.Equal(t, "not_found", body["code"])
		assert.Contains(t, body["message"], `tenant`)
		assert.Contains(t, body["message"], `its values: "a", `)
	})
	t.Run("key without sliced rows", func(t *testing.T) {
		code, body := f.get(t, base+"performance?slice_key=region&slice_value=eu")
		require.Equal(t, http.StatusOK, code, body)
		assert.Empty(t, body["history"])
		assert.Empty(t, body["recent_predictions"])
	})
	t.Run("list", func(t *testing.T) {
		code, body := f.get(t, base+"slices?slice_key=tenant")
		require.Equal(t, http.StatusOK, code, body)
		list := body["slices"].([]any)
		require.Len(t, list, 3)
		var got []string
		for _, s := range list {
			s := s.(map[string]any)
			got = append(got, fmt.Sprint(s["slice_value"], " ", s["summary"].(map[string]any)["total_predictions"]))
		}
		// Busiest first; equal volumes by value.
		assert.Equal(t, []string{"a 72000", trickySlice + " 2400", "other 2400"}, got)
		_, hasValue := body["query"].(map[string]any)["slice_value"]
		assert.False(t, hasValue)
	})
	t.Run("unknown model", func(t *testing.T) {
		code, _ := f.get(t, "/v1/models/nope/slices?slice_key=tenant")
		assert.Equal(t, http.StatusNotFound, code)
	})
	t.Run("known model without slices", func(t *testing.T) {
		code, body := f.get(t, "/v1/models/m-stable/slices?slice_key=region")
		require.Equal(t, http.StatusOK, code, body)
		assert.Empty(t, body["slices"])
	})
}

func testPerformance(t *testing.T, f *fixture) {
	tests := []struct {
		name         string
		path         string
		wantTrend    any
		wantWindows  float64
		wantStartF1  float64
		wantEndF1    float64
		wantF1Window float64 // f1 of the last window
	}{
		// First and last quarter: windows 0..179 and 540..719, means at
		// 89.5 and 629.5 of 719.
		{"improving", "/v1/models/m-improving/performance?days=30&granularity=1h", "improving", 720,
			0.6 + 0.2*89.5/719, 0.6 + 0.2*629.5/719, 0.8},
		{"declining", "/v1/models/m-declining/performance?days=30", "declining", 720,
			0.8 - 0.2*89.5/719, 0.8 - 0.2*629.5/719, 0.6},
		{"stable", "/v1/models/m-stable/performance", "stable", 720, 0, 0, 0},
		{"fewer days", "/v1/models/m-improving/performance?days=1", "stable", 24, 0, 0, 0.8},
		{"one version", "/v1/models/m-improving/performance?version=1", "stable", 720, 0.1, 0.1, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.get(t, tt.path)
			require.Equal(t, http.StatusOK, code, body)
			sum := body["summary"].(map[string]any)
			assert.Equal(t, tt.wantTrend, sum["trend"])
			assert.Equal(t, tt.wantWindows, sum["windows"])
			assert.Equal(t, 100*tt.wantWindows, sum["total_predictions"])
			assert.InDelta(t, 0.8, sum["avg_precision"], 1e-9)
			assert.InDelta(t, 0.8, sum["avg_recall"], 1e-9)
			assert.InDelta(t, 0.8, sum["avg_f1"], 1e-9)
			assert.InDelta(t, 15, sum["avg_latency_ms"], 1e-9)
			assert.InDelta(t, 0.05, sum["error_rate"], 1e-9)
			detail := sum["trend_detail"].(map[string]any)
			assert.Equal(t, "f1", detail["metric"])
			assert.Equal(t, 0.02, detail["tolerance"])
			if tt.wantStartF1 != 0 {
				assert.InDelta(t, tt.wantStartF1, detail["start"], 1e-9)
				assert.InDelta(t, tt.wantEndF1, detail["end"], 1e-9)
			}
			hist := body["history"].([]any)
			require.Len(t, hist, int(tt.wantWindows))
			last := hist[len(hist)-1].(map[string]any)
			if tt.wantF1Window != 0 {
				assert.InDelta(t, tt.wantF1Window, last["f1"], 1e-9, "FINAL must pick the latest computation")
			}
			assert.Equal(t, f.now.Truncate(time.Hour).Add(-time.Hour).Format(time.RFC3339), last["window_start"])
			assert.Nil(t, last["roc_auc"], "undefined metrics are null")
			assert.Equal(t, 0.8, last["tpr"])
			assert.Equal(t, 0.0, last["throughput_per_s"], "a non-null column stays a number")
			assert.Equal(t, 42.0, last["label_delay_p95_s"])
			assert.Equal(t, map[string]any{}, last["class_support"], "maps are objects, empty when undefined")
			assert.Nil(t, last["mape"])
			assert.Equal(t, false, body["truncated"])
		})
	}

	code, body := f.get(t, "/v1/models/m-improving/performance?days=30")
	require.Equal(t, http.StatusOK, code)
	model := body["model"].(map[string]any)
	assert.Equal(t, "2", model["model_version"], "the newest version for version=*")
	assert.Equal(t, map[string]any{"max_depth": 6.0}, model["parameters"])
	hist := body["history"].([]any)
	assert.Equal(t, true, hist[0].(map[string]any)["final"])
	assert.Equal(t, false, hist[719].(map[string]any)["final"])
	q := body["query"].(map[string]any)
	assert.Equal(t, "*", q["version"])
	assert.Equal(t, "1h", q["granularity"])

	preds := body["recent_predictions"].([]any)
	require.Len(t, preds, 100)
	first := preds[0].(map[string]any)
	assert.Equal(t, "r0", first["request_id"])
	assert.Equal(t, "error", first["status"])
	assert.Equal(t, "1", first["actual_label"])
	assert.Equal(t, "2", first["model_version"])
	assert.Equal(t, 12.5, first["latency_ms"])
	assert.Equal(t, 0.0, first["score"])
	assert.Equal(t, "1", first["predicted_label"])
	assert.Equal(t, time.Unix(f.now.Unix()-1, 0).UTC().Format(time.RFC3339), first["event_time"])
	assert.Equal(t, "r99", preds[99].(map[string]any)["request_id"])
	assert.Nil(t, preds[99].(map[string]any)["actual_label"])

	// Version 2 has predictions but no version-2 metric rows.
	code, body = f.get(t, "/v1/models/m-improving/performance?version=2&days=1")
	require.Equal(t, http.StatusOK, code)
	assert.Empty(t, body["history"])
	assert.Nil(t, body["summary"].(map[string]any)["trend"])
	assert.Len(t, body["recent_predictions"], 100)
}

func testModels(t *testing.T, f *fixture) {
	code, body := f.get(t, "/v1/models")
	require.Equal(t, http.StatusOK, code)
	models := body["models"].([]any)
	require.Len(t, models, 5)
	byID := map[string]map[string]any{}
	for _, m := range models {
		mm := m.(map[string]any)
		byID[mm["model_id"].(string)] = mm
	}
	imp := byID["m-improving"]
	assert.Equal(t, "2", imp["latest_version"])
	assert.Equal(t, "production", imp["stage"])
	assert.Equal(t, 2.0, imp["versions"])
	assert.Equal(t, 60.0, imp["predictions_last_hour"]) // one a minute, minute of now-1h on
	assert.Equal(t, 0.0, byID["m-stable"]["predictions_last_hour"])
	assert.Contains(t, byID, trickyID)

	assert.Equal(t, 7.0, byID["m-unregistered"]["predictions_last_hour"])
	assert.Equal(t, "7", byID["m-unregistered"]["latest_version"], "the version served last, as the detail says")
	assert.Nil(t, byID["m-unregistered"]["stage"])

	code, body = f.get(t, "/v1/models/m-unregistered")
	require.Equal(t, http.StatusOK, code, "listed by /v1/models, so it must answer")
	assert.Equal(t, "7", body["latest_version"])
	assert.Equal(t, []any{}, body["versions"])
	assert.Equal(t, []any{"7", "8", "6", "9"}, body["unregistered_versions"])
	code, body = f.get(t, "/v1/models/m-unregistered/drift")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, []any{}, body["features"])

	code, body = f.get(t, "/v1/models/m-improving")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "2", body["latest_version"])
	assert.Len(t, body["versions"], 2)
	assert.Equal(t, []any{}, body["unregistered_versions"])
	jobs := body["training_jobs"].([]any)
	require.Len(t, jobs, 1)
	assert.Equal(t, map[string]any{"lr": 0.1}, jobs[0].(map[string]any)["hyperparameters"])
	fi := body["feature_importance"].([]any)
	require.Len(t, fi, 2, "only the latest global computation")
	assert.Equal(t, "amount", fi[0].(map[string]any)["feature"])
	assert.Equal(t, 0.5, fi[0].(map[string]any)["score"])
	assert.Equal(t, "country", fi[1].(map[string]any)["feature"])
	bl := body["baselines"].([]any)
	require.Len(t, bl, 2, "%v", bl)
	v2, v1 := bl[0].(map[string]any), bl[1].(map[string]any)
	assert.Equal(t, "2", v2["model_version"], "newest computed first")
	assert.Equal(t, []any{"reference_window", "training"}, v2["sources"])
	assert.Equal(t, 2.0, v2["features"])
	assert.Equal(t, f.now.Add(-48*time.Hour).Truncate(time.Second).UTC().Format(time.RFC3339Nano), v2["window_start"])
	assert.Equal(t, time.Unix(f.now.Unix()-60, 0).UTC().Format(time.RFC3339Nano), v2["computed_at"], "the newest row's (the load's newer)")
	assert.Equal(t, "1", v1["model_version"])
	assert.Equal(t, []any{"training"}, v1["sources"])
	assert.Nil(t, v1["window_start"])
}

func testDrift(t *testing.T, f *fixture) {
	code, body := f.get(t, "/v1/models/m-improving/drift?version=2")
	require.Equal(t, http.StatusOK, code, body)
	feats := body["features"].([]any)
	require.Len(t, feats, 2)
	amount := feats[0].(map[string]any)
	assert.Equal(t, "amount", amount["feature"])
	assert.Equal(t, 10.0, amount["flagged_windows"])
	assert.Len(t, amount["windows"], 168)
	latest := amount["latest"].(map[string]any)
	assert.Equal(t, 0.4, latest["psi"])
	assert.Nil(t, latest["js_divergence"], "NaN becomes null")
	assert.Equal(t, []any{"psi"}, latest["flag_reasons"])
	assert.NotNil(t, latest["baseline_computed_at"])
	country := feats[1].(map[string]any)
	assert.Nil(t, country["latest"].(map[string]any)["baseline_computed_at"], "previous-window reference")

	code, body = f.get(t, "/v1/models/m-improving/drift?feature=amount&days=1")
	require.Equal(t, http.StatusOK, code, body)
	feats = body["features"].([]any)
	require.Len(t, feats, 2, "both versions")
	assert.Equal(t, "1", feats[0].(map[string]any)["model_version"])
	assert.Len(t, feats[1].(map[string]any)["windows"], 24)

	code, body = f.get(t, "/v1/models/m-stable/drift")
	require.Equal(t, http.StatusOK, code, body)
	assert.Empty(t, body["features"])
}

func testExperiment(t *testing.T, f *fixture) {
	code, body := f.get(t, "/v1/experiments")
	require.Equal(t, http.StatusOK, code, body)
	exps := body["experiments"].([]any)
	require.Len(t, exps, 2)
	e1, e2 := exps[0].(map[string]any), exps[1].(map[string]any)
	assert.Equal(t, "exp-1", e1["experiment_id"], "the most recently ending first")
	assert.Equal(t, []any{"m-improving"}, e1["model_ids"])
	assert.Equal(t, []any{"A", "B"}, e1["variants"])
	assert.Equal(t, "A", e1["control_variant"])
	assert.Equal(t, 2000.0, e1["prediction_count"], "once per variant, not per metric")
	assert.Equal(t, false, e1["srm_mismatch"])
	assert.Equal(t, []any{"accuracy"}, e1["significant_metrics"])
	assert.Equal(t, "exp-2", e2["experiment_id"])
	assert.Equal(t, []any{"A", "B"}, e2["variants"], "the newest computed window only")
	assert.Equal(t, []any{"m-improving", "m-stable"}, e2["model_ids"])
	assert.Equal(t, f.now.Truncate(time.Hour).Add(-48*time.Hour).Format(time.RFC3339), e2["window_start"])
	assert.Equal(t, true, e2["srm_mismatch"])
	assert.Equal(t, []any{}, e2["significant_metrics"])

	code, body = f.get(t, "/v1/experiments/exp-1")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "cumulative", body["window"].(map[string]any)["granularity"])
	assert.Equal(t, "A", body["control_variant"])
	assert.Equal(t, 0.4, body["srm_p_value"])
	assert.Equal(t, false, body["srm_mismatch"])
	assert.Len(t, body["available"], 2)
	vs := body["variants"].([]any)
	require.Len(t, vs, 2)
	a, b := vs[0].(map[string]any), vs[1].(map[string]any)
	assert.Equal(t, true, a["is_control"])
	assert.Equal(t, "B", b["variant"])
	ms := b["metrics"].([]any)
	require.Len(t, ms, 2)
	acc := ms[0].(map[string]any)
	assert.Equal(t, "accuracy", acc["metric"])
	assert.Equal(t, 0.84, acc["value"], "FINAL keeps the latest computation")
	assert.Equal(t, 0.05, acc["lift"])
	assert.InDelta(t, 0.04, acc["lift_ci_lower"], 1e-9)
	assert.Equal(t, 0.01, acc["p_value"])
	assert.Equal(t, true, acc["significant"])
	assert.Equal(t, 0.95, acc["confidence_level"])

	code, body = f.get(t, "/v1/experiments/exp-1?granularity=1h")
	require.Equal(t, http.StatusOK, code, body)
	w := body["window"].(map[string]any)
	assert.Equal(t, f.now.Truncate(time.Hour).Add(-time.Hour).Format(time.RFC3339), w["window_start"], "the latest window")
}

func testErrors(t *testing.T, f *fixture) {
	tests := []struct {
		name      string
		path      string
		wantCode  int
		wantParam string
	}{
		{"unknown model", "/v1/models/nope", 404, ""},
		{"unknown model performance", "/v1/models/nope/performance", 404, ""},
		{"unknown model drift", "/v1/models/nope/drift", 404, ""},
		{"unknown version", "/v1/models/m-improving/performance?version=9", 404, ""},
		{"unknown version drift", "/v1/models/m-improving/drift?version=9", 404, ""},
		{"unknown experiment", "/v1/experiments/nope", 404, ""},
		{"unknown path", "/v1/nope", 404, ""},
		{"negative days", "/v1/models/m-stable/performance?days=-1", 400, "days"},
		{"zero days", "/v1/models/m-stable/performance?days=0", 400, "days"},
		{"days not a number", "/v1/models/m-stable/performance?days=abc", 400, "days"},
		{"days too many", "/v1/models/m-stable/performance?days=366", 400, "days"},
		{"too many windows", "/v1/models/m-stable/performance?days=30&granularity=1m", 400, "days"},
		{"granularity 5m", "/v1/models/m-stable/performance?granularity=5m", 400, "granularity"},
		{"granularity empty", "/v1/models/m-stable/drift?granularity=", 400, "granularity"},
		{"version too long", "/v1/models/m-stable/performance?version=" + strings.Repeat("v", 129), 400, "version"},
		{"version empty", "/v1/models/m-stable/performance?version=", 400, "version"},
		{"unknown parameter", "/v1/models/m-stable/performance?dayz=3", 400, "dayz"},
		{"repeated parameter", "/v1/models/m-stable/performance?days=3&days=4", 400, "days"},
		{"feature too long", "/v1/models/m-stable/drift?feature=" + strings.Repeat("f", 257), 400, "feature"},
		{"experiment granularity missing", "/v1/experiments/exp-1?granularity=1d", 400, "granularity"},
		{"id too long", "/v1/models/" + strings.Repeat("m", 257), 400, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.get(t, tt.path)
			assert.Equal(t, tt.wantCode, code, body)
			if tt.wantParam != "" {
				assert.Equal(t, "invalid_parameter", body["code"])
				assert.Equal(t, tt.wantParam, body["parameter"])
				assert.Contains(t, body["message"], tt.wantParam+":")
			} else {
				assert.Equal(t, "not_found", body["code"])
			}
		})
	}
}

func testInjection(t *testing.T, f *fixture) {
	payloads := []string{
		`'`, `''`, `\`, `\'`, `"`, `;`, `{`, `}`, `{id:String}`, `%`, `*`,
		`x' OR '1'='1`, `x'; DROP TABLE models; --`, `x\'; DROP TABLE models; --`,
		`m-stable' --`, `m-stable\`, "m-stable\u00a0", `') UNION ALL SELECT 1 --`,
		`{model_id:String}`, `m-stable{`, "\u2028",
	}
	for _, p := range payloads {
		esc := url.PathEscape(p)
		qesc := url.QueryEscape(p)
		for _, path := range []string{
			"/v1/models/" + esc,
			"/v1/models/" + esc + "/performance",
			"/v1/models/" + esc + "/drift",
			"/v1/experiments/" + esc,
		} {
			code, body := f.get(t, path)
			assert.Equal(t, http.StatusNotFound, code, "%s: %v", path, body)
		}
		if p != "*" { // version=* is the documented all-versions value
			// Taken literally: an unknown version, named in the 404.
			path := "/v1/models/m-stable/performance?version=" + qesc
			code, body := f.get(t, path)
			require.Equal(t, http.StatusNotFound, code, "%s: %v", path, body)
			assert.Contains(t, body["message"], "has no version "+strconv.Quote(p), path)

			// Taken literally: an unknown feature, the 404 naming the
			// features that have drift.
			path = "/v1/models/m-improving/drift?version=2&feature=" + qesc
			code, body = f.get(t, path)
			require.Equal(t, http.StatusNotFound, code, "%s: %v", path, body)
			assert.Contains(t, body["message"], "has no 1h drift for feature "+strconv.Quote(p), path)
			assert.Contains(t, body["message"], `features with 1h drift: "amount"`, path)
		}
		code, body := f.get(t, "/v1/models/m-stable/performance?granularity="+qesc)
		assert.Equal(t, http.StatusBadRequest, code, body)
	}

	// Control characters, NUL included, are refused before any query.
	for _, path := range []string{
		"/v1/models/m-stable%00",
		"/v1/models/%00/performance",
		"/v1/models/m-stable/performance?version=1%00",
		"/v1/models/m-stable/drift?feature=a%0Ab",
		"/v1/experiments/exp-1%09",
		"/v1/models/%FF%FE",
	} {
		code, body := f.get(t, path)
		assert.Equal(t, http.StatusBadRequest, code, "%s: %v", path, body)
	}

	// The id made of quotes, a semicolon, braces and backslashes is found
	// exactly, and a prefix of it is not.
	code, body := f.get(t, "/v1/models/"+url.PathEscape(trickyID))
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, trickyID, body["model_id"])
	assert.Equal(t, "v'1", body["latest_version"])
	code, body = f.get(t, "/v1/models/"+url.PathEscape(trickyID)+"/performance?days=2")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, 24.0, body["summary"].(map[string]any)["windows"])
	assert.Equal(t, "stable", body["summary"].(map[string]any)["trend"])
	preds := body["recent_predictions"].([]any)
	require.Len(t, preds, len(trickyRequests))
	for i, id := range trickyRequests {
		p := preds[i].(map[string]any)
		assert.Equal(t, id, p["request_id"])
		assert.Equal(t, fmt.Sprint("label-", i), p["actual_label"], "the outcome of %q", id)
	}
	code, _ = f.get(t, "/v1/models/"+url.PathEscape(trickyID[:len(trickyID)-1]))
	assert.Equal(t, http.StatusNotFound, code)

	// Nothing was executed: every table is still there with its rows.
	for _, table := range []string{"models", "performance_metrics", "drift_metrics", "ab_results", "prediction_logs"} {
		assert.Equal(t, "1\n", f.st.Exec(t, f.db, "EXISTS TABLE "+table), table)
	}
	assert.Equal(t, "5\n", f.st.Exec(t, f.db, "SELECT count() FROM models FINAL"))
}

// TestModelsBeyondLimit: with more models than one answer lists, the list
// is the first ids in order and each carries its own volume, however busy
// the models after it are.
func TestModelsBeyondLimit(t *testing.T) {
	now := time.Now().UTC()
	f := emptyFixture(t, now)
	// m0000 .. m1009: every one registered; m<n> served n+1 predictions in
	// the last hour, so the busiest are the ones past the limit; m0001 has
	// no metadata record, m1009 only traffic.
	const n = 1010
	f.exec(t, fmt.Sprintf(`INSERT INTO models (model_id, model_version, name, stage, problem_type, updated_at, ingest_time)
		SELECT printf('m%%04d', number), '1', 'x', 'production', 'binary', now64(3), now64(3)
		FROM numbers(%d) WHERE number NOT IN (1, %d)`, n, n-1))
	f.exec(t, fmt.Sprintf(`INSERT INTO prediction_logs (request_id, model_id, model_version, event_time, latency_ms, status)
		SELECT toString(number), printf('m%%04d', m), '1', toDateTime64(%d, 3, 'UTC'), 1, 'ok'
		FROM numbers(%d) ARRAY JOIN range(%d) AS m WHERE number <= m`, now.Add(-10*time.Minute).Unix(), n, n))
	code, body := f.get(t, "/v1/models")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, true, body["truncated"])
	list := body["models"].([]any)
	require.Len(t, list, 1000)
	for i, m := range list {
		m := m.(map[string]any)
		if id := fmt.Sprintf("m%04d", i); m["model_id"] != id || m["predictions_last_hour"] != float64(i+1) {
			t.Fatalf("models[%d] = %v %v, want %s %d", i, m["model_id"], m["predictions_last_hour"], id, i+1)
		}
	}
}
