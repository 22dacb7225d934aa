-- dirty_outcomes: the base windows of the predictions that outcomes ingested
-- in (since, until] label, among windows starting at or after not_before.
--
-- The request_id bloom filter of prediction_logs serves the IN, yet the
-- scan grows with the predictions within the horizon: this variant serves
-- clusters only, where the node-local prediction_requests cannot. A
-- request id shared by two models only costs a needless recomputation.
--
-- Parameters: base_seconds UInt32; since, until, not_before
-- DateTime64(3).
SELECT DISTINCT toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start
FROM
(
    SELECT event_time
    FROM predlog.prediction_logs
    WHERE event_time >= {not_before:DateTime64(3)}
      AND request_id GLOBAL IN
      (
          SELECT request_id
          FROM predlog.outcomes
          WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
      )
)
WHERE event_time >= {not_before:DateTime64(3)}
ORDER BY window_start
