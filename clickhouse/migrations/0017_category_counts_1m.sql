-- Placeholders: {db} = database name; {prediction_ttl_days} = days to keep.
--
-- Categorical feature counts per minute, counted when the predictions are
-- inserted: the categorical counterpart of feature_bins_1m (migration
-- 0016; the aggregator trusts a (window, version) only when its rows count
-- equals prediction_logs', and counts the raw rows otherwise). Every
-- distinct value is kept; the baseline's categories (unlisted values as
-- __other__) and the top 100 of features without a baseline are applied
-- when the aggregator reads them, so a baseline arriving later needs no
-- recount. Costs under 1 engine CPU-second per 1,000,000 predictions at
-- insert; dropping the view makes the aggregator count the raw rows again.
CREATE TABLE IF NOT EXISTS {db}.category_counts_1m
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    minute DateTime('UTC') COMMENT 'Start of the minute (prediction event time)',
    feature LowCardinality(String) COMMENT 'Categorical feature, __label__ for the predicted label, empty for the row count',
    rows SimpleAggregateFunction(sum, UInt64) COMMENT 'Feature empty: predictions inserted for the minute; 0 otherwise',
    counts SimpleAggregateFunction(sumMap, Tuple(Array(String), Array(UInt64))) COMMENT 'Count of each value: (values, counts)'
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (model_id, model_version, minute, feature)
TTL minute + INTERVAL {prediction_ttl_days} DAY DELETE
-- Retried ingester inserts carry the same insert_deduplication_token; the
-- window makes ClickHouse drop them here too (for the view target, with
-- deduplicate_blocks_in_dependent_materialized_views).
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Categorical feature counts per minute counted at insert time, fed by category_counts_1m_mv; the aggregator checks them against prediction_logs before use';

-- Counted per distinct value first (as drift_states.sql's raw path), then
-- gathered per feature: no sumMap at insert.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.category_counts_1m_mv TO {db}.category_counts_1m
AS (
SELECT
    model_id, model_version, minute, feature,
    sumIf(n, feature = '') AS rows,
    CAST((groupArrayIf(v, feature != ''), groupArrayIf(n, feature != '')), 'Tuple(Array(String), Array(UInt64))') AS counts
FROM
(
    SELECT model_id, model_version, toStartOfMinute(toDateTime(event_time, 'UTC')) AS minute, k AS feature, v, count() AS n
    FROM {db}.prediction_logs
    ARRAY JOIN arrayConcat(mapKeys(features_cat), if(predicted_label = '', [], ['__label__']), ['']) AS k,
               arrayConcat(mapValues(features_cat), if(predicted_label = '', [], [predicted_label]), ['']) AS v
    GROUP BY model_id, model_version, minute, feature, v
)
GROUP BY model_id, model_version, minute, feature
)
COMMENT 'Feeds category_counts_1m from every insert into prediction_logs';
