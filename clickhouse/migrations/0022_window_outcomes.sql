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
-- cycle are looked up in prediction_requests (0021) and inserted into
-- routed_outcomes (Null) with their prediction's event time as pred_time,
-- whose views send them here, or, when the prediction is not indexed yet
-- (it arrived first: pred_time 1970-01-01), to pending_outcomes, from
-- where the cycle that indexes the prediction copies them here. routed_at
-- is the copying cycle's clock: the cycle reads back the windows it
-- touched by it (idx_routed_at skips every granule of older parts).
-- Windows whose outcomes may have been ingested before the aggregator
-- started to copy them (watermark index.outcomes) still join outcomes
-- itself (clickhouse/queries/perf_states.sql).
--
-- Rows visible later than the cycles' ingest delay after their
-- ingest_time are skipped by these copies as by the late-data scans; unlike
-- a join of outcomes, window_outcomes then lacks their labels for good
-- (an outcome never copied; an outcome of a prediction never indexed
-- stays pending). The ingester stamps each insert attempt, so that takes
-- one attempt slower than the delay (or rows written by other means);
-- aggregator backfill joins outcomes itself, and indexes its range's
-- predictions and resolves their pending outcomes.
--
-- Latest wins as in outcomes (version event_time, read with FINAL); the
-- key holds pred_time, so a prediction's rows collapse only with rows of
-- the same prediction time. A request id that one model predicted at two
-- times labels only the prediction indexed last (prediction_requests keeps
-- one time per key; the join of outcomes labelled both). Not on a cluster
-- (filled through the node-local prediction_requests; the line above skips
-- the file there).
CREATE TABLE IF NOT EXISTS {db}.window_outcomes
(
    pred_time DateTime64(3, 'UTC') COMMENT 'event_time of the labelled prediction',
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
TTL toDateTime(pred_time) + INTERVAL {prediction_ttl_days} DAY DELETE
COMMENT 'Aggregator: outcomes by the event time of the prediction they label, copied from outcomes each cycle';

-- Outcomes whose prediction was not indexed when they were routed, by
-- routed_at: a cycle resolves those of the last day against the
-- predictions it indexes (an outcome that arrives more than a day before
-- its prediction is counted only by a join of outcomes, e.g. aggregator
-- backfill); kept two days.
CREATE TABLE IF NOT EXISTS {db}.pending_outcomes
(
    routed_at DateTime64(3, 'UTC') COMMENT 'Clock of the aggregator cycle that routed the outcome',
    model_id LowCardinality(String) COMMENT 'Model identifier',
    request_id String COMMENT 'request_id the outcome names' CODEC(ZSTD(1)),
    event_time DateTime64(3, 'UTC') COMMENT 'When the truth became known' CODEC(ZSTD(1)),
    label Nullable(String) COMMENT 'True class; NULL for regression outcomes' CODEC(ZSTD(1)),
    value Nullable(Float64) COMMENT 'True value (regression); NULL if not sent' CODEC(ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(routed_at)
ORDER BY (routed_at, model_id, request_id)
TTL toDateTime(routed_at) + INTERVAL 2 DAY DELETE
COMMENT 'Aggregator: outcomes waiting for their prediction to be indexed';

-- What outcomes_route inserts: nothing is stored here, the views below
-- send each row on by whether its prediction was found.
CREATE TABLE IF NOT EXISTS {db}.routed_outcomes
(
    pred_time DateTime64(3, 'UTC') COMMENT 'event_time of the labelled prediction; 1970-01-01 when it is not indexed',
    model_id LowCardinality(String) COMMENT 'Model identifier',
    request_id String COMMENT 'request_id of the outcome',
    event_time DateTime64(3, 'UTC') COMMENT 'When the truth became known',
    label Nullable(String) COMMENT 'True class; NULL for regression outcomes',
    value Nullable(Float64) COMMENT 'True value (regression); NULL if not sent',
    routed_at DateTime64(3, 'UTC') COMMENT 'Clock of the aggregator cycle that routed the row'
)
ENGINE = Null
COMMENT 'Aggregator: outcomes routed by one cycle; views fill window_outcomes and pending_outcomes';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.routed_outcomes_found TO {db}.window_outcomes
AS SELECT pred_time, model_id, request_id, event_time, label, value, routed_at
FROM {db}.routed_outcomes
WHERE pred_time != toDateTime64(0, 3, 'UTC')
COMMENT 'Routed outcomes whose prediction is indexed';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.routed_outcomes_pending TO {db}.pending_outcomes
AS SELECT routed_at, model_id, request_id, event_time, label, value
FROM {db}.routed_outcomes
WHERE pred_time = toDateTime64(0, 3, 'UTC')
COMMENT 'Routed outcomes whose prediction is not indexed yet';
