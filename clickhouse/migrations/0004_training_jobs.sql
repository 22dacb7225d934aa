-- Placeholder: {db} = database name.
--
-- Training runs. Producers resend the full record on each status change;
-- ReplacingMergeTree(updated_at) keeps the latest per (model_id, job_id).
CREATE TABLE IF NOT EXISTS {db}.training_jobs
(
    job_id String COMMENT 'Training job identifier',
    model_id LowCardinality(String) COMMENT 'Model being trained',
    model_version LowCardinality(String) COMMENT 'Version produced by the job; empty until known',
    status Enum8('queued' = 1, 'running' = 2, 'succeeded' = 3, 'failed' = 4, 'cancelled' = 5) COMMENT 'Current status',
    status_history Array(Tuple(status LowCardinality(String), at DateTime64(3, 'UTC'), message String)) COMMENT 'Status changes in order',
    hyperparameters String COMMENT 'Hyperparameters as JSON text' CODEC(ZSTD(3)),
    dataset_name String COMMENT 'Training dataset name',
    dataset_version String COMMENT 'Training dataset version',
    dataset_digest String COMMENT 'Training dataset content digest, e.g. sha256:...',
    cpu_cores Float32 COMMENT 'CPU cores used (0 = unknown)',
    gpu_count UInt16 COMMENT 'GPUs used (0 = none or unknown)',
    gpu_type LowCardinality(String) COMMENT 'GPU model',
    memory_bytes UInt64 COMMENT 'Memory used in bytes (0 = unknown)',
    node_count UInt16 COMMENT 'Nodes used (0 = unknown)',
    duration_seconds Float64 COMMENT 'Wall-clock duration in seconds (0 = unknown)',
    cost Nullable(Float64) COMMENT 'Compute cost; NULL if unknown',
    cost_currency LowCardinality(String) COMMENT 'ISO 4217 currency of cost',
    train_metrics Map(LowCardinality(String), Float64) COMMENT 'Metrics on the training set',
    validation_metrics Map(LowCardinality(String), Float64) COMMENT 'Metrics on the validation set',
    started_at Nullable(DateTime64(3, 'UTC')) COMMENT 'When training started; NULL if not yet',
    finished_at Nullable(DateTime64(3, 'UTC')) COMMENT 'When training finished; NULL if not yet',
    updated_at DateTime64(3, 'UTC') COMMENT 'When the record last changed; row version (latest wins)',
    ingest_time DateTime64(3, 'UTC') COMMENT 'When the ingester wrote the row'
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (model_id, job_id)
-- Retried ingester inserts carry the same insert_deduplication_token; the
-- window makes ClickHouse drop them here too (for the view target, with
-- deduplicate_blocks_in_dependent_materialized_views).
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Training jobs (topic predlog.training-jobs); latest updated_at wins, read with FINAL';
