package aggregate

import (
	"bytes"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"text/template"

	chsql "github.com/predlog/predlog/clickhouse"
)

// A query names one rendered statement: a template in clickhouse/queries and
// the data it is executed with. Templates use text/template only to pick
// variants; every value reaches ClickHouse as a bound {name:Type}
// parameter, and {db} is replaced by the quoted database name.
type query struct {
	name string // key in renderedQueries and the golden file name
	file string // clickhouse/queries/<file>.sql
	data any
}

// queryList is every statement the aggregator runs.
var queryList = []query{
	{"perf_states", "perf_states", perfStatesData{}},
	{"perf_states_prune", "perf_states", perfStatesData{Prune: true}},
	{"perf_states_sliced", "perf_states", perfStatesData{Sliced: true}},
	{"perf_states_prune_sliced", "perf_states", perfStatesData{Prune: true, Sliced: true}},
	{"perf_states_routed", "perf_states", perfStatesData{Routed: true}},
	{"perf_states_routed_sliced", "perf_states", perfStatesData{Routed: true, Sliced: true}},
	{"perf_rollup", "perf_rollup", nil},
	{"tdigest_needed", "tdigest_needed", nil},
	{"perf_retire", "perf_retire", nil},
	{"dirty_predictions", "dirty_predictions", nil},
	{"predictions_past_horizon", "predictions_past_horizon", nil},
	{"dirty_models", "dirty_models", nil},
	{"dirty_baselines", "dirty_baselines", nil},
	{"models_ingested", "ingested", struct{ Table string }{"models"}},
	{"baselines_ingested", "ingested", struct{ Table string }{"feature_baselines"}},
	{"backfill_windows", "backfill_windows", nil},
	{"dirty_outcomes", "dirty_outcomes", dirtyOutcomesData{Indexed: true}},
	{"dirty_outcomes_fallback", "dirty_outcomes", dirtyOutcomesData{Indexed: true, Fallback: true}},
	{"dirty_outcomes_scan", "dirty_outcomes", dirtyOutcomesData{}},
	{"requests_index", "requests_index", struct{ Range bool }{false}},
	{"requests_index_range", "requests_index", struct{ Range bool }{true}},
	{"outcomes_route", "outcomes_route", nil},
	{"outcomes_routed", "outcomes_routed", nil},
	{"labels_unmatched", "labels_unmatched", nil},
	{"outcomes_resolve", "outcomes_resolve", struct{ Range bool }{false}},
	{"outcomes_resolve_range", "outcomes_resolve", struct{ Range bool }{true}},
	{"watermarks_read", "watermarks_read", nil},
	{"watermarks_write", "watermarks_write", nil},
	{"windows_record", "windows_record", nil},
	{"drift_states_numeric", "drift_states", struct{ Categorical, Values bool }{false, false}},
	{"drift_states_categorical", "drift_states", struct{ Categorical, Values bool }{true, false}},
	{"drift_states_values", "drift_states", struct{ Categorical, Values bool }{true, true}},
	{"drift_states_score", "drift_states_score", struct{ Values bool }{false}},
	{"drift_states_score_values", "drift_states_score", struct{ Values bool }{true}},
	{"drift_stale", "drift_stale", nil},
	{"feature_bins_view", "feature_bins_view", nil},
	{"feature_values_view", "feature_values_view", nil},
	{"drift_coverage", "drift_coverage", nil},
	{"drift_states_bins", "drift_states_bins", nil},
	{"drift_read", "drift_read", struct{ Base bool }{false}},
	{"drift_read_base", "drift_read", struct{ Base bool }{true}},
	{"drift_totals", "drift_totals", nil},
	{"drift_gone", "drift_gone", nil},
	{"baselines_read", "baselines_read", nil},
	{"baseline_versions", "baseline_versions", nil},
	{"baseline_training", "baseline_training", nil},
	{"baseline_candidates", "baseline_candidates", nil},
	{"baseline_freeze", "baseline_freeze", nil},
	{"baseline_frozen", "baseline_frozen", nil},
	{"ab_read", "ab_read", struct{ Cumulative bool }{false}},
	{"ab_read_cumulative", "ab_read", struct{ Cumulative bool }{true}},
	{"ab_experiments", "ab_experiments", nil},
	{"ab_variants", "ab_variants", nil},
	{"ab_cumulative_stale", "ab_cumulative_stale", struct{ Delete bool }{false}},
	{"ab_cumulative_retire", "ab_cumulative_stale", struct{ Delete bool }{true}},
	{"ab_ztest", "ab_ztest", nil},
	{"latest_perf", "latest_perf", nil},
	{"latest_drift", "latest_drift", nil},
	{"ready", "ready", nil},
	{"insert_views", "insert_views", nil},
	{"feature_bins_view_drop", "view_drop", struct{ View string }{"feature_bins_1m_mv"}},
	{"feature_values_view_drop", "view_drop", struct{ View string }{"feature_values_1m_mv"}},
}

// dirtyOutcomesData picks the dirty_outcomes variant: Indexed looks the
// outcomes up in prediction_requests (Fallback: and scans the predictions
// ingested before it was filled); neither is the scan clusters need.
type dirtyOutcomesData struct{ Indexed, Fallback bool }

// perfStatesData picks the perf_states variant: Routed for windows whose
// outcomes window_outcomes holds (it reads only theirs, so it needs no
// Prune), else Prune for a few scattered windows; Sliced when
// slices.metadata_keys is not empty.
type perfStatesData struct{ Prune, Routed, Sliced bool }

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// quoteIdent returns name as a ClickHouse identifier.
func quoteIdent(name string) string {
	if identRE.MatchString(name) {
		return name
	}
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(name) + "`"
}

// renderQueries renders every statement of queryList for database db.
func renderQueries(db string) (map[string]string, error) {
	if db == "" {
		return nil, fmt.Errorf("render queries: empty database name")
	}
	out := make(map[string]string, len(queryList))
	prefix := quoteIdent(db) + "."
	// Conditions several statements share (queries/*.tmpl).
	shared, err := template.New("").Option("missingkey=error").ParseFS(chsql.Queries, "queries/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	for _, q := range queryList {
		src, err := fs.ReadFile(chsql.Queries, "queries/"+q.file+".sql")
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", q.name, err)
		}
		tpl, err := template.Must(shared.Clone()).New(q.file).Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", q.name, err)
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, q.data); err != nil {
			return nil, fmt.Errorf("render %s: %w", q.name, err)
		}
		out[q.name] = strings.ReplaceAll(b.String(), "{db}.", prefix)
	}
	return out, nil
}
