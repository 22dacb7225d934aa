-- Placeholders: {db} = database name; {prediction_ttl_days} = days to keep.
-- predlog: single-node only
--
-- window_outcomes: the outcomes again, sorted by the time of the prediction
-- they label, so that recomputing a window reads that window's outcomes.
-- outcomes is sorted by request id: the latest outcome per request wins
-- there, but a window's random request ids cannot narrow a read of it, so
-- recomputing a window for late labels read every outcome between the
-- window and now (a minute six days late, at 10M predictions an hour:
-- ~700M outcomes).
--
-- The aggregator fills it each cycle: the outcomes ingested since the last
-- cycle are looked up in prediction_requests (0021) and copied here with
-- their prediction's event time as pred_time; one whose prediction is not
-- indexed yet (it arrived first) is copied with pred_time 1970-01-01, the
-- pending rows, and copied again with the real pred_time by the cycle
-- that indexes its prediction. routed_at is the copying cycle's clock: the
-- cycle reads back the windows it touched by it (idx_routed_at skips every
-- granule of older parts). Windows whose outcomes may have been ingested
-- before the aggregator started to copy them (watermark index.outcomes)
-- still join outcomes itself (clickhouse/queries/perf_states.sql).
--
-- A prediction that became visible later than the cycles' ingest delay
-- reaches neither table (as it reaches no late-data scan); aggregator
-- backfill indexes its range, resolves its outcomes and joins outcomes
-- itself.
--
-- Latest wins as in outcomes (version event_time, read with FINAL); the
-- key holds pred_time, so a prediction's rows collapse only with rows of
-- the same prediction time. Not on a cluster (filled through the
-- node-local prediction_requests; the line above skips the file there).
CREATE TABLE IF NOT EXISTS {db}.window_outcomes
(
    pred_time DateTime64(3, 'UTC') COMMENT 'event_time of the labelled prediction; 1970-01-01 while it is not indexed (pending)',
    model_id LowCardinality(String) COMMENT 'Model identifier',
    request_id String COMMENT 'request_id of the labelled prediction' CODEC(ZSTD(1)),
    event_time DateTime64(3, 'UTC') COMMENT 'When the truth became known; row version (latest wins)' CODEC(ZSTD(1)),
    label Nullable(String) COMMENT 'True class; NULL for regression outcomes' CODEC(ZSTD(1)),
    value Nullable(Float64) COMMENT 'True value (regression); NULL if not sent' CODEC(ZSTD(1)),
    routed_at DateTime64(3, 'UTC') COMMENT 'Clock of the aggregator cycle that copied the row' CODEC(ZSTD(1)),
    INDEX idx_routed_at routed_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(event_time)
PARTITION BY toYYYYMM(pred_time)
ORDER BY (pred_time, model_id, request_id)
TTL toDateTime(routed_at) + INTERVAL {prediction_ttl_days} DAY DELETE
COMMENT 'Aggregator: outcomes by the event time of the prediction they label, copied from outcomes each cycle';
