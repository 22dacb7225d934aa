-- dirty_outcomes: the base windows of the predictions that outcomes ingested
-- in (since, until] label, among windows starting at or after not_before.
--
-- The outcomes' (model_id, request_id) are looked up in
-- prediction_requests (migration 0021), which holds the predictions
-- ingested since the aggregator started to index them: one lookup per
-- outcome however much traffic the horizon holds.
--
-- Parameters: base_seconds UInt32; since, until, not_before
-- DateTime64(3).
SELECT DISTINCT toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start
FROM
(
    SELECT event_time
    FROM predlog.prediction_requests
    WHERE key IN
    (
        SELECT concat(toString(length(model_id)), ':', model_id, request_id)
        FROM predlog.outcomes
        WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
    )
)
WHERE event_time >= {not_before:DateTime64(3)}
ORDER BY window_start
