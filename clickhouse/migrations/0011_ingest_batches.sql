-- The ingester's batch ledger: before it inserts a batch it records the
-- batch's Kafka offset range here. After a crash, a restart or a rebalance the
-- partition's new owner replays uncommitted messages cut at exactly these
-- boundaries, so every retried insert is byte-identical and carries the same
-- insert_deduplication_token, and ClickHouse drops it. Rows older than a week
-- are long committed and only kept for inspection.
CREATE TABLE IF NOT EXISTS {db}.ingest_batches
(
    consumer_group LowCardinality(String) COMMENT 'Kafka consumer group of the ingester that cut the batch',
    topic LowCardinality(String) COMMENT 'Kafka topic of the batch',
    partition Int32 COMMENT 'Kafka partition of the batch',
    first_offset Int64 COMMENT 'Offset of the first message in the batch',
    last_offset Int64 COMMENT 'Offset of the last message in the batch (inclusive)',
    messages UInt32 COMMENT 'Messages in the batch, rejected ones included',
    created_at DateTime64(3, 'UTC') COMMENT 'When the batch was cut',
    instance String COMMENT 'Ingester instance (host/pid) that cut the batch, for debugging'
)
ENGINE = MergeTree
ORDER BY (consumer_group, topic, partition, first_offset)
TTL toDateTime(created_at) + INTERVAL 7 DAY DELETE
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Offset ranges of the ingester''s batches, recorded before each insert so replays re-cut identically';
