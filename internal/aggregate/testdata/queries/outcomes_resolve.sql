-- outcomes_resolve: copy the pending rows of window_outcomes (outcomes
-- that arrived before their prediction was indexed) whose prediction was
-- ingested in (since, until] again, with its event time: the cycle runs it
-- right after requests_index has indexed those predictions. Their windows
-- are recomputed for the new predictions anyway.
--
-- Parameters: since, until, routed_at DateTime64(3).
--
-- The pending rows (the primary key's first range) are few: outcomes
-- arrive after their predictions but for producer lag; they stay until
-- the table's TTL, so a request id predicted again resolves them again
-- (into the same rows). An outcome whose prediction never comes stays
-- pending and labels nothing, as before.
INSERT INTO predlog.window_outcomes (pred_time, model_id, request_id, event_time, label, value, routed_at)
SELECT p.event_time, w.model_id, w.request_id, w.event_time, w.label, w.value, {routed_at:DateTime64(3)}
FROM
(
    SELECT model_id, request_id, event_time
    FROM predlog.prediction_logs
    WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
) AS p
INNER JOIN
(
    SELECT model_id, request_id, event_time, label, value
    FROM predlog.window_outcomes
    WHERE pred_time = toDateTime64(0, 3, 'UTC')
) AS w ON w.model_id = p.model_id AND w.request_id = p.request_id
