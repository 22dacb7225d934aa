-- Placeholder: {db} = database name.
--
-- The aggregator reads its state tables a few base windows at a time, but
-- performance_states and drift_states were sorted by model, version and
-- slice or feature first: once a key prefix holds more than a granule
-- (8192 rows: 5.7 days of one prefix's 1-minute windows) every granule
-- spans days, so a read of two minutes read most of the table. With a
-- week of drift states at the benchmark's 40 versions x 21 features one
-- read of two windows took 5-7 engine CPU-s instead of 0.03-0.13, and
-- every cycle makes several: the steady state grew with the history kept.
-- Their replacements, performance_window_states and drift_window_states,
-- have the same columns and key set sorted by base_seconds and
-- window_start first.
--
-- This file copies the states (a rerun copies again: the same key and
-- computed_at collapse into one row); 0019 copies what an aggregator of
-- the previous release wrote meanwhile, 0020 drops the old tables. New
-- names rather than a swap under the old ones, so that every step can be
-- repeated after a failure and a cluster shards the copies like all later
-- writes. Stop the aggregator while migrating (the copy takes about a
-- second per million rows on the devstack); its new release reads only the
-- new tables.

CREATE TABLE IF NOT EXISTS {db}.performance_window_states
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    slice_key LowCardinality(String) COMMENT 'Metadata key, empty for the unsliced row, __ab__/<experiment_id> for an experiment''s rows',
    slice_value String COMMENT 'Metadata value (top-N of the base window, the rest other) or A/B variant, empty for the unsliced row',
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
    computed_at DateTime64(3, 'UTC') COMMENT 'Generation: when the aggregator computed the window',
    latency_sq_sum Nullable(Float64) COMMENT 'Sum of latency_ms squared; NULL in states computed before migration 0015'
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (base_seconds, window_start, model_id, model_version, slice_key, slice_value)
TTL window_start + INTERVAL {prediction_ttl_days} DAY DELETE
COMMENT 'Aggregator: mergeable per-base-window partial aggregates behind performance_metrics';

INSERT INTO {db}.performance_window_states SELECT * FROM {db}.performance_states;

CREATE TABLE IF NOT EXISTS {db}.drift_window_states
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
ORDER BY (base_seconds, window_start, model_id, model_version, feature)
TTL window_start + INTERVAL {prediction_ttl_days} DAY DELETE
COMMENT 'Aggregator: per-base-window feature histograms behind drift_metrics';

INSERT INTO {db}.drift_window_states SELECT * FROM {db}.drift_states;
