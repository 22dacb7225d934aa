-- dirty_outcomes: the base windows of the predictions that outcomes ingested
-- in (since, until] label, among windows starting at or after not_before.
--
-- The outcomes' (model_id, request_id) are looked up in
-- prediction_requests (migration 0021), which holds the predictions
-- ingested since the aggregator started to index them: one lookup per
-- outcome however much traffic the horizon holds.
-- Predictions ingested before that ({indexed_from}), which may get
-- outcomes until a label horizon has passed since, are matched by the scan
-- below, which idx_ingest_time bounds to them.
--
-- Parameters: base_seconds UInt32; since, until, not_before
-- DateTime64(3); indexed_from DateTime64(3).
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
    UNION ALL
    SELECT event_time
    FROM predlog.prediction_logs
    WHERE ingest_time <= {indexed_from:DateTime64(3)} AND event_time >= {not_before:DateTime64(3)}
      AND request_id GLOBAL IN
      (
          SELECT request_id
          FROM predlog.outcomes
          WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
      )
)
WHERE event_time >= {not_before:DateTime64(3)}
ORDER BY window_start
