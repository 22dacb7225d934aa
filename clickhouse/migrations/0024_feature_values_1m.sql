-- Placeholders: {db} = database name; {prediction_ttl_days} = days to keep.
--
-- Categorical feature values, predicted labels, rounded scores and
-- predicted values per minute, counted when the predictions are inserted,
-- so that the aggregator sums counts instead of reading every prediction
-- of every window again: the categorical drift states and the score's fine
-- histogram were ~5 of the ~15 s a cycle took over the benchmark hour once
-- numeric features were binned at insert (feature_bins_1m, 0016). Filled by
-- the view in clickhouse/queries/feature_values_view.sql, which the
-- aggregator creates with feature_bins_1m_mv when drift.insert_time_bins is
-- set.
--
-- Unlike the numeric bins these counts do not depend on any baseline (a
-- value is mapped to its baseline category or __other__ when the cycle
-- reads it), so every model version is counted, and a baseline that
-- arrives later changes nothing here. Rows, per (model, version, minute):
-- feature '' with value '' counts the predictions (the aggregator uses a
-- (window, version) only when that equals prediction_logs' count, see
-- clickhouse/queries/drift_coverage.sql); each categorical feature and
-- __label__ (the predicted label) one row per distinct value; __score__
-- and __value__ (a regression's predicted value) one row per fine key
-- (clickhouse/queries/fine_key.tmpl, as text) of the non-null scores and
-- values. A high-cardinality categorical feature (an id sent as a
-- feature) stores about one row per prediction here.
CREATE TABLE IF NOT EXISTS {db}.feature_values_1m
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    minute DateTime('UTC') COMMENT 'Start of the minute (prediction event time)',
    feature LowCardinality(String) COMMENT 'Categorical feature, __label__ (predicted label), __score__ / __value__ (fine key of the score / predicted value), empty for the prediction count',
    value String COMMENT 'The value (the fine key as text for __score__ and __value__, empty for the prediction count)' CODEC(ZSTD(1)),
    rows SimpleAggregateFunction(sum, UInt64) COMMENT 'Predictions with this value in the minute'
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (model_id, model_version, minute, feature, value)
TTL minute + INTERVAL {prediction_ttl_days} DAY DELETE
-- As feature_bins_1m: retried ingester inserts (same
-- insert_deduplication_token) are dropped here too.
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Categorical values, predicted labels and score fine keys per minute counted at insert time, fed by feature_values_1m_mv; the aggregator checks them against prediction_logs before use';
