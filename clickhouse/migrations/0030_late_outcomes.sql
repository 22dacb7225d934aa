-- Placeholder: {db} = database name.
-- predlog: single-node only
--
-- Outcomes that came after their prediction's label horizon
-- (windows.label_horizon) do not count. outcomes_route left them out of
-- what it inserted into routed_outcomes (0022), and the cycle then looked
-- every routed outcome up in prediction_requests a second time only to
-- count them (outcomes_routed): a quarter of the routing's engine CPU on
-- the benchmark hour (benchmarks/README.md).
-- Now outcomes_route inserts them too, marked past_horizon; the found view
-- leaves them out and a third view keeps them here, where the cycle counts
-- them by routed_at, and an operator can see which labels came too late.
-- Kept seven days; a cycle repeated after a failure may copy the same rows
-- again, under its own routed_at. Not on a cluster, like 0021 and 0022.
-- ALTER ... MODIFY QUERY of a materialized view: ClickHouse 23.12 or later
-- (before, behind allow_experimental_alter_materialized_view_structure).
CREATE TABLE IF NOT EXISTS {db}.late_outcomes
(
    routed_at DateTime64(3, 'UTC') COMMENT 'Clock of the aggregator cycle that routed the outcome',
    model_id LowCardinality(String) COMMENT 'Model identifier',
    request_id String COMMENT 'request_id of the prediction the outcome labels' CODEC(ZSTD(1)),
    pred_time DateTime64(3, 'UTC') COMMENT 'event_time of that prediction' CODEC(ZSTD(1)),
    event_time DateTime64(3, 'UTC') COMMENT 'When the truth became known: at or after pred_time + the label horizon' CODEC(ZSTD(1)),
    label Nullable(String) COMMENT 'True class; NULL for regression outcomes' CODEC(ZSTD(1)),
    value Nullable(Float64) COMMENT 'True value (regression); NULL if not sent' CODEC(ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(routed_at)
ORDER BY (routed_at, model_id, request_id)
TTL toDateTime(routed_at) + INTERVAL 7 DAY DELETE
COMMENT 'Aggregator: outcomes left out because they came after their prediction''s label horizon';

-- Rows an aggregator of an older version inserts get false: it leaves
-- such outcomes out itself.
ALTER TABLE {db}.routed_outcomes
    ADD COLUMN IF NOT EXISTS past_horizon Bool DEFAULT false COMMENT 'Came after the prediction''s label horizon: does not count (late_outcomes)';

ALTER TABLE {db}.routed_outcomes
    MODIFY COMMENT 'Aggregator: outcomes routed by one cycle; views fill window_outcomes, pending_outcomes and late_outcomes';

ALTER TABLE {db}.routed_outcomes_found
    MODIFY QUERY SELECT pred_time, model_id, request_id, event_time, label, value, routed_at
    FROM {db}.routed_outcomes
    WHERE pred_time != toDateTime64(0, 3, 'UTC') AND NOT past_horizon;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.routed_outcomes_late TO {db}.late_outcomes
AS SELECT routed_at, model_id, request_id, pred_time, event_time, label, value
FROM {db}.routed_outcomes
WHERE past_horizon
COMMENT 'Routed outcomes that came after their prediction''s label horizon';
