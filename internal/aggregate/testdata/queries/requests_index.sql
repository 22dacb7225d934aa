-- requests_index: add the predictions ingested in (since, until] to
-- prediction_requests (see migration 0021): the key-value index that
-- dirty_outcomes looks the new outcomes' request ids up in. Puts are
-- idempotent, so a cycle repeated after a failure repeats them harmlessly.
-- idx_ingest_time (minmax) skips the granules of other times.
--
-- Parameters: since, until DateTime64(3).
INSERT INTO predlog.prediction_requests (key, event_time)
SELECT concat(toString(length(model_id)), ':', model_id, request_id), event_time
FROM predlog.prediction_logs
WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
