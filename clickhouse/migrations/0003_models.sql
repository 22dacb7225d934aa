-- Placeholder: {db} = database name.
--
-- Model metadata, a small dimension updated in place: every change resends the
-- whole record and ReplacingMergeTree(updated_at) keeps the latest per
-- (model_id, model_version). Read with FINAL.
CREATE TABLE IF NOT EXISTS {db}.models
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    name String COMMENT 'Human-readable name',
    architecture LowCardinality(String) COMMENT 'Model architecture, e.g. gradient_boosted_trees',
    framework LowCardinality(String) COMMENT 'Framework and version, e.g. xgboost 2.1.3',
    parameters String COMMENT 'Model parameters as JSON text' CODEC(ZSTD(3)),
    training_datasets Array(String) COMMENT 'Training dataset references (name@version or URI)',
    artifact_uri String COMMENT 'Location of the model artifact',
    stage Enum8('registered' = 1, 'staging' = 2, 'production' = 3, 'archived' = 4) COMMENT 'Deployment status',
    aliases Array(LowCardinality(String)) COMMENT 'Aliases such as champion or challenger',
    tags Map(LowCardinality(String), String) COMMENT 'Free-form tags',
    problem_type Enum8('binary' = 1, 'multiclass' = 2, 'regression' = 3) COMMENT 'Decides which quality metrics are computed',
    decision_threshold Float64 DEFAULT 0.5 COMMENT 'Binary models: score >= threshold predicts the positive class',
    positive_class String DEFAULT '1' COMMENT 'Binary models: label counted as positive',
    created_at Nullable(DateTime64(3, 'UTC')) COMMENT 'When the version was registered; NULL if not sent',
    created_by String COMMENT 'Who registered the version',
    updated_at DateTime64(3, 'UTC') COMMENT 'When the record last changed; row version (latest wins)',
    updated_by String COMMENT 'Who made the last change',
    ingest_time DateTime64(3, 'UTC') COMMENT 'When the ingester wrote the row'
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (model_id, model_version)
-- Retried ingester inserts carry the same insert_deduplication_token; the
-- window makes ClickHouse drop them here too (for the view target, with
-- deduplicate_blocks_in_dependent_materialized_views).
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Model metadata per version (topic predlog.models); latest updated_at wins, read with FINAL';
