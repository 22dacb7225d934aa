-- predictions_past_horizon: the predictions ingested in (since, until] into
-- windows that start before not_before: final windows (older than the
-- label horizon), which no cycle recomputes, so these are stored but in no
-- window's metrics until `aggregator backfill` recomputes their range.
-- Unlike dirty_predictions, whose event-time bound keeps it to the
-- horizon's partitions, this reads the ingest-time index (idx_ingest_time)
-- of every partition the table keeps: the cycle runs it every ten minutes.
--
-- Parameters: since, until, not_before DateTime64(3).
SELECT count() AS n, min(event_time) AS first, max(event_time) AS last
FROM {db}.prediction_logs
WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
  AND event_time < {not_before:DateTime64(3)}
