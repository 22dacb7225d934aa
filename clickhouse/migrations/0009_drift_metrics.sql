-- Placeholder: {db} = database name.
--
-- Feature drift per window against the frozen baseline (feature_baselines),
-- written by the aggregator; one row per feature, latest computed_at wins.
-- Output drift uses the reserved feature names __score__ and __label__.
-- Without a baseline for the version the reference is the previous window
-- of the same granularity (baseline_computed_at is then 1970-01-01 and
-- reference_window_start says which window). Drift is per model version
-- only: baselines are frozen per version, so there is no '*' row.
CREATE TABLE IF NOT EXISTS {db}.drift_metrics
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    granularity LowCardinality(String) COMMENT 'Window size: 1h, 1d, ...',
    window_start DateTime('UTC') COMMENT 'Window start (prediction event time), inclusive',
    window_end DateTime('UTC') COMMENT 'Window end, exclusive',
    feature LowCardinality(String) COMMENT 'Feature name, or __score__ / __label__ for output drift',
    feature_type Enum8('numeric' = 1, 'categorical' = 2) COMMENT 'Which tests apply',
    baseline_computed_at DateTime64(3, 'UTC') COMMENT 'computed_at of the baseline compared against; 1970-01-01 when the reference is the previous window',
    reference_window_start Nullable(DateTime('UTC')) COMMENT 'Start of the previous window used as reference when the version has no baseline',
    sample_count UInt64 COMMENT 'Values in the window, including nulls',
    psi Nullable(Float64) COMMENT 'Population stability index over the baseline bins',
    ks_stat Nullable(Float64) COMMENT 'Numeric: Kolmogorov-Smirnov statistic on the binned CDF',
    ks_p_value Nullable(Float64) COMMENT 'Numeric: KS test p-value',
    js_divergence Nullable(Float64) COMMENT 'Jensen-Shannon divergence (base 2, in [0, 1])',
    js_distance Nullable(Float64) COMMENT 'Jensen-Shannon distance: sqrt(js_divergence), compared with drift.js_threshold',
    chi2_p_value Nullable(Float64) COMMENT 'Categorical: chi-squared test p-value',
    linf_distance Nullable(Float64) COMMENT 'Categorical: largest absolute difference in proportions',
    null_rate Float64 COMMENT 'Share of nulls in the window',
    baseline_null_rate Float64 COMMENT 'Share of nulls in the baseline',
    null_rate_change Float64 COMMENT 'null_rate - baseline_null_rate',
    flagged Bool COMMENT 'Whether any configured threshold was crossed',
    flag_reasons Array(LowCardinality(String)) COMMENT 'Which tests crossed their thresholds: psi, js, ks, chi2 (p-values after Benjamini-Hochberg across the window''s features)',
    final Bool COMMENT 'Last recomputation: the window is older than the label horizon and will not change',
    computed_at DateTime64(3, 'UTC') COMMENT 'When the aggregator computed the row; row version (latest wins)'
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_id, model_version, granularity, window_start, feature)
COMMENT 'Feature and output drift per window against feature_baselines; latest computed_at wins, read with FINAL';
