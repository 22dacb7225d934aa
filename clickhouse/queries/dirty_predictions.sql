-- dirty_predictions: the base windows of predictions ingested in
-- (since, until], among windows starting at or after not_before (older ones
-- are final). idx_ingest_time (minmax) skips the granules of other times.
--
-- Parameters: base_seconds UInt32; since, until, not_before DateTime64(3).
SELECT DISTINCT toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start
FROM {db}.prediction_logs
WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
  AND event_time >= {not_before:DateTime64(3)}
ORDER BY window_start
