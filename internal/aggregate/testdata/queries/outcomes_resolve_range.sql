-- outcomes_resolve_range: as outcomes_resolve, for the predictions of event
-- time [from, to) that aggregator backfill indexes.
--
-- Parameters: from, to, routed_at DateTime64(3).
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
    WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
) AS p
INNER JOIN
(
    SELECT model_id, request_id, event_time, label, value
    FROM predlog.window_outcomes
    WHERE pred_time = toDateTime64(0, 3, 'UTC')
) AS w ON w.model_id = p.model_id AND w.request_id = p.request_id
