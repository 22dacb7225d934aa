-- predictions_past_horizon: the predictions ingested in (since, until] into
-- windows that were final when they arrived: older than the label horizon
-- as of their ingest time, which no cycle recomputes, so these are stored
-- but in no window's metrics until `aggregator backfill` recomputes their
-- range. Each row is bounded by its own ingest time, as the cycle that took
-- it in bounded dirty_predictions (not_before = the start of the base window
-- holding ingest_time + ingest delay - label horizon: shift_ms), not by
-- this cycle's bound, which has moved on since and would count rows that
-- were in time then. not_before, this cycle's bound, only prunes
-- partitions. Unlike dirty_predictions, whose event-time bound keeps it to
-- the horizon's partitions, this reads the ingest-time index
-- (idx_ingest_time) of every partition the table keeps: the cycle runs it
-- every ten minutes.
--
-- Parameters: since, until, not_before DateTime64(3); shift_ms Int64;
-- base_seconds UInt32.
SELECT count() AS n, min(event_time) AS first, max(event_time) AS last
FROM {db}.prediction_logs
WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
  AND event_time < {not_before:DateTime64(3)}
  AND event_time < toStartOfInterval(ingest_time + toIntervalMillisecond({shift_ms:Int64}), INTERVAL {base_seconds:UInt32} SECOND)
