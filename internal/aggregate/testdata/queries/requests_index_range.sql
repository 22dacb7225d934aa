-- requests_index_range: add the predictions of event time [from, to) to
-- prediction_requests, for aggregator backfill: predictions that became
-- visible later than the cycles' ingest delay were missed by the cycles'
-- index as by their late-data scan.
--
-- Parameters: from, to DateTime64(3).
INSERT INTO predlog.prediction_requests (key, event_time)
SELECT concat(toString(length(model_id)), ':', model_id, request_id), event_time
FROM predlog.prediction_logs
WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
