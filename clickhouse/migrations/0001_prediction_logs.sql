-- Placeholders: {db} = database name; {prediction_ttl_days} = days to keep
-- raw prediction logs (default 90). Both are substituted by the migration tool.
--
-- The fact table: one row per served prediction, written by the ingester from
-- topic predlog.predictions. Queried by model and time first, so the sort key
-- starts with model_id, model_version, event_time; daily partitions let the
-- TTL drop whole parts. request_id has a bloom filter for the outcome join.
-- Block deduplication makes retried inserts from the ingester (same
-- insert_deduplication_token) idempotent.
CREATE TABLE IF NOT EXISTS {db}.prediction_logs
(
    request_id String COMMENT 'Unique id of the prediction; outcomes join on it' CODEC(ZSTD(1)),
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version that served the prediction',
    event_time DateTime64(3, 'UTC') COMMENT 'When the prediction was served (ms precision)' CODEC(Delta, ZSTD(1)),
    features_num Map(LowCardinality(String), Float64) COMMENT 'Numeric input features (booleans as 1/0); absent keys are missing values' CODEC(ZSTD(1)),
    features_cat Map(LowCardinality(String), String) COMMENT 'Categorical input features; absent keys are missing values' CODEC(ZSTD(1)),
    score Nullable(Float64) COMMENT 'Positive-class probability or raw score; NULL if not sent' CODEC(ZSTD(1)),
    value Nullable(Float64) COMMENT 'Regression output; NULL if not sent' CODEC(ZSTD(1)),
    predicted_label LowCardinality(String) COMMENT 'Predicted class; empty if not sent',
    probabilities Map(LowCardinality(String), Float64) COMMENT 'Per-class probabilities (multiclass)' CODEC(ZSTD(1)),
    confidence Nullable(Float64) COMMENT 'Model confidence in [0, 1]; NULL if not sent' CODEC(ZSTD(1)),
    latency_ms Float64 COMMENT 'Response time of the model server in milliseconds' CODEC(ZSTD(1)),
    status Enum8('ok' = 1, 'error' = 2) COMMENT 'Whether the prediction was served successfully',
    error_message String COMMENT 'Error text when status is error, else empty' CODEC(ZSTD(1)),
    metadata Map(LowCardinality(String), String) COMMENT 'Request metadata (user_id, tenant, endpoint, any key/values)' CODEC(ZSTD(1)),
    tenant LowCardinality(String) MATERIALIZED metadata['tenant'] COMMENT 'metadata[tenant], stored for cheap slicing',
    endpoint LowCardinality(String) MATERIALIZED metadata['endpoint'] COMMENT 'metadata[endpoint], stored for cheap slicing',
    user_id String MATERIALIZED metadata['user_id'] COMMENT 'metadata[user_id], stored for cheap filtering' CODEC(ZSTD(1)),
    experiment_id LowCardinality(String) COMMENT 'A/B experiment id; empty if none',
    variant LowCardinality(String) COMMENT 'A/B variant; empty if none',
    contributions Map(LowCardinality(String), Float64) COMMENT 'Per-request feature contributions (local importance, e.g. SHAP)' CODEC(ZSTD(1)),
    kafka_topic LowCardinality(String) COMMENT 'Provenance: Kafka topic the row was read from',
    kafka_partition Int32 COMMENT 'Provenance: Kafka partition' CODEC(ZSTD(1)),
    kafka_offset Int64 COMMENT 'Provenance: Kafka offset' CODEC(ZSTD(1)),
    ingest_time DateTime64(3, 'UTC') COMMENT 'Provenance: when the ingester wrote the row' CODEC(ZSTD(1)),
    INDEX idx_request_id request_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_experiment experiment_id TYPE set(100) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toDate(event_time)
ORDER BY (model_id, model_version, event_time)
TTL toDateTime(event_time) + INTERVAL {prediction_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1
COMMENT 'Prediction logs from model servers (topic predlog.predictions), one row per prediction';
