-- Placeholder: {db} = database name.
--
-- Frozen reference distributions for drift. Numeric features: k bin edges
-- define k+1 bins (-inf, e0), [e0, e1), ..., [e(k-1), +inf), so a value x is in
-- bin arrayCount(e -> e <= x, bin_edges) (0-based) and production values
-- outside the training range still land in a bin. Categorical features:
-- category -> proportion plus other_proportion for unlisted values.
CREATE TABLE IF NOT EXISTS {db}.feature_baselines
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    feature LowCardinality(String) COMMENT 'Feature name',
    feature_type Enum8('numeric' = 1, 'categorical' = 2) COMMENT 'Which distribution columns are used',
    source Enum8('training' = 1, 'reference_window' = 2) COMMENT 'Where the distribution was taken from',
    dataset_ref String COMMENT 'Training dataset reference (name@version) when source is training',
    window_start Nullable(DateTime64(3, 'UTC')) COMMENT 'Reference window start when source is reference_window',
    window_end Nullable(DateTime64(3, 'UTC')) COMMENT 'Reference window end when source is reference_window',
    sample_count UInt64 COMMENT 'Values seen, including nulls',
    null_rate Float64 COMMENT 'Share of null values',
    bin_edges Array(Float64) COMMENT 'Numeric: k strictly increasing cut points',
    bin_proportions Array(Float64) COMMENT 'Numeric: k+1 bin proportions over non-null values, summing to 1',
    categories Map(String, Float64) COMMENT 'Categorical: value -> proportion over non-null values',
    other_proportion Float64 COMMENT 'Categorical: share of values not in categories',
    computed_at DateTime64(3, 'UTC') COMMENT 'When the baseline was computed; row version (latest wins)',
    ingest_time DateTime64(3, 'UTC') COMMENT 'When the ingester wrote the row'
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (model_id, model_version, feature)
-- Retried ingester inserts carry the same insert_deduplication_token; the
-- window makes ClickHouse drop them here too (for the view target, with
-- deduplicate_blocks_in_dependent_materialized_views).
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Reference feature distributions for drift (topic predlog.feature-baselines); latest computed_at wins';
