-- outcomes_resolve_range: as outcomes_resolve, for the predictions of event
-- time [from, to) that aggregator backfill indexes.
--
-- Parameters: from, to, routed_at DateTime64(3); horizon_seconds UInt32.
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
    WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
) AS p
INNER JOIN
(
    SELECT model_id, request_id, event_time, label, value
    FROM predlog.pending_outcomes
    WHERE routed_at >= {routed_at:DateTime64(3)} - INTERVAL 1 DAY
) AS w ON w.model_id = p.model_id AND w.request_id = p.request_id
WHERE w.event_time < p.event_time + INTERVAL {horizon_seconds:UInt32} SECOND
