-- Placeholders: {db} = database name; {prediction_ttl_days} = days to keep.
--
-- Numeric feature histograms per minute, binned when the predictions are
-- inserted, so that the aggregator sums them instead of binning every value
-- of every window again (the numeric drift states were ~60 % of a cycle
-- over a full hour). Opt-in: the table is always there, the view that
-- fills it (clickhouse/queries/feature_bins_view.sql) is created by the
-- aggregator when drift.insert_time_bins is set, because a materialized
-- view costs every insert (benchmarks/README.md).
--
-- Only model versions with a numeric baseline are binned, and only the
-- features (and __score__) the baseline lists: bin i of a value x is
-- arrayCount(e -> e <= x, bin_edges), as in drift_states.sql, kept as a
-- positional count array (sumForEach state: arrays add element-wise when
-- the engine merges parts, no map work). A feature the baseline does not
-- list gets a marker row (kind unbinned) so the aggregator knows to read it
-- raw; kind rows counts the predictions. Versions without a baseline cost
-- one set lookup per row: their values have no bins to count, and rounding
-- unbounded values into fine keys at insert tripled the engine's CPU per
-- ingested row (benchmarks/README.md).
--
-- The aggregator uses a (window, version) only when it can prove the
-- counts complete and current (clickhouse/queries/drift_coverage.sql):
-- the rows counted here equal the predictions in prediction_logs, every
-- binned feature was binned with the baseline that is current now (same
-- computed_at, same edges), and no feature other than __score__ is
-- unbinned (an unbinned score is counted from the score column alone).
-- Otherwise (a baseline that arrived or changed after the rows, a lost or
-- doubled view insert, base windows that are not whole minutes, the view
-- dropped) it bins that version's raw rows as before, so the result never
-- depends on this table being right (nor on the view existing).
CREATE TABLE IF NOT EXISTS {db}.feature_bins_1m
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    minute DateTime('UTC') COMMENT 'Start of the minute (prediction event time)',
    feature LowCardinality(String) COMMENT 'Numeric feature, __score__ for the prediction score, empty for kind rows',
    kind Enum8('rows' = 0, 'bins' = 1, 'unbinned' = 2) COMMENT 'rows: prediction count of the minute; bins: counts per bin of the baseline; unbinned: the feature has no baseline (no counts)',
    baseline_computed_at DateTime64(3, 'UTC') COMMENT 'computed_at of the baseline the bins come from (kind bins), 1970-01-01 otherwise',
    baseline_edges_hash UInt64 COMMENT 'cityHash64 of the sorted bin edges the bins come from (kind bins), 0 otherwise: a baseline re-sent with the same computed_at and other edges is not current',
    rows SimpleAggregateFunction(sum, UInt64) COMMENT 'kind rows: predictions inserted for the minute; 0 otherwise',
    counts AggregateFunction(sumForEach, Array(UInt64)) COMMENT 'kind bins: non-null values per bin (bin i at index i + 1); read with sumForEachMerge'
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (model_id, model_version, minute, feature, kind, baseline_computed_at, baseline_edges_hash)
TTL minute + INTERVAL {prediction_ttl_days} DAY DELETE
-- Retried ingester inserts carry the same insert_deduplication_token; the
-- window makes ClickHouse drop them here too (for the view target, with
-- deduplicate_blocks_in_dependent_materialized_views).
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Numeric feature histograms per minute binned at insert time for versions with a baseline, fed by feature_bins_1m_mv; the aggregator checks them against prediction_logs before use';
