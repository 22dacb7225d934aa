-- Placeholder: {db} = database name.
--
-- A/B test results per experiment, variant, window and metric, written by the
-- aggregator; latest computed_at wins. Keyed by experiment first because an
-- experiment may compare different models; model_id/model_version say what
-- each variant served. Volume and SRM repeat on every metric row of a variant
-- so one row answers a dashboard cell.
CREATE TABLE IF NOT EXISTS {db}.ab_results
(
    experiment_id LowCardinality(String) COMMENT 'Experiment identifier',
    granularity LowCardinality(String) COMMENT 'Window size: 1h, 1d, or cumulative',
    window_start DateTime('UTC') COMMENT 'Window start, inclusive',
    window_end DateTime('UTC') COMMENT 'Window end, exclusive',
    variant LowCardinality(String) COMMENT 'Variant name',
    metric LowCardinality(String) COMMENT 'Compared metric, e.g. accuracy, f1, error_rate, latency_p95_ms',
    model_id LowCardinality(String) COMMENT 'Model served by the variant',
    model_version LowCardinality(String) COMMENT 'Model version served by the variant',
    is_control Bool COMMENT 'Whether this variant is the control',
    control_variant LowCardinality(String) COMMENT 'Variant compared against',
    prediction_count UInt64 COMMENT 'Predictions assigned to the variant in the window',
    labeled_count UInt64 COMMENT 'Of those, predictions with an outcome',
    expected_share Nullable(Float64) COMMENT 'Planned traffic share of the variant',
    srm_p_value Nullable(Float64) COMMENT 'Sample ratio mismatch chi-squared p-value for the experiment',
    value Nullable(Float64) COMMENT 'Metric value for the variant',
    control_value Nullable(Float64) COMMENT 'Metric value for the control',
    lift Nullable(Float64) COMMENT 'Relative change vs control: value / control_value - 1',
    lift_ci_lower Nullable(Float64) COMMENT 'Lower bound of the lift confidence interval',
    lift_ci_upper Nullable(Float64) COMMENT 'Upper bound of the lift confidence interval',
    confidence_level Float64 DEFAULT 0.95 COMMENT 'Confidence level of the interval',
    p_value Nullable(Float64) COMMENT 'p-value of the difference vs control',
    test LowCardinality(String) COMMENT 'Statistical test used: z, t, bootstrap, ...',
    significant Bool COMMENT 'p_value below 1 - confidence_level',
    statistic Nullable(Float64) COMMENT 'Test statistic of the variant vs control (z or Welch t; positive when the variant is higher)',
    final Bool COMMENT 'Last recomputation: the window is older than the label horizon and will not change',
    computed_at DateTime64(3, 'UTC') COMMENT 'When the aggregator computed the row; row version (latest wins)'
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (experiment_id, granularity, window_start, variant, metric)
COMMENT 'A/B experiment results per variant and metric; latest computed_at wins, read with FINAL';
