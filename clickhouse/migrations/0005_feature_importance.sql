-- Placeholder: {db} = database name.
--
-- Feature importances, one row per feature of one computation. A newer
-- computation for the same model version, method and scope replaces the older
-- one feature by feature (ReplacingMergeTree on computed_at); a feature missing
-- from the newer computation keeps its old row, so readers filter on the
-- latest computed_at per (model, version, method, scope).
CREATE TABLE IF NOT EXISTS {db}.feature_importance
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    method LowCardinality(String) COMMENT 'How importance was computed: shap, gain, split, permutation, ...',
    scope Enum8('global' = 1, 'local' = 2) COMMENT 'global: whole model; local: aggregate of per-request attributions',
    feature LowCardinality(String) COMMENT 'Feature name',
    score Float64 COMMENT 'Importance score',
    computed_at DateTime64(3, 'UTC') COMMENT 'When importances were computed; row version (latest wins)',
    ingest_time DateTime64(3, 'UTC') COMMENT 'When the ingester wrote the row'
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (model_id, model_version, method, scope, feature)
-- Retried ingester inserts carry the same insert_deduplication_token; the
-- window makes ClickHouse drop them here too (for the view target, with
-- deduplicate_blocks_in_dependent_materialized_views).
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Feature importance per model version (topic predlog.feature-importance); per-request values live in prediction_logs.contributions';
