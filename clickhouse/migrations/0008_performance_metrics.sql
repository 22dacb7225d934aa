-- Placeholder: {db} = database name.
--
-- Model quality per window, written by the aggregator. It recomputes a window
-- when late outcomes arrive and inserts the whole row again; the latest
-- computed_at per key wins (read with FINAL). Ratios that are undefined for a
-- window (no labels, no predicted positives, ...) are NULL, not 0, so charts
-- show gaps instead of false drops. Columns for other problem types stay NULL
-- or empty.
--
-- Keys: one row per (model_id, model_version) and window, plus an all-versions
-- row with model_version = '*'; slice_key/slice_value are '' for the unsliced
-- row, else a configured metadata key and one of its top-N values, the rest
-- folded into 'other'. Exact: counts, rates, confusion matrices and what is
-- derived from them, means, log loss, regression errors. Approximate:
-- latency and label-delay quantiles (t-digest) and roc_auc (scores binned to
-- 0.001, see clickhouse/queries). final is set by the last recomputation,
-- once the window is older than the label horizon.
CREATE TABLE IF NOT EXISTS {db}.performance_metrics
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    granularity LowCardinality(String) COMMENT 'Window size: 1m, 1h, 1d, ...',
    slice_key LowCardinality(String) COMMENT 'Metadata key the row is sliced by; empty for the unsliced row',
    slice_value String COMMENT 'Value of slice_key (top-N per key, the rest as other); empty for the unsliced row',
    window_start DateTime('UTC') COMMENT 'Window start (prediction event time), inclusive',
    window_end DateTime('UTC') COMMENT 'Window end, exclusive',
    problem_type Enum8('binary' = 1, 'multiclass' = 2, 'regression' = 3) COMMENT 'Problem type the metrics were computed for',
    decision_threshold Nullable(Float64) COMMENT 'Binary: threshold used for the confusion matrix',

    prediction_count UInt64 COMMENT 'Predictions in the window',
    error_count UInt64 COMMENT 'Predictions with status error',
    error_rate Nullable(Float64) COMMENT 'error_count / prediction_count',
    latency_avg_ms Nullable(Float64) COMMENT 'Mean latency_ms',
    latency_p50_ms Nullable(Float64) COMMENT 'Median latency_ms',
    latency_p90_ms Nullable(Float64) COMMENT '90th percentile latency_ms',
    latency_p95_ms Nullable(Float64) COMMENT '95th percentile latency_ms',
    latency_p99_ms Nullable(Float64) COMMENT '99th percentile latency_ms',
    latency_max_ms Nullable(Float64) COMMENT 'Largest latency_ms',
    throughput_per_s Float64 COMMENT 'prediction_count / window length in seconds',

    labeled_count UInt64 COMMENT 'Predictions with an outcome so far',
    label_coverage Nullable(Float64) COMMENT 'labeled_count / successful predictions',
    label_delay_avg_s Nullable(Float64) COMMENT 'Mean seconds from prediction to outcome',
    label_delay_p50_s Nullable(Float64) COMMENT 'Median seconds from prediction to outcome',
    label_delay_p95_s Nullable(Float64) COMMENT '95th percentile seconds from prediction to outcome',

    tp UInt64 COMMENT 'Binary: true positives',
    fp UInt64 COMMENT 'Binary: false positives',
    tn UInt64 COMMENT 'Binary: true negatives',
    fn UInt64 COMMENT 'Binary: false negatives',
    `precision` Nullable(Float64) COMMENT 'Binary: tp / (tp + fp)',
    recall Nullable(Float64) COMMENT 'Binary: tp / (tp + fn), equals tpr',
    f1 Nullable(Float64) COMMENT 'Binary: harmonic mean of precision and recall',
    accuracy Nullable(Float64) COMMENT 'Binary and multiclass: correct / labeled',
    tpr Nullable(Float64) COMMENT 'Binary: true positive rate',
    fpr Nullable(Float64) COMMENT 'Binary: false positive rate',
    tnr Nullable(Float64) COMMENT 'Binary: true negative rate',
    fnr Nullable(Float64) COMMENT 'Binary: false negative rate',
    log_loss Nullable(Float64) COMMENT 'Binary and multiclass: mean cross-entropy',
    roc_auc Nullable(Float64) COMMENT 'Binary: area under the ROC curve (scores binned to 0.001, ties count one half)',
    base_rate Nullable(Float64) COMMENT 'Binary: share of labeled rows that are positive',
    predicted_positive_rate Nullable(Float64) COMMENT 'Binary: share of predictions that are positive',
    score_mean Nullable(Float64) COMMENT 'Mean score over predictions',

    class_precision Map(LowCardinality(String), Float64) COMMENT 'Multiclass: per-class precision',
    class_recall Map(LowCardinality(String), Float64) COMMENT 'Multiclass: per-class recall',
    class_f1 Map(LowCardinality(String), Float64) COMMENT 'Multiclass: per-class F1',
    class_support Map(LowCardinality(String), UInt64) COMMENT 'Multiclass: labeled rows per true class',
    macro_precision Nullable(Float64) COMMENT 'Multiclass: unweighted mean of class precision',
    macro_recall Nullable(Float64) COMMENT 'Multiclass: unweighted mean of class recall',
    macro_f1 Nullable(Float64) COMMENT 'Multiclass: unweighted mean of class F1',
    weighted_precision Nullable(Float64) COMMENT 'Multiclass: support-weighted precision',
    weighted_recall Nullable(Float64) COMMENT 'Multiclass: support-weighted recall',
    weighted_f1 Nullable(Float64) COMMENT 'Multiclass: support-weighted F1',

    me Nullable(Float64) COMMENT 'Regression: mean error (prediction - truth)',
    mae Nullable(Float64) COMMENT 'Regression: mean absolute error',
    rmse Nullable(Float64) COMMENT 'Regression: root mean squared error',
    mape Nullable(Float64) COMMENT 'Regression: mean absolute percentage error as a fraction (0.1 = 10%), rows with truth 0 excluded',
    r2 Nullable(Float64) COMMENT 'Regression: coefficient of determination',

    final Bool COMMENT 'Last recomputation: the window is older than the label horizon and will not change',
    computed_at DateTime64(3, 'UTC') COMMENT 'When the aggregator computed the row; row version (latest wins)'
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, granularity, slice_key, slice_value, window_start)
COMMENT 'Model quality metrics per window, recomputed as outcomes arrive; latest computed_at wins, read with FINAL';
