-- dirty_outcomes: the base windows of the predictions that outcomes ingested
-- in (since, until] label, among windows starting at or after not_before.
{{- if .Indexed}}
--
-- outcomes_route has just copied the outcomes to window_outcomes
-- (migration 0022) with their prediction's event time, looked up in
-- prediction_requests (0021), which holds the predictions ingested since
-- the aggregator started to index them: one lookup per outcome however
-- much traffic the horizon holds. Its rows are read back by routed_at
-- (idx_routed_at skips every granule of older parts); outcomes whose
-- prediction is not indexed yet went to pending_outcomes instead.
{{- if .Fallback}}
-- Predictions ingested before that ({indexed_from}), which may get
-- outcomes until a label horizon has passed since, are matched by the scan
-- below, which idx_ingest_time bounds to them.
{{- end}}
{{- else}}
--
-- The request_id bloom filter of prediction_logs serves the IN, yet the
-- scan grows with the predictions within the horizon: this variant serves
-- clusters only, where the node-local prediction_requests cannot. A
-- request id shared by two models only costs a needless recomputation.
{{- end}}
--
-- Parameters: base_seconds UInt32; since, until, not_before
-- DateTime64(3){{if .Indexed}}; routed_at DateTime64(3){{end}}{{if .Fallback}}; indexed_from DateTime64(3){{end}}.
SELECT DISTINCT toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start
FROM
(
{{- if .Indexed}}
    SELECT pred_time AS event_time
    FROM {db}.window_outcomes
    WHERE routed_at = {routed_at:DateTime64(3)} AND pred_time >= {not_before:DateTime64(3)}
{{- end}}
{{- if and .Indexed .Fallback}}
    UNION ALL
{{- end}}
{{- if or .Fallback (not .Indexed)}}
    SELECT event_time
    FROM {db}.prediction_logs
    WHERE
{{- if .Fallback}} ingest_time <= {indexed_from:DateTime64(3)} AND{{end}} event_time >= {not_before:DateTime64(3)}
      AND request_id GLOBAL IN
      (
          SELECT request_id
          FROM {db}.outcomes
          WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
      )
{{- end}}
)
WHERE event_time >= {not_before:DateTime64(3)}
ORDER BY window_start
