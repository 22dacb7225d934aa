package api

import (
	"encoding/json"
	"time"
)

// The response bodies. Every field is always present; a metric that is
// undefined (no labels, no predicted positives, NaN or ±Inf in the table) is
// null, never 0. api/openapi.yaml documents the same shapes.

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	// Code is machine-readable: invalid_parameter, not_found, timeout,
	// unavailable, internal.
	Code    string `json:"code"`
	Message string `json:"message"`
	// Parameter names the offending query or path parameter, for
	// invalid_parameter.
	Parameter string `json:"parameter,omitempty"`
}

// ModelList is GET /v1/models.
type ModelList struct {
	Models []ModelSummary `json:"models"`
	// Truncated is true when more models exist than the response holds.
	Truncated   bool      `json:"truncated"`
	GeneratedAt time.Time `json:"generated_at"`
}

// ModelSummary is one model of the list. Models that served predictions in
// the last hour but have no metadata record have null name, stage and
// problem_type, and the version served last as latest_version.
type ModelSummary struct {
	ModelID       string     `json:"model_id"`
	Name          *string    `json:"name"`
	LatestVersion *string    `json:"latest_version"`
	Stage         *string    `json:"stage"`
	ProblemType   *string    `json:"problem_type"`
	Versions      int        `json:"versions"`
	UpdatedAt     *time.Time `json:"updated_at"`
	// PredictionsLastHour counts predictions since the start of the minute an
	// hour ago (prediction_stats_1m).
	PredictionsLastHour uint64 `json:"predictions_last_hour"`
}

// ModelVersion is one version's metadata record (models FINAL).
type ModelVersion struct {
	ModelID      string `json:"model_id"`
	ModelVersion string `json:"model_version"`
	Name         string `json:"name"`
	Architecture string `json:"architecture"`
	Framework    string `json:"framework"`
	// Parameters is the parameters JSON as sent; a string when the stored
	// text is not valid JSON, null when empty.
	Parameters        json.RawMessage   `json:"parameters"`
	TrainingDatasets  []string          `json:"training_datasets"`
	ArtifactURI       string            `json:"artifact_uri"`
	Stage             string            `json:"stage"`
	Aliases           []string          `json:"aliases"`
	Tags              map[string]string `json:"tags"`
	ProblemType       string            `json:"problem_type"`
	DecisionThreshold *float64          `json:"decision_threshold"`
	PositiveClass     string            `json:"positive_class"`
	CreatedAt         *time.Time        `json:"created_at"`
	CreatedBy         string            `json:"created_by"`
	UpdatedAt         time.Time         `json:"updated_at"`
	UpdatedBy         string            `json:"updated_by"`
}

// ModelDetail is GET /v1/models/{id}.
type ModelDetail struct {
	ModelID       string `json:"model_id"`
	LatestVersion string `json:"latest_version"`
	// Versions, newest first (created_at, else updated_at).
	Versions []ModelVersion `json:"versions"`
	// UnregisteredVersions served predictions but have no metadata record,
	// most recently served first.
	UnregisteredVersions []string            `json:"unregistered_versions"`
	TrainingJobs         []TrainingJob       `json:"training_jobs"`
	FeatureImportance    []FeatureImportance `json:"feature_importance"`
	// Baselines: what each version's drift is measured against.
	Baselines []Baseline `json:"baselines"`
	// Truncated: a list above was cut at its limit (1000 versions, 100
	// training jobs, 1000 feature importance rows, 1000 baselines).
	Truncated bool `json:"truncated"`
}

// Baseline summarises one version's drift baseline (feature_baselines
// FINAL): its features' rows may come from several messages or freezes.
type Baseline struct {
	ModelVersion string `json:"model_version"`
	// Sources: training, reference_window, or both when features came
	// from different baselines.
	Sources  []string `json:"sources"`
	Features uint64   `json:"features"`
	// WindowStart and WindowEnd span the reference windows of its
	// reference_window rows; null without any.
	WindowStart *time.Time `json:"window_start"`
	WindowEnd   *time.Time `json:"window_end"`
	// ComputedAt is the newest of its rows' computed_at.
	ComputedAt time.Time `json:"computed_at"`
}

// TrainingJob is one training run (training_jobs FINAL).
type TrainingJob struct {
	JobID             string             `json:"job_id"`
	ModelVersion      string             `json:"model_version"`
	Status            string             `json:"status"`
	Hyperparameters   json.RawMessage    `json:"hyperparameters"`
	DatasetName       string             `json:"dataset_name"`
	DatasetVersion    string             `json:"dataset_version"`
	DatasetDigest     string             `json:"dataset_digest"`
	CPUCores          *float64           `json:"cpu_cores"`
	GPUCount          uint16             `json:"gpu_count"`
	GPUType           string             `json:"gpu_type"`
	MemoryBytes       uint64             `json:"memory_bytes"`
	NodeCount         uint16             `json:"node_count"`
	DurationSeconds   *float64           `json:"duration_seconds"`
	Cost              *float64           `json:"cost"`
	CostCurrency      string             `json:"cost_currency"`
	TrainMetrics      map[string]float64 `json:"train_metrics"`
	ValidationMetrics map[string]float64 `json:"validation_metrics"`
	StartedAt         *time.Time         `json:"started_at"`
	FinishedAt        *time.Time         `json:"finished_at"`
	UpdatedAt         time.Time          `json:"updated_at"`
}

// FeatureImportance is one feature's global importance from the latest
// computation per model version and method.
type FeatureImportance struct {
	ModelVersion string    `json:"model_version"`
	Method       string    `json:"method"`
	Feature      string    `json:"feature"`
	Score        *float64  `json:"score"`
	ComputedAt   time.Time `json:"computed_at"`
}

// Period echoes the resolved query of a history endpoint.
type Period struct {
	ModelID     string    `json:"model_id"`
	Version     string    `json:"version"`
	Granularity string    `json:"granularity"`
	Days        int       `json:"days"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	// SliceKey and SliceValue: the slice asked for, absent when unsliced
	// (SliceValue absent in the list of a key's slices).
	SliceKey   string  `json:"slice_key,omitempty"`
	SliceValue *string `json:"slice_value,omitempty"`
}

// PerformanceHistory is GET /v1/models/{id}/performance.
type PerformanceHistory struct {
	// Model is the metadata of the requested version, or of the latest one
	// for version "*"; null when the model has no metadata record.
	Model   *ModelVersion       `json:"model"`
	Query   Period              `json:"query"`
	Summary PerformanceSummary  `json:"summary"`
	History []PerformanceWindow `json:"history"`
	// Truncated is true when the period had more windows than returned.
	Truncated         bool         `json:"truncated"`
	RecentPredictions []Prediction `json:"recent_predictions"`
}

// PerformanceWindow is one row of performance_metrics FINAL, scanned as is
// (ch tags); the store then drops non-finite values (scrubNonFinite).
type PerformanceWindow struct {
	// SliceValue is the row's slice value (the slices answer groups by it).
	SliceValue  string    `json:"-" ch:"slice_value"`
	WindowStart time.Time `json:"window_start" ch:"window_start"`
	WindowEnd   time.Time `json:"window_end" ch:"window_end"`
	// Final: the window is older than the label horizon and will not be
	// recomputed any more.
	Final                 bool               `json:"final" ch:"is_final"`
	ProblemType           string             `json:"problem_type" ch:"problem_type"`
	DecisionThreshold     *float64           `json:"decision_threshold" ch:"decision_threshold"`
	PredictionCount       uint64             `json:"prediction_count" ch:"prediction_count"`
	ErrorCount            uint64             `json:"error_count" ch:"error_count"`
	ErrorRate             *float64           `json:"error_rate" ch:"error_rate"`
	LatencyAvgMs          *float64           `json:"latency_avg_ms" ch:"latency_avg_ms"`
	LatencyP50Ms          *float64           `json:"latency_p50_ms" ch:"latency_p50_ms"`
	LatencyP90Ms          *float64           `json:"latency_p90_ms" ch:"latency_p90_ms"`
	LatencyP95Ms          *float64           `json:"latency_p95_ms" ch:"latency_p95_ms"`
	LatencyP99Ms          *float64           `json:"latency_p99_ms" ch:"latency_p99_ms"`
	LatencyMaxMs          *float64           `json:"latency_max_ms" ch:"latency_max_ms"`
	ThroughputPerS        *float64           `json:"throughput_per_s" ch:"throughput_per_s"`
	LabeledCount          uint64             `json:"labeled_count" ch:"labeled_count"`
	LabelCoverage         *float64           `json:"label_coverage" ch:"label_coverage"`
	LabelDelayAvgS        *float64           `json:"label_delay_avg_s" ch:"label_delay_avg_s"`
	LabelDelayP50S        *float64           `json:"label_delay_p50_s" ch:"label_delay_p50_s"`
	LabelDelayP95S        *float64           `json:"label_delay_p95_s" ch:"label_delay_p95_s"`
	TP                    uint64             `json:"tp" ch:"tp"`
	FP                    uint64             `json:"fp" ch:"fp"`
	TN                    uint64             `json:"tn" ch:"tn"`
	FN                    uint64             `json:"fn" ch:"fn"`
	Precision             *float64           `json:"precision" ch:"precision"`
	Recall                *float64           `json:"recall" ch:"recall"`
	F1                    *float64           `json:"f1" ch:"f1"`
	Accuracy              *float64           `json:"accuracy" ch:"accuracy"`
	ROCAUC                *float64           `json:"roc_auc" ch:"roc_auc"`
	LogLoss               *float64           `json:"log_loss" ch:"log_loss"`
	TPR                   *float64           `json:"tpr" ch:"tpr"`
	FPR                   *float64           `json:"fpr" ch:"fpr"`
	TNR                   *float64           `json:"tnr" ch:"tnr"`
	FNR                   *float64           `json:"fnr" ch:"fnr"`
	BaseRate              *float64           `json:"base_rate" ch:"base_rate"`
	PredictedPositiveRate *float64           `json:"predicted_positive_rate" ch:"predicted_positive_rate"`
	ScoreMean             *float64           `json:"score_mean" ch:"score_mean"`
	ClassPrecision        map[string]float64 `json:"class_precision" ch:"class_precision"`
	ClassRecall           map[string]float64 `json:"class_recall" ch:"class_recall"`
	ClassF1               map[string]float64 `json:"class_f1" ch:"class_f1"`
	ClassSupport          map[string]uint64  `json:"class_support" ch:"class_support"`
	MacroPrecision        *float64           `json:"macro_precision" ch:"macro_precision"`
	MacroRecall           *float64           `json:"macro_recall" ch:"macro_recall"`
	MacroF1               *float64           `json:"macro_f1" ch:"macro_f1"`
	WeightedF1            *float64           `json:"weighted_f1" ch:"weighted_f1"`
	WeightedPrecision     *float64           `json:"weighted_precision" ch:"weighted_precision"`
	WeightedRecall        *float64           `json:"weighted_recall" ch:"weighted_recall"`
	ME                    *float64           `json:"me" ch:"me"`
	MAPE                  *float64           `json:"mape" ch:"mape"`
	MAE                   *float64           `json:"mae" ch:"mae"`
	RMSE                  *float64           `json:"rmse" ch:"rmse"`
	R2                    *float64           `json:"r2" ch:"r2"`
	ComputedAt            time.Time          `json:"computed_at" ch:"computed_at"`
}

// Trend directions.
const (
	TrendImproving = "improving"
	TrendDeclining = "declining"
	TrendStable    = "stable"
)

// PerformanceSummary aggregates the returned windows; see Summarize.
type PerformanceSummary struct {
	Windows            int      `json:"windows"`
	TotalPredictions   uint64   `json:"total_predictions"`
	LabeledPredictions uint64   `json:"labeled_predictions"`
	ErrorRate          *float64 `json:"error_rate"`
	AvgPrecision       *float64 `json:"avg_precision"`
	AvgRecall          *float64 `json:"avg_recall"`
	AvgF1              *float64 `json:"avg_f1"`
	AvgLatencyMs       *float64 `json:"avg_latency_ms"`
	// The other problem types' quality over the period (see Summarize).
	AvgAccuracy *float64 `json:"avg_accuracy"`
	AvgMacroF1  *float64 `json:"avg_macro_f1"`
	AvgMAE      *float64 `json:"avg_mae"`
	AvgRMSE     *float64 `json:"avg_rmse"`
	// Trend is improving, declining or stable; null with fewer than two
	// windows that have the trend metric.
	Trend       *string     `json:"trend"`
	TrendDetail TrendDetail `json:"trend_detail"`
	// Warnings say when the figures are likely not what they seem; never
	// null.
	Warnings []Warning `json:"warnings"`
}

// Warning is a finding about the data behind a summary: a stable code and
// a message that says what to do.
type Warning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WarnNoPositiveLabels: a binary model's labelled predictions of the
// period hold no label equal to its positive class.
const WarnNoPositiveLabels = "no_positive_labels"

// TrendDetail says how Trend was decided.
type TrendDetail struct {
	Metric string `json:"metric"` // f1; macro_f1 when no window has f1; mae when neither
	// Windows is the number of windows with a value of Metric, of which
	// the first and last Compared were averaged.
	Windows   int      `json:"windows"`
	Compared  int      `json:"compared"`
	Start     *float64 `json:"start"`
	End       *float64 `json:"end"`
	Change    *float64 `json:"change"`
	Tolerance float64  `json:"tolerance"`
	// StartLabeled and EndLabeled are the labelled predictions of the
	// compared windows at each end; below MinLabeled there is no trend.
	StartLabeled uint64 `json:"start_labeled"`
	EndLabeled   uint64 `json:"end_labeled"`
	MinLabeled   int    `json:"min_labeled"`
}

// Prediction is one served prediction with its outcome, if any.
type Prediction struct {
	RequestID      string    `json:"request_id" ch:"request_id"`
	ModelVersion   string    `json:"model_version" ch:"model_version"`
	EventTime      time.Time `json:"event_time" ch:"event_time"`
	Score          *float64  `json:"score" ch:"score"`
	Value          *float64  `json:"value" ch:"value"`
	PredictedLabel string    `json:"predicted_label" ch:"predicted_label"`
	Confidence     *float64  `json:"confidence" ch:"confidence"`
	LatencyMs      *float64  `json:"latency_ms" ch:"latency_ms"`
	Status         string    `json:"status" ch:"status"`
	ErrorMessage   string    `json:"error_message" ch:"error_message"`
	// ActualLabel and ActualValue are the ground truth, null until an
	// outcome arrived.
	ActualLabel *string  `json:"actual_label" ch:"-"`
	ActualValue *float64 `json:"actual_value" ch:"-"`
}

// DriftHistory is GET /v1/models/{id}/drift.
type DriftHistory struct {
	Query Period `json:"query"`
	// Feature echoes the feature filter; null for all features.
	Feature   *string        `json:"feature"`
	Features  []FeatureDrift `json:"features"`
	Truncated bool           `json:"truncated"`
}

// FeatureDrift is the drift history of one feature of one model version,
// windows oldest first.
type FeatureDrift struct {
	ModelVersion   string        `json:"model_version"`
	Feature        string        `json:"feature"`
	FeatureType    string        `json:"feature_type"`
	FlaggedWindows int           `json:"flagged_windows"`
	Latest         *DriftWindow  `json:"latest"`
	Windows        []DriftWindow `json:"windows"`
}

// DriftWindow is one row of drift_metrics FINAL.
type DriftWindow struct {
	ModelVersion string    `json:"-"`
	Feature      string    `json:"-"`
	FeatureType  string    `json:"-"`
	WindowStart  time.Time `json:"window_start"`
	WindowEnd    time.Time `json:"window_end"`
	Final        bool      `json:"final"`
	// BaselineComputedAt is the baseline compared against; null when the
	// version has no baseline and the reference is the previous window,
	// ReferenceWindowStart.
	BaselineComputedAt   *time.Time `json:"baseline_computed_at"`
	ReferenceWindowStart *time.Time `json:"reference_window_start"`
	SampleCount          uint64     `json:"sample_count"`
	PSI                  *float64   `json:"psi"`
	KSStat               *float64   `json:"ks_stat"`
	KSPValue             *float64   `json:"ks_p_value"`
	JSDivergence         *float64   `json:"js_divergence"`
	JSDistance           *float64   `json:"js_distance"`
	Chi2PValue           *float64   `json:"chi2_p_value"`
	LinfDistance         *float64   `json:"linf_distance"`
	NullRate             *float64   `json:"null_rate"`
	BaselineNullRate     *float64   `json:"baseline_null_rate"`
	NullRateChange       *float64   `json:"null_rate_change"`
	Flagged              bool       `json:"flagged"`
	FlagReasons          []string   `json:"flag_reasons"`
	ComputedAt           time.Time  `json:"computed_at"`
}

// ExperimentList is GET /v1/experiments: every experiment with a
// cumulative verdict, most recently active first.
type ExperimentList struct {
	Experiments []ExperimentSummary `json:"experiments"`
	// Truncated is true when more experiments exist than the response holds.
	Truncated   bool      `json:"truncated"`
	GeneratedAt time.Time `json:"generated_at"`
}

// ExperimentSummary is one experiment of the list, from its cumulative
// window: GET /v1/experiments/{id} has the metrics.
type ExperimentSummary struct {
	ExperimentID   string    `json:"experiment_id" ch:"experiment_id"`
	ModelIDs       []string  `json:"model_ids" ch:"model_ids"`
	Variants       []string  `json:"variants" ch:"variants"`
	ControlVariant string    `json:"control_variant" ch:"control_variant"`
	WindowStart    time.Time `json:"window_start" ch:"window_start"`
	WindowEnd      time.Time `json:"window_end" ch:"window_end"`
	// PredictionCount sums the variants' predictions.
	PredictionCount uint64   `json:"prediction_count" ch:"predictions"`
	SRMPValue       *float64 `json:"srm_p_value" ch:"srm_p_value"`
	SRMMismatch     *bool    `json:"srm_mismatch"` // the handler's, from SRMPValue
	// SignificantMetrics are the metrics on which some variant differs
	// significantly from the control.
	SignificantMetrics []string `json:"significant_metrics" ch:"significant_metrics"`
}

// ExperimentWindow identifies one window of an experiment's results.
type ExperimentWindow struct {
	Granularity string    `json:"granularity"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
}

// Experiment is GET /v1/experiments/{id}: the results of the latest window
// of one granularity.
type Experiment struct {
	ExperimentID string           `json:"experiment_id"`
	Window       ExperimentWindow `json:"window"`
	// Final: the window will not be recomputed any more.
	Final bool `json:"final"`
	// Available lists the latest window of every granularity with results.
	Available      []ExperimentWindow `json:"available"`
	ControlVariant string             `json:"control_variant"`
	// SRMPValue is the sample-ratio-mismatch chi-squared p-value;
	// SRMMismatch is SRMPValue < 0.001.
	SRMPValue   *float64  `json:"srm_p_value"`
	SRMMismatch *bool     `json:"srm_mismatch"`
	Variants    []Variant `json:"variants"`
	Truncated   bool      `json:"truncated"`
}

// Variant is one arm of an experiment with its compared metrics.
type Variant struct {
	Variant         string          `json:"variant"`
	IsControl       bool            `json:"is_control"`
	ModelID         string          `json:"model_id"`
	ModelVersion    string          `json:"model_version"`
	PredictionCount uint64          `json:"prediction_count"`
	LabeledCount    uint64          `json:"labeled_count"`
	ExpectedShare   *float64        `json:"expected_share"`
	Metrics         []VariantMetric `json:"metrics"`
}

// VariantMetric is one metric of a variant compared with the control.
type VariantMetric struct {
	Metric          string   `json:"metric"`
	Value           *float64 `json:"value"`
	ControlValue    *float64 `json:"control_value"`
	Lift            *float64 `json:"lift"`
	LiftCILower     *float64 `json:"lift_ci_lower"`
	LiftCIUpper     *float64 `json:"lift_ci_upper"`
	ConfidenceLevel *float64 `json:"confidence_level"`
	PValue          *float64 `json:"p_value"`
	// Statistic is the test statistic (z or Welch t), positive when the
	// variant is higher than the control.
	Statistic   *float64 `json:"statistic"`
	Test        string   `json:"test"`
	Significant bool     `json:"significant"`
}

// ABResult is one row of ab_results FINAL, as the Store returns it.
type ABResult struct {
	Variant         string
	ModelID         string
	ModelVersion    string
	IsControl       bool
	ControlVariant  string
	PredictionCount uint64
	LabeledCount    uint64
	ExpectedShare   *float64
	SRMPValue       *float64
	Final           bool
	VariantMetric
}

// SliceList is GET /v1/models/{id}/slices: the performance of each value
// of one slice key over the period, busiest first.
type SliceList struct {
	Query  Period         `json:"query"`
	Slices []SliceSummary `json:"slices"`
	// Truncated: the period had more windows than one answer reads
	// (MaxSliceRows, values × windows); the oldest were left out.
	Truncated bool `json:"truncated"`
}

// SliceSummary is one slice value's summary, as in PerformanceHistory.
type SliceSummary struct {
	SliceValue string             `json:"slice_value"`
	Summary    PerformanceSummary `json:"summary"`
}
