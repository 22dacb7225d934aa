-- outcomes_resolve: copy the outcomes of pending_outcomes (routed before
-- their prediction was indexed) whose prediction was ingested in (since,
-- until] to window_outcomes, with its event time: the cycle runs it right
-- after requests_index has indexed those predictions. Their windows are
-- recomputed for the new predictions anyway.
--
-- Parameters: since, until, routed_at DateTime64(3); horizon_seconds
-- UInt32.
--
-- Only outcomes routed within the last day wait (pending_outcomes' primary
-- key bounds the read): outcomes come after their predictions but for
-- producer lag, while outcomes of requests never predicted (or predicted
-- before prediction_requests started) would pile up for as long as they
-- were kept. A request id predicted again resolves them again (into the
-- same rows). Outcomes past their prediction's label horizon are not
-- copied (see outcomes_route).
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
    FROM predlog.pending_outcomes
    WHERE routed_at >= {routed_at:DateTime64(3)} - INTERVAL 1 DAY
) AS w ON w.model_id = p.model_id AND w.request_id = p.request_id
WHERE w.event_time < p.event_time + INTERVAL {horizon_seconds:UInt32} SECOND
