{{- if not .Range -}}
-- requests_index: add the predictions ingested in (since, until] to
-- prediction_requests (see migration 0021): the key-value index that
-- dirty_outcomes looks the new outcomes' request ids up in. Puts are
-- idempotent, so a cycle repeated after a failure repeats them harmlessly.
-- idx_ingest_time (minmax) skips the granules of other times.
--
-- Parameters: since, until DateTime64(3).
{{- else -}}
-- requests_index_range: add the predictions of event time [from, to) to
-- prediction_requests, for aggregator backfill: predictions that became
-- visible later than the cycles' ingest delay were missed by the cycles'
-- index as by their late-data scan.
--
-- Parameters: from, to DateTime64(3).
{{- end}}
INSERT INTO {db}.prediction_requests (key, event_time)
SELECT {{template "request_key"}}, event_time
FROM {db}.prediction_logs
{{template "indexed_predictions" .}}
