package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/predlog/predlog/internal/chquery"
)

// Store is the data access the handlers need. Every method returns at most
// limit rows; the handlers ask for one more than they return to tell a full
// answer from a truncated one. ClickHouseStore is the implementation; tests
// use a fake.
type Store interface {
	// Models aggregates the metadata records per model, by model id.
	Models(ctx context.Context, limit int) ([]ModelSummary, error)
	// Volumes counts predictions per model in the hour from the given
	// minute (that minute's too, not later ones), and names the version
	// served last, for the first limit model ids by id (so that, merged
	// with Models' first limit, the first limit-1 ids of both carry their
	// volumes).
	Volumes(ctx context.Context, since time.Time, limit int) (map[string]Volume, error)
	// ModelVersions returns a model's versions, newest first; none for an
	// unknown model.
	ModelVersions(ctx context.Context, modelID string, limit int) ([]ModelVersion, error)
	// ServedVersions returns the versions a model served predictions
	// under, most recently served first; none for an unknown model.
	ServedVersions(ctx context.Context, modelID string, limit int) ([]string, error)
	TrainingJobs(ctx context.Context, modelID string, limit int) ([]TrainingJob, error)
	// FeatureImportance returns the latest global computation per model
	// version and method, most important first.
	FeatureImportance(ctx context.Context, modelID string, limit int) ([]FeatureImportance, error)
	// Baselines returns a summary of each version's drift baseline, newest
	// computed first.
	Baselines(ctx context.Context, modelID string, limit int) ([]Baseline, error)
	// PerformanceWindows returns the windows starting in [From, To) of the
	// slice q selects (unsliced by default), oldest first; past limit the
	// oldest are left out.
	PerformanceWindows(ctx context.Context, q WindowQuery, limit int) ([]PerformanceWindow, error)
	// RecentPredictions returns predictions served in [From, To), newest
	// first; with a SliceKey those of the last day whose metadata has
	// SliceValue under it.
	RecentPredictions(ctx context.Context, q WindowQuery, limit int) ([]Prediction, error)
	// DriftWindows returns drift rows starting in [From, To), newest window
	// first (a limit cuts the oldest); feature "" means all features. Drift
	// has no all-versions row: version "*" matches every version.
	DriftWindows(ctx context.Context, q WindowQuery, feature string, limit int) ([]DriftWindow, error)
	// DriftFeatures returns the features with drift rows in the period,
	// sorted, at most limit.
	DriftFeatures(ctx context.Context, q WindowQuery, limit int) ([]string, error)
	// Experiments returns the experiments with a cumulative window (the
	// newest computed; SRMMismatch left to the caller), the most recently
	// ending first.
	Experiments(ctx context.Context, limit int) ([]ExperimentSummary, error)
	// ExperimentWindows returns the latest window of each granularity that
	// has results; none for an unknown experiment.
	ExperimentWindows(ctx context.Context, experimentID string) ([]ExperimentWindow, error)
	// ABResults returns the rows of one experiment window, control first.
	ABResults(ctx context.Context, experimentID string, w ExperimentWindow, limit int) ([]ABResult, error)
}

// WindowQuery selects a model's windows. Version "*" is the all-versions
// row of the metric tables and no filter for predictions.
type WindowQuery struct {
	ModelID     string
	Version     string
	Granularity string
	From, To    time.Time
	// SliceKey selects the rows sliced by that metadata key ("" = unsliced)
	// with value SliceValue, or with any value when AnyValue is set.
	SliceKey, SliceValue string
	AnyValue             bool
}

// ClickHouseStore reads the predlog tables through clickhouse-go. Every
// user-supplied value travels as a query parameter ({name:Type}); the SQL
// text is constant. Each query carries max_execution_time (from the context
// deadline) and max_result_rows (limit).
type ClickHouseStore struct {
	conn driver.Conn
}

var _ Store = (*ClickHouseStore)(nil)

// NewClickHouseStore reads through conn, whose database holds the tables.
func NewClickHouseStore(conn driver.Conn) *ClickHouseStore {
	return &ClickHouseStore{conn: conn}
}

// ctx attaches the parameters and the per-query limits.
// The driver would replace max_execution_time by the time left plus 5 s
// when it sees a deadline, so ClickHouse would go on for seconds after the
// API answered 504: it gets the context without its deadline, which still
// cancels the request at it (Done).
func (s *ClickHouseStore) ctx(ctx context.Context, params clickhouse.Parameters, maxRows int) context.Context {
	settings := clickhouse.Settings{"max_result_rows": maxRows}
	if dl, ok := ctx.Deadline(); ok {
		settings["max_execution_time"] = max(1, int(math.Ceil(time.Until(dl).Seconds())))
		ctx = noDeadline{ctx}
	}
	return clickhouse.Context(ctx, clickhouse.WithParameters(params), clickhouse.WithSettings(settings))
}

// noDeadline hides its context's deadline; Done and Err are the context's.
type noDeadline struct{ context.Context }

func (noDeadline) Deadline() (time.Time, bool) { return time.Time{}, false }

// arrayParam renders strings as an Array(String) query parameter value:
// each quoted, with backslashes and quotes escaped.
func arrayParam(vs []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\'')
		arrayQuoter.WriteString(&b, v)
		b.WriteByte('\'')
	}
	b.WriteByte(']')
	return b.String()
}

var arrayQuoter = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

func itoa(n int) string       { return fmt.Sprint(n) }
func unix(t time.Time) string { return fmt.Sprint(t.Unix()) }

func (s *ClickHouseStore) Models(ctx context.Context, limit int) ([]ModelSummary, error) {
	var rows []struct {
		ModelID       string    `ch:"model_id"`
		Name          string    `ch:"name"`
		LatestVersion string    `ch:"latest_version"`
		Stage         string    `ch:"stage"`
		ProblemType   string    `ch:"problem_type"`
		Versions      uint64    `ch:"versions"`
		UpdatedAt     time.Time `ch:"updated_at"`
	}
	err := s.conn.Select(s.ctx(ctx, clickhouse.Parameters{"limit": itoa(limit)}, limit), &rows, `
		SELECT
		    model_id,
		    argMax(name, k) AS name,
		    argMax(model_version, k) AS latest_version,
		    toString(argMax(stage, k)) AS stage,
		    toString(argMax(problem_type, k)) AS problem_type,
		    toUInt64(count()) AS versions,
		    max(updated_at) AS updated_at
		FROM (
		    SELECT model_id, model_version, name, stage, problem_type, updated_at,
		           (ifNull(created_at, updated_at), updated_at, model_version) AS k
		    FROM models FINAL
		)
		GROUP BY model_id
		ORDER BY model_id
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select models: %w", err)
	}
	out := make([]ModelSummary, len(rows))
	for i, r := range rows {
		out[i] = ModelSummary{
			ModelID:       r.ModelID,
			Name:          &r.Name,
			LatestVersion: &r.LatestVersion,
			Stage:         &r.Stage,
			ProblemType:   &r.ProblemType,
			Versions:      int(r.Versions),
			UpdatedAt:     utc(&r.UpdatedAt),
		}
	}
	return out, nil
}

// Volume is a model's traffic in the last hour.
type Volume struct {
	Predictions uint64
	// LastServed is the version of the latest minute with predictions (the
	// smallest of several in that minute, as ServedVersions orders them).
	LastServed string
}

func (s *ClickHouseStore) Volumes(ctx context.Context, since time.Time, limit int) (map[string]Volume, error) {
	var rows []struct {
		ModelID    string `ch:"model_id"`
		N          uint64 `ch:"n"`
		LastServed string `ch:"last_served"`
	}
	params := clickhouse.Parameters{"since": unix(since), "limit": itoa(limit)}
	// Up to the hour after since: predictions stamped in the future (a
	// skewed clock) are not recent.
	err := s.conn.Select(s.ctx(ctx, params, limit), &rows, `
		SELECT model_id, toUInt64(sum(prediction_count)) AS n,
		       argMin(model_version, (-toInt64(toUnixTimestamp(minute)), model_version)) AS last_served
		FROM prediction_stats_1m
		WHERE minute >= toDateTime({since:Int64}, 'UTC')
		  AND minute <= toDateTime({since:Int64}, 'UTC') + INTERVAL 1 HOUR
		GROUP BY model_id
		ORDER BY model_id
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select prediction volume: %w", err)
	}
	out := make(map[string]Volume, len(rows))
	for _, r := range rows {
		out[r.ModelID] = Volume{Predictions: r.N, LastServed: r.LastServed}
	}
	return out, nil
}

func (s *ClickHouseStore) ServedVersions(ctx context.Context, modelID string, limit int) ([]string, error) {
	params := clickhouse.Parameters{"model_id": chquery.Param(modelID), "limit": itoa(limit)}
	out, err := s.selectStrings(ctx, params, limit, `
		SELECT model_version
		FROM prediction_stats_1m
		WHERE model_id = {model_id:String}
		GROUP BY model_version
		-- Predictions stamped more than an hour ahead (a skewed clock)
		-- do not make a version the one served last, as in Volumes.
		ORDER BY maxIf(minute, minute <= now() + INTERVAL 1 HOUR) DESC, model_version
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select served versions: %w", err)
	}
	return out, nil
}

// selectStrings runs a query of one String column.
func (s *ClickHouseStore) selectStrings(ctx context.Context, params clickhouse.Parameters, limit int, query string) ([]string, error) {
	rows, err := s.conn.Query(s.ctx(ctx, params, limit), query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *ClickHouseStore) ModelVersions(ctx context.Context, modelID string, limit int) ([]ModelVersion, error) {
	var rows []struct {
		ModelID           string            `ch:"model_id"`
		ModelVersion      string            `ch:"model_version"`
		Name              string            `ch:"name"`
		Architecture      string            `ch:"architecture"`
		Framework         string            `ch:"framework"`
		Parameters        string            `ch:"parameters"`
		TrainingDatasets  []string          `ch:"training_datasets"`
		ArtifactURI       string            `ch:"artifact_uri"`
		Stage             string            `ch:"stage"`
		Aliases           []string          `ch:"aliases"`
		Tags              map[string]string `ch:"tags"`
		ProblemType       string            `ch:"problem_type"`
		DecisionThreshold float64           `ch:"decision_threshold"`
		PositiveClass     string            `ch:"positive_class"`
		CreatedAt         *time.Time        `ch:"created_at"`
		CreatedBy         string            `ch:"created_by"`
		UpdatedAt         time.Time         `ch:"updated_at"`
		UpdatedBy         string            `ch:"updated_by"`
	}
	params := clickhouse.Parameters{"model_id": chquery.Param(modelID), "limit": itoa(limit)}
	err := s.conn.Select(s.ctx(ctx, params, limit), &rows, `
		SELECT model_id, model_version, name, architecture, framework, parameters,
		       training_datasets, artifact_uri, toString(stage) AS stage, aliases, tags,
		       toString(problem_type) AS problem_type, decision_threshold, positive_class,
		       created_at, created_by, updated_at, updated_by
		FROM models FINAL
		WHERE model_id = {model_id:String}
		ORDER BY ifNull(created_at, updated_at) DESC, updated_at DESC, model_version DESC
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select model versions: %w", err)
	}
	out := make([]ModelVersion, len(rows))
	for i, r := range rows {
		out[i] = ModelVersion{
			ModelID:           r.ModelID,
			ModelVersion:      r.ModelVersion,
			Name:              r.Name,
			Architecture:      r.Architecture,
			Framework:         r.Framework,
			Parameters:        rawJSON(r.Parameters),
			TrainingDatasets:  nonNil(r.TrainingDatasets),
			ArtifactURI:       r.ArtifactURI,
			Stage:             r.Stage,
			Aliases:           nonNil(r.Aliases),
			Tags:              nonNilMap(r.Tags),
			ProblemType:       r.ProblemType,
			DecisionThreshold: finite(r.DecisionThreshold),
			PositiveClass:     r.PositiveClass,
			CreatedAt:         utc(r.CreatedAt),
			CreatedBy:         r.CreatedBy,
			UpdatedAt:         r.UpdatedAt.UTC(),
			UpdatedBy:         r.UpdatedBy,
		}
	}
	return out, nil
}

func (s *ClickHouseStore) TrainingJobs(ctx context.Context, modelID string, limit int) ([]TrainingJob, error) {
	var rows []struct {
		JobID             string             `ch:"job_id"`
		ModelVersion      string             `ch:"model_version"`
		Status            string             `ch:"status"`
		Hyperparameters   string             `ch:"hyperparameters"`
		DatasetName       string             `ch:"dataset_name"`
		DatasetVersion    string             `ch:"dataset_version"`
		DatasetDigest     string             `ch:"dataset_digest"`
		CPUCores          float32            `ch:"cpu_cores"`
		GPUCount          uint16             `ch:"gpu_count"`
		GPUType           string             `ch:"gpu_type"`
		MemoryBytes       uint64             `ch:"memory_bytes"`
		NodeCount         uint16             `ch:"node_count"`
		DurationSeconds   float64            `ch:"duration_seconds"`
		Cost              *float64           `ch:"cost"`
		CostCurrency      string             `ch:"cost_currency"`
		TrainMetrics      map[string]float64 `ch:"train_metrics"`
		ValidationMetrics map[string]float64 `ch:"validation_metrics"`
		StartedAt         *time.Time         `ch:"started_at"`
		FinishedAt        *time.Time         `ch:"finished_at"`
		UpdatedAt         time.Time          `ch:"updated_at"`
	}
	params := clickhouse.Parameters{"model_id": chquery.Param(modelID), "limit": itoa(limit)}
	err := s.conn.Select(s.ctx(ctx, params, limit), &rows, `
		SELECT job_id, model_version, toString(status) AS status, hyperparameters,
		       dataset_name, dataset_version, dataset_digest, cpu_cores, gpu_count, gpu_type,
		       memory_bytes, node_count, duration_seconds, cost, cost_currency,
		       train_metrics, validation_metrics, started_at, finished_at, updated_at
		FROM training_jobs FINAL
		WHERE model_id = {model_id:String}
		ORDER BY ifNull(started_at, updated_at) DESC, job_id
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select training jobs: %w", err)
	}
	out := make([]TrainingJob, len(rows))
	for i, r := range rows {
		out[i] = TrainingJob{
			JobID:             r.JobID,
			ModelVersion:      r.ModelVersion,
			Status:            r.Status,
			Hyperparameters:   rawJSON(r.Hyperparameters),
			DatasetName:       r.DatasetName,
			DatasetVersion:    r.DatasetVersion,
			DatasetDigest:     r.DatasetDigest,
			CPUCores:          finite(float64(r.CPUCores)),
			GPUCount:          r.GPUCount,
			GPUType:           r.GPUType,
			MemoryBytes:       r.MemoryBytes,
			NodeCount:         r.NodeCount,
			DurationSeconds:   finite(r.DurationSeconds),
			Cost:              finiteP(r.Cost),
			CostCurrency:      r.CostCurrency,
			TrainMetrics:      finiteMap(r.TrainMetrics),
			ValidationMetrics: finiteMap(r.ValidationMetrics),
			StartedAt:         utc(r.StartedAt),
			FinishedAt:        utc(r.FinishedAt),
			UpdatedAt:         r.UpdatedAt.UTC(),
		}
	}
	return out, nil
}

func (s *ClickHouseStore) FeatureImportance(ctx context.Context, modelID string, limit int) ([]FeatureImportance, error) {
	var rows []struct {
		ModelVersion string    `ch:"model_version"`
		Method       string    `ch:"method"`
		Feature      string    `ch:"feature"`
		Score        float64   `ch:"score"`
		ComputedAt   time.Time `ch:"computed_at"`
	}
	params := clickhouse.Parameters{"model_id": chquery.Param(modelID), "limit": itoa(limit)}
	// A newer computation replaces an older one feature by feature, so only
	// rows of the latest computed_at per (version, method) are current.
	err := s.conn.Select(s.ctx(ctx, params, limit), &rows, `
		SELECT model_version, method, feature, score, computed_at
		FROM (
		    SELECT model_version, method, feature, score, computed_at,
		           max(computed_at) OVER (PARTITION BY model_version, method) AS latest
		    FROM feature_importance FINAL
		    WHERE model_id = {model_id:String} AND scope = 'global'
		)
		WHERE computed_at = latest
		ORDER BY model_version DESC, method, score DESC, feature
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select feature importance: %w", err)
	}
	out := make([]FeatureImportance, len(rows))
	for i, r := range rows {
		out[i] = FeatureImportance{
			ModelVersion: r.ModelVersion,
			Method:       r.Method,
			Feature:      r.Feature,
			Score:        finite(r.Score),
			ComputedAt:   r.ComputedAt.UTC(),
		}
	}
	return out, nil
}

func (s *ClickHouseStore) Baselines(ctx context.Context, modelID string, limit int) ([]Baseline, error) {
	var rows []struct {
		ModelVersion string     `ch:"model_version"`
		Sources      []string   `ch:"sources"`
		Features     uint64     `ch:"features"`
		WindowStart  *time.Time `ch:"window_start"`
		WindowEnd    *time.Time `ch:"window_end"`
		ComputedAt   time.Time  `ch:"computed_at"`
	}
	params := clickhouse.Parameters{"model_id": chquery.Param(modelID), "limit": itoa(limit)}
	err := s.conn.Select(s.ctx(ctx, params, limit), &rows, `
		SELECT model_version, arraySort(groupUniqArray(toString(source))) AS sources, count() AS features,
		       min(window_start) AS window_start, max(window_end) AS window_end, max(computed_at) AS computed_at
		FROM feature_baselines FINAL
		WHERE model_id = {model_id:String}
		GROUP BY model_version
		ORDER BY computed_at DESC, model_version
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select baselines: %w", err)
	}
	out := make([]Baseline, len(rows))
	for i, r := range rows {
		out[i] = Baseline{ModelVersion: r.ModelVersion, Sources: r.Sources, Features: r.Features,
			WindowStart: utc(r.WindowStart), WindowEnd: utc(r.WindowEnd), ComputedAt: r.ComputedAt.UTC()}
	}
	return out, nil
}

func windowParams(q WindowQuery, limit int) clickhouse.Parameters {
	return clickhouse.Parameters{
		"model_id":    chquery.Param(q.ModelID),
		"version":     chquery.Param(q.Version),
		"granularity": chquery.Param(q.Granularity),
		"from":        unix(q.From),
		"to":          unix(q.To),
		"limit":       itoa(limit),
		"slice_key":   chquery.Param(q.SliceKey),
		"slice_value": chquery.Param(q.SliceValue),
		"any_value":   strconv.FormatBool(q.AnyValue),
	}
}

func (s *ClickHouseStore) PerformanceWindows(ctx context.Context, q WindowQuery, limit int) ([]PerformanceWindow, error) {
	var out []PerformanceWindow
	err := s.conn.Select(s.ctx(ctx, windowParams(q, limit), limit), &out, `
		SELECT window_start, window_end, "final" AS is_final,
		       toString(problem_type) AS problem_type, decision_threshold,
		       prediction_count, error_count, error_rate,
		       latency_avg_ms, latency_p50_ms, latency_p90_ms, latency_p95_ms, latency_p99_ms, latency_max_ms,
		       throughput_per_s,
		       labeled_count, label_coverage, label_delay_avg_s, label_delay_p50_s, label_delay_p95_s, tp, fp, tn, fn,
		       "precision", recall, f1, accuracy, roc_auc, log_loss,
		       tpr, fpr, tnr, fnr, base_rate, predicted_positive_rate, score_mean,
		       class_precision, class_recall, class_f1, class_support,
		       macro_precision, macro_recall, macro_f1, weighted_f1, weighted_precision, weighted_recall,
		       me, mae, rmse, mape, r2, computed_at, slice_value
		FROM performance_metrics FINAL
		WHERE model_id = {model_id:String}
		  AND model_version = {version:String}
		  AND granularity = {granularity:String}
		  AND window_start >= toDateTime({from:Int64}, 'UTC')
		  AND window_start < toDateTime({to:Int64}, 'UTC')
		  AND slice_key = {slice_key:String}
		  AND ({any_value:Bool} OR slice_value = {slice_value:String})
		  -- A value retired into "other" by a recomputation (perf_retire)
		  -- leaves a row of 0 predictions behind: not a window of the slice.
		  AND (slice_key = '' OR prediction_count > 0)
		ORDER BY window_start DESC, slice_value
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select performance metrics: %w", err)
	}
	for i := range out {
		w := &out[i]
		w.WindowStart, w.WindowEnd, w.ComputedAt = w.WindowStart.UTC(), w.WindowEnd.UTC(), w.ComputedAt.UTC()
		w.ClassPrecision, w.ClassRecall, w.ClassF1 = nonNilMap(w.ClassPrecision), nonNilMap(w.ClassRecall), nonNilMap(w.ClassF1)
		w.ClassSupport = nonNilMap(w.ClassSupport)
		scrubNonFinite(reflect.ValueOf(w).Elem())
	}
	// Read newest first so that a limit cuts the oldest windows off.
	slices.Reverse(out)
	return out, nil
}

// predictionFilter selects a model's predictions in [from, to); version "*"
// matches every version.
const predictionFilter = `
		model_id = {model_id:String}
		AND ({version:String} = '*' OR model_version = {version:String})
		AND event_time >= toDateTime({from:Int64}, 'UTC')
		AND event_time < toDateTime({to:Int64}, 'UTC')
		AND ({slice_key:String} = '' OR metadata[{slice_key:String}] = {slice_value:String})`

func (s *ClickHouseStore) RecentPredictions(ctx context.Context, q WindowQuery, limit int) ([]Prediction, error) {
	var rows []Prediction
	// Newest first, in widening ranges (the last hour, the last day, the
	// rest of the period): the newest predictions of a busy model lie in
	// its last minutes, and finding them in one read of the whole period
	// costs a scan of every prediction time in it (30 days of a model
	// serving 150/s: 400M rows).
	// A slice's rows are found by reading the metadata map of every row:
	// only the last day is searched, lest a rare value scan the period.
	backs := []time.Duration{time.Hour, 24 * time.Hour, 0}
	if q.SliceKey != "" {
		backs = backs[:2]
	}
	to := q.To
	for _, back := range backs {
		sub := q
		sub.To = to
		if back > 0 && q.To.Add(-back).After(q.From) {
			sub.From = q.To.Add(-back)
		}
		if !sub.From.Before(sub.To) {
			continue
		}
		n := limit - len(rows)
		params := windowParams(sub, n)
		var part []Prediction
		err := s.conn.Select(s.ctx(ctx, params, n), &part, `
			SELECT request_id, model_version, event_time, score, value, predicted_label,
			       confidence, latency_ms, toString(status) AS status, error_message
			FROM prediction_logs
			WHERE `+predictionFilter+`
			ORDER BY event_time DESC, request_id
			LIMIT {limit:UInt32}`)
		if err != nil {
			return nil, fmt.Errorf("select recent predictions: %w", err)
		}
		rows = append(rows, part...)
		if len(rows) >= limit {
			break
		}
		to = sub.From
	}
	if len(rows) == 0 {
		return []Prediction{}, nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.RequestID
	}
	var outcomes []struct {
		RequestID string   `ch:"request_id"`
		Label     *string  `ch:"label"`
		Value     *float64 `ch:"value"`
	}
	params := clickhouse.Parameters{"model_id": chquery.Param(q.ModelID), "ids": arrayParam(ids)}
	err := s.conn.Select(s.ctx(ctx, params, len(ids)), &outcomes, `
		SELECT request_id, label, value
		FROM outcomes FINAL
		WHERE model_id = {model_id:String} AND request_id IN {ids:Array(String)}`)
	if err != nil {
		return nil, fmt.Errorf("select outcomes: %w", err)
	}
	byID := make(map[string]int, len(rows))
	for i, r := range rows {
		byID[r.RequestID] = i
	}
	for _, o := range outcomes {
		if i, ok := byID[o.RequestID]; ok {
			rows[i].ActualLabel, rows[i].ActualValue = o.Label, o.Value
		}
	}
	for i := range rows {
		rows[i].EventTime = rows[i].EventTime.UTC()
		scrubNonFinite(reflect.ValueOf(&rows[i]).Elem())
	}
	return rows, nil
}

// driftPeriod selects the drift rows of a WindowQuery's model, version
// (all for "*": drift has no all-versions row), granularity and period.
const driftPeriod = `model_id = {model_id:String}
		  AND ({version:String} = '*' OR model_version = {version:String})
		  AND granularity = {granularity:String}
		  AND window_start >= toDateTime({from:Int64}, 'UTC')
		  AND window_start < toDateTime({to:Int64}, 'UTC')`

func (s *ClickHouseStore) DriftFeatures(ctx context.Context, q WindowQuery, limit int) ([]string, error) {
	out, err := s.selectStrings(ctx, windowParams(q, limit), limit, `
		SELECT DISTINCT feature
		FROM drift_metrics
		WHERE `+driftPeriod+`
		ORDER BY feature
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select drift features: %w", err)
	}
	return out, nil
}

func (s *ClickHouseStore) DriftWindows(ctx context.Context, q WindowQuery, feature string, limit int) ([]DriftWindow, error) {
	var rows []struct {
		ModelVersion       string     `ch:"model_version"`
		Feature            string     `ch:"feature"`
		FeatureType        string     `ch:"feature_type"`
		WindowStart        time.Time  `ch:"window_start"`
		WindowEnd          time.Time  `ch:"window_end"`
		Final              bool       `ch:"is_final"`
		BaselineComputedAt time.Time  `ch:"baseline_computed_at"`
		ReferenceStart     *time.Time `ch:"reference_window_start"`
		SampleCount        uint64     `ch:"sample_count"`
		PSI                *float64   `ch:"psi"`
		KSStat             *float64   `ch:"ks_stat"`
		KSPValue           *float64   `ch:"ks_p_value"`
		JSDivergence       *float64   `ch:"js_divergence"`
		JSDistance         *float64   `ch:"js_distance"`
		Chi2PValue         *float64   `ch:"chi2_p_value"`
		LinfDistance       *float64   `ch:"linf_distance"`
		NullRate           float64    `ch:"null_rate"`
		BaselineNullRate   float64    `ch:"baseline_null_rate"`
		NullRateChange     float64    `ch:"null_rate_change"`
		Flagged            bool       `ch:"flagged"`
		FlagReasons        []string   `ch:"flag_reasons"`
		ComputedAt         time.Time  `ch:"computed_at"`
	}
	params := windowParams(q, limit)
	params["feature"] = chquery.Param(feature)
	err := s.conn.Select(s.ctx(ctx, params, limit), &rows, `
		SELECT model_version, feature, toString(feature_type) AS feature_type, window_start, window_end,
		       "final" AS is_final, baseline_computed_at, reference_window_start, sample_count,
		       psi, ks_stat, ks_p_value, js_divergence, js_distance, chi2_p_value, linf_distance,
		       null_rate, baseline_null_rate, null_rate_change, flagged, flag_reasons, computed_at
		FROM drift_metrics FINAL
		WHERE `+driftPeriod+`
		  AND ({feature:String} = '' OR feature = {feature:String})
		ORDER BY window_start DESC, feature, model_version
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select drift metrics: %w", err)
	}
	out := make([]DriftWindow, len(rows))
	for i, r := range rows {
		baseline := utc(&r.BaselineComputedAt)
		if r.BaselineComputedAt.Unix() <= 0 { // 1970-01-01: no baseline, previous window
			baseline = nil
		}
		out[i] = DriftWindow{
			ModelVersion:         r.ModelVersion,
			Feature:              r.Feature,
			FeatureType:          r.FeatureType,
			WindowStart:          r.WindowStart.UTC(),
			WindowEnd:            r.WindowEnd.UTC(),
			Final:                r.Final,
			BaselineComputedAt:   baseline,
			ReferenceWindowStart: utc(r.ReferenceStart),
			SampleCount:          r.SampleCount,
			PSI:                  finiteP(r.PSI),
			KSStat:               finiteP(r.KSStat),
			KSPValue:             finiteP(r.KSPValue),
			JSDivergence:         finiteP(r.JSDivergence),
			JSDistance:           finiteP(r.JSDistance),
			Chi2PValue:           finiteP(r.Chi2PValue),
			LinfDistance:         finiteP(r.LinfDistance),
			NullRate:             finite(r.NullRate),
			BaselineNullRate:     finite(r.BaselineNullRate),
			NullRateChange:       finite(r.NullRateChange),
			Flagged:              r.Flagged,
			FlagReasons:          nonNil(r.FlagReasons),
			ComputedAt:           r.ComputedAt.UTC(),
		}
	}
	return out, nil
}

func (s *ClickHouseStore) Experiments(ctx context.Context, limit int) ([]ExperimentSummary, error) {
	var out []ExperimentSummary
	params := clickhouse.Parameters{"limit": itoa(limit)}
	// The cumulative window's start moves back when earlier data arrives
	// late, leaving the older rows behind: the newest computed one counts.
	err := s.conn.Select(s.ctx(ctx, params, limit), &out, `
		SELECT experiment_id,
		       arraySort(groupUniqArray(model_id)) AS model_ids,
		       arraySort(groupArray(variant)) AS variants,
		       any(control) AS control_variant,
		       min(ws) AS window_start, max(we) AS window_end,
		       sum(n) AS predictions,
		       any(srm) AS srm_p_value,
		       arraySort(arrayDistinct(arrayFlatten(groupArray(sig)))) AS significant_metrics
		FROM
		(
			SELECT r.experiment_id AS experiment_id, r.variant AS variant, any(r.model_id) AS model_id,
			       any(r.control_variant) AS control, any(r.window_start) AS ws, any(r.window_end) AS we,
			       any(r.prediction_count) AS n, any(r.srm_p_value) AS srm,
			       groupArrayIf(r.metric, r.significant AND NOT r.is_control) AS sig
			FROM ab_results AS r FINAL
			INNER JOIN
			(
				SELECT experiment_id, argMax(window_start, computed_at) AS latest
				FROM ab_results FINAL
				WHERE granularity = 'cumulative'
				GROUP BY experiment_id
			) AS l ON l.experiment_id = r.experiment_id AND l.latest = r.window_start
			WHERE r.granularity = 'cumulative'
			GROUP BY r.experiment_id, r.variant
		)
		GROUP BY experiment_id
		ORDER BY window_end DESC, experiment_id
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select experiments: %w", err)
	}
	for i := range out {
		e := &out[i]
		e.WindowStart, e.WindowEnd, e.SRMPValue = e.WindowStart.UTC(), e.WindowEnd.UTC(), finiteP(e.SRMPValue)
	}
	return out, nil
}

// maxExperimentGranularities bounds the granularities listed per experiment.
const maxExperimentGranularities = 100

// ExperimentWindows: for "cumulative" the newest computed window (its start
// moves back when earlier data arrives late, leaving the older row behind).
func (s *ClickHouseStore) ExperimentWindows(ctx context.Context, experimentID string) ([]ExperimentWindow, error) {
	var rows []struct {
		Granularity string    `ch:"granularity"`
		WindowStart time.Time `ch:"latest_start"`
		WindowEnd   time.Time `ch:"latest_end"`
	}
	params := clickhouse.Parameters{"experiment_id": chquery.Param(experimentID), "limit": itoa(maxExperimentGranularities)}
	err := s.conn.Select(s.ctx(ctx, params, maxExperimentGranularities), &rows, `
		SELECT granularity,
		       if(granularity = 'cumulative', argMax(window_start, computed_at), max(window_start)) AS latest_start,
		       if(granularity = 'cumulative', argMax(window_end, computed_at), argMax(window_end, window_start)) AS latest_end
		FROM ab_results FINAL
		WHERE experiment_id = {experiment_id:String}
		GROUP BY granularity
		ORDER BY granularity
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select experiment windows: %w", err)
	}
	out := make([]ExperimentWindow, len(rows))
	for i, r := range rows {
		out[i] = ExperimentWindow{Granularity: r.Granularity, WindowStart: r.WindowStart.UTC(), WindowEnd: r.WindowEnd.UTC()}
	}
	return out, nil
}

func (s *ClickHouseStore) ABResults(ctx context.Context, experimentID string, w ExperimentWindow, limit int) ([]ABResult, error) {
	var rows []struct {
		Variant         string   `ch:"variant"`
		Metric          string   `ch:"metric"`
		ModelID         string   `ch:"model_id"`
		ModelVersion    string   `ch:"model_version"`
		IsControl       bool     `ch:"is_control"`
		ControlVariant  string   `ch:"control_variant"`
		PredictionCount uint64   `ch:"prediction_count"`
		LabeledCount    uint64   `ch:"labeled_count"`
		ExpectedShare   *float64 `ch:"expected_share"`
		SRMPValue       *float64 `ch:"srm_p_value"`
		Value           *float64 `ch:"value"`
		ControlValue    *float64 `ch:"control_value"`
		Lift            *float64 `ch:"lift"`
		LiftCILower     *float64 `ch:"lift_ci_lower"`
		LiftCIUpper     *float64 `ch:"lift_ci_upper"`
		ConfidenceLevel float64  `ch:"confidence_level"`
		PValue          *float64 `ch:"p_value"`
		Statistic       *float64 `ch:"statistic"`
		Test            string   `ch:"test"`
		Significant     bool     `ch:"significant"`
		Final           bool     `ch:"is_final"`
	}
	params := clickhouse.Parameters{
		"experiment_id": chquery.Param(experimentID),
		"granularity":   chquery.Param(w.Granularity),
		"window_start":  unix(w.WindowStart),
		"limit":         itoa(limit),
	}
	err := s.conn.Select(s.ctx(ctx, params, limit), &rows, `
		SELECT variant, metric, model_id, model_version, is_control, control_variant,
		       prediction_count, labeled_count, expected_share, srm_p_value, value, control_value,
		       lift, lift_ci_lower, lift_ci_upper, confidence_level, p_value, statistic, test, significant,
		       "final" AS is_final
		FROM ab_results FINAL
		WHERE experiment_id = {experiment_id:String}
		  AND granularity = {granularity:String}
		  AND window_start = toDateTime({window_start:Int64}, 'UTC')
		ORDER BY is_control DESC, variant, metric
		LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("select ab results: %w", err)
	}
	out := make([]ABResult, len(rows))
	for i, r := range rows {
		out[i] = ABResult{
			Variant:         r.Variant,
			ModelID:         r.ModelID,
			ModelVersion:    r.ModelVersion,
			IsControl:       r.IsControl,
			ControlVariant:  r.ControlVariant,
			PredictionCount: r.PredictionCount,
			LabeledCount:    r.LabeledCount,
			ExpectedShare:   finiteP(r.ExpectedShare),
			SRMPValue:       finiteP(r.SRMPValue),
			Final:           r.Final,
			VariantMetric: VariantMetric{
				Metric:          r.Metric,
				Value:           finiteP(r.Value),
				ControlValue:    finiteP(r.ControlValue),
				Lift:            finiteP(r.Lift),
				LiftCILower:     finiteP(r.LiftCILower),
				LiftCIUpper:     finiteP(r.LiftCIUpper),
				ConfidenceLevel: finite(r.ConfidenceLevel),
				PValue:          finiteP(r.PValue),
				Statistic:       finiteP(r.Statistic),
				Test:            r.Test,
				Significant:     r.Significant,
			},
		}
	}
	return out, nil
}

// finite returns v, or nil for NaN and ±Inf, which encoding/json refuses.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func finiteP(p *float64) *float64 {
	if p == nil {
		return nil
	}
	return finite(*p)
}

// finiteMap drops non-finite values (a map cannot hold null in the schema).
func finiteMap(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	return out
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// rawJSON passes stored JSON text through; text that is not JSON becomes a
// JSON string, and empty text null.
func rawJSON(s string) json.RawMessage {
	switch {
	case strings.TrimSpace(s) == "":
		return json.RawMessage("null")
	case json.Valid([]byte(s)):
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}
