-- Placeholders: {db} = database name; {prediction_ttl_days} = days to keep
-- rows (default 90; outcomes are kept as long as the predictions they label).
--
-- Ground truth, arriving minutes to days after the prediction. Producers may
-- resend or correct an outcome: ReplacingMergeTree on event_time keeps the
-- latest per (model_id, request_id), so read with FINAL or argMax. The sort
-- key serves the join done by the aggregator (predictions of a model in a window ->
-- their outcomes by request_id). Monthly partitions keep a correction in the
-- same partition as the original in most cases.
CREATE TABLE IF NOT EXISTS {db}.outcomes
(
    request_id String COMMENT 'request_id of the labelled prediction' CODEC(ZSTD(1)),
    model_id LowCardinality(String) COMMENT 'Model identifier',
    event_time DateTime64(3, 'UTC') COMMENT 'When the truth became known; row version (latest wins)' CODEC(ZSTD(1)),
    label Nullable(String) COMMENT 'True class; NULL for regression outcomes' CODEC(ZSTD(1)),
    value Nullable(Float64) COMMENT 'True value (regression); NULL if not sent' CODEC(ZSTD(1)),
    kafka_topic LowCardinality(String) COMMENT 'Provenance: Kafka topic the row was read from',
    kafka_partition Int32 COMMENT 'Provenance: Kafka partition' CODEC(ZSTD(1)),
    kafka_offset Int64 COMMENT 'Provenance: Kafka offset' CODEC(ZSTD(1)),
    ingest_time DateTime64(3, 'UTC') COMMENT 'Provenance: when the ingester wrote the row' CODEC(ZSTD(1)),
    INDEX idx_event_time event_time TYPE minmax GRANULARITY 4
)
ENGINE = ReplacingMergeTree(event_time)
PARTITION BY toYYYYMM(event_time)
ORDER BY (model_id, request_id)
TTL toDateTime(event_time) + INTERVAL {prediction_ttl_days} DAY DELETE
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Ground-truth outcomes for predictions (topic predlog.outcomes); latest event_time per request wins';
