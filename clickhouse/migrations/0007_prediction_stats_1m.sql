-- Placeholder: {db} = database name.
--
-- Real-time dashboard rollup: per model, version and minute. Counts and sums
-- are SimpleAggregateFunction (read with sum/max), latency quantiles are a
-- t-digest state (read with quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)).
-- Score mean/stddev derive from score_sum, score_sumsq and score_count.
-- The view only sees rows inserted after it exists (no POPULATE: backfill with
-- INSERT ... SELECT if needed). The SELECT is parenthesised so that the
-- trailing COMMENT clause parses, as in the ClickHouse view-comment tests.
CREATE TABLE IF NOT EXISTS {db}.prediction_stats_1m
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    minute DateTime('UTC') COMMENT 'Start of the minute (event time)',
    prediction_count SimpleAggregateFunction(sum, UInt64) COMMENT 'Predictions served',
    error_count SimpleAggregateFunction(sum, UInt64) COMMENT 'Predictions with status error',
    latency_sum SimpleAggregateFunction(sum, Float64) COMMENT 'Sum of latency_ms, for the mean',
    latency_max SimpleAggregateFunction(max, Float64) COMMENT 'Largest latency_ms',
    latency_quantiles AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64) COMMENT 'T-digest of latency_ms; read with quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)',
    score_count SimpleAggregateFunction(sum, UInt64) COMMENT 'Predictions that carried a score',
    score_sum SimpleAggregateFunction(sum, Float64) COMMENT 'Sum of score',
    score_sumsq SimpleAggregateFunction(sum, Float64) COMMENT 'Sum of squared score, for the variance'
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (model_id, model_version, minute)
-- Retried ingester inserts carry the same insert_deduplication_token; the
-- window makes ClickHouse drop them here too (for the view target, with
-- deduplicate_blocks_in_dependent_materialized_views).
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Per-minute prediction rollup for real-time dashboards, fed by prediction_stats_1m_mv';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.prediction_stats_1m_mv TO {db}.prediction_stats_1m
AS (
SELECT
    model_id,
    model_version,
    toStartOfMinute(toDateTime(event_time, 'UTC')) AS minute,
    count() AS prediction_count,
    countIf(status = 'error') AS error_count,
    sum(latency_ms) AS latency_sum,
    max(latency_ms) AS latency_max,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(latency_ms) AS latency_quantiles,
    count(score) AS score_count,
    sum(ifNull(score, 0)) AS score_sum,
    sum(ifNull(score, 0) * ifNull(score, 0)) AS score_sumsq
FROM {db}.prediction_logs
GROUP BY model_id, model_version, minute
)
COMMENT 'Feeds prediction_stats_1m from every insert into prediction_logs';
