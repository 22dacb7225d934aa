-- Placeholder: {db} = database name.
--
-- The aggregator's working tables (internal/aggregate; queries in
-- clickhouse/queries). Nothing here is meant for dashboards.
--
-- performance_states: mergeable partial aggregates per base window (the
-- finest configured granularity, 1m by default), model, version and slice.
-- Every coarser window and every output row of performance_metrics is
-- rolled up from these rows, so raw prediction logs are read once per base
-- window. A recomputation inserts all rows of a window again with a newer
-- computed_at (one value per INSERT); readers take, per window, only the
-- rows of the newest computed_at ("generation"), which also drops slice
-- values that a recomputation no longer produces. Counts and sums are plain
-- columns (exact when summed), quantiles t-digest states (approximate), the
-- ROC curve a histogram of scores rounded to 0.001 per class (binned AUC).
-- Rows are read per window generation: see queries/perf_rollup.sql.
CREATE TABLE IF NOT EXISTS {db}.performance_states
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    slice_key LowCardinality(String) COMMENT 'Metadata key, empty for the unsliced row',
    slice_value String COMMENT 'Metadata value (top-N of the base window, the rest other), empty for the unsliced row',
    window_start DateTime('UTC') COMMENT 'Base window start (prediction event time)',
    base_seconds UInt32 COMMENT 'Base window length in seconds',
    problem_type Enum8('binary' = 1, 'multiclass' = 2, 'regression' = 3) COMMENT 'From models FINAL, else inferred (value without score: regression, else binary)',
    decision_threshold Float64 COMMENT 'Binary threshold used for the confusion counts',
    prediction_count UInt64 COMMENT 'Predictions',
    error_count UInt64 COMMENT 'Predictions with status error',
    latency_sum Float64 COMMENT 'Sum of latency_ms',
    latency_max Float64 COMMENT 'Largest latency_ms',
    latency_q AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64) COMMENT 'T-digest of latency_ms',
    score_count UInt64 COMMENT 'Successful predictions with a score',
    score_sum Float64 COMMENT 'Sum of score',
    ok_count UInt64 COMMENT 'Successful predictions (the denominator of label coverage)',
    labeled_count UInt64 COMMENT 'Successful predictions with an outcome',
    label_delay_sum Float64 COMMENT 'Sum of seconds from prediction to (latest) outcome',
    label_delay_q AggregateFunction(quantilesTDigest(0.5, 0.95), Float64) COMMENT 'T-digest of label delay seconds',
    predicted_count UInt64 COMMENT 'Binary: successful predictions with a score or a predicted label',
    predicted_positive UInt64 COMMENT 'Binary: of those, predicted positive',
    tp UInt64 COMMENT 'Binary: true positives',
    fp UInt64 COMMENT 'Binary: false positives',
    tn UInt64 COMMENT 'Binary: true negatives',
    fn UInt64 COMMENT 'Binary: false negatives',
    log_loss_sum Float64 COMMENT 'Binary/multiclass: sum of clipped cross-entropy',
    log_loss_count UInt64 COMMENT 'Rows in log_loss_sum',
    roc_pos Array(UInt64) COMMENT 'Binary: labeled positives per score bin (score clamped to [0, 1], rounded to 0.001: 1001 bins)',
    roc_neg Array(UInt64) COMMENT 'Binary: labeled negatives per score bin',
    class_support Map(String, UInt64) COMMENT 'Multiclass: labeled rows per true class',
    class_predicted Map(String, UInt64) COMMENT 'Multiclass: labeled rows per predicted class',
    class_tp Map(String, UInt64) COMMENT 'Multiclass: correct rows per class',
    reg_count UInt64 COMMENT 'Regression: rows with predicted and true value',
    err_sum Float64 COMMENT 'Regression: sum of prediction - truth',
    abs_err_sum Float64 COMMENT 'Regression: sum of |prediction - truth|',
    sq_err_sum Float64 COMMENT 'Regression: sum of (prediction - truth)^2',
    ape_sum Float64 COMMENT 'Regression: sum of |prediction - truth| / |truth| over truth != 0',
    ape_count UInt64 COMMENT 'Regression: rows with truth != 0',
    y_sum Float64 COMMENT 'Regression: sum of truth',
    y_sq_sum Float64 COMMENT 'Regression: sum of truth^2',
    computed_at DateTime64(3, 'UTC') COMMENT 'Generation: when the aggregator computed the window'
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, slice_key, slice_value, base_seconds, window_start)
TTL window_start + INTERVAL {prediction_ttl_days} DAY DELETE
COMMENT 'Aggregator: mergeable per-base-window partial aggregates behind performance_metrics';

-- drift_states: per base window, model version and feature, the histogram of
-- values the drift statistics are computed from. kind says what the keys
-- are: bins = bin index of the version's baseline (numeric) or category
-- (categorical, unlisted values as __other__); fine = the value rounded to
-- 3 significant digits (numeric features without a baseline), the category
-- itself for categorical features without one (top 100 per window, the rest
-- as __other__). Same generation rule as performance_states.
CREATE TABLE IF NOT EXISTS {db}.drift_states
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    feature LowCardinality(String) COMMENT 'Feature name, __score__ for the prediction score',
    feature_type Enum8('numeric' = 1, 'categorical' = 2) COMMENT 'Numeric or categorical',
    kind Enum8('bins' = 1, 'fine' = 2) COMMENT 'Key space of counts, see the table comment',
    window_start DateTime('UTC') COMMENT 'Base window start',
    base_seconds UInt32 COMMENT 'Base window length in seconds',
    baseline_computed_at DateTime64(3, 'UTC') COMMENT 'computed_at of the baseline the bins come from (kind bins)',
    counts Map(String, UInt64) COMMENT 'Histogram of non-null values',
    computed_at DateTime64(3, 'UTC') COMMENT 'Generation: when the aggregator computed the window'
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, feature, base_seconds, window_start)
TTL window_start + INTERVAL {prediction_ttl_days} DAY DELETE
COMMENT 'Aggregator: per-base-window feature histograms behind drift_metrics';

-- Watermarks the scheduler advances after a cycle succeeded: ingest.* are
-- the ingest_time up to which new predictions/outcomes were looked at,
-- closed.<g> the end of the last window of granularity g computed on
-- closing, final.<g> the end of the last window marked final. The version is
-- the value itself, so when aggregators race the furthest one wins (each
-- only advances past work it has done).
CREATE TABLE IF NOT EXISTS {db}.aggregator_watermarks
(
    name LowCardinality(String) COMMENT 'ingest.predictions, ingest.outcomes, closed.<granularity>, final.<granularity>',
    value DateTime64(3, 'UTC') COMMENT 'Watermark; row version (largest wins)',
    updated_at DateTime64(3, 'UTC') COMMENT 'When it was written'
)
ENGINE = ReplacingMergeTree(value)
ORDER BY name
COMMENT 'Aggregator: progress watermarks, read with FINAL';

-- One row per window the aggregator computed (latest computation wins):
-- what the API can show as "computed at" and "final", and how tests tell a
-- recomputed window from an untouched one.
CREATE TABLE IF NOT EXISTS {db}.aggregator_windows
(
    granularity LowCardinality(String) COMMENT '1m, 1h, 1d, ...',
    window_start DateTime('UTC') COMMENT 'Window start, inclusive',
    window_end DateTime('UTC') COMMENT 'Window end, exclusive',
    reason LowCardinality(String) COMMENT 'closed, late (new predictions or outcomes), final or backfill',
    final Bool COMMENT 'Whether this was the last computation',
    computed_at DateTime64(3, 'UTC') COMMENT 'When it was computed; row version (latest wins)'
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (granularity, window_start)
TTL window_start + INTERVAL {prediction_ttl_days} DAY DELETE
COMMENT 'Aggregator: windows computed, with their latest computed_at and final flag; read with FINAL';

-- Finding the windows that late rows touch scans ingest_time, which is not in
-- the sort keys; ingest_time grows with event_time within a model's rows, so
-- min/max per granule skips almost everything.
ALTER TABLE {db}.prediction_logs ADD INDEX IF NOT EXISTS idx_ingest_time ingest_time TYPE minmax GRANULARITY 1;
ALTER TABLE {db}.outcomes ADD INDEX IF NOT EXISTS idx_ingest_time ingest_time TYPE minmax GRANULARITY 1;
