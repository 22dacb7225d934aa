{{- if not .Range -}}
-- outcomes_resolve: route the outcomes of pending_outcomes (routed before
-- their prediction was indexed) whose prediction was ingested in (since,
-- until], with its event time: the cycle runs it right after
-- requests_index has indexed those predictions. Their windows are
-- recomputed for the new predictions anyway.
--
-- Parameters: since, until, routed_at DateTime64(3); horizon_seconds
-- UInt32.
{{- else -}}
-- outcomes_resolve_range: as outcomes_resolve, for the predictions of event
-- time [from, to) that aggregator backfill indexes.
--
-- Parameters: from, to, routed_at DateTime64(3); horizon_seconds UInt32.
{{- end}}
--
-- Inserted into routed_outcomes like outcomes_route's rows, so that the
-- same views route them: to window_outcomes, or, past their prediction's
-- label horizon (marked past_horizon, see outcomes_route), to
-- late_outcomes, where outcomes_routed counts them rather than dropping
-- them unseen. pred_time is never 1970-01-01 here (predictions before 2000
-- are rejected at ingest), so none goes back to pending_outcomes.
--
-- Only outcomes routed within the last day wait (pending_outcomes' primary
-- key bounds the read): outcomes come after their predictions but for
-- producer lag, while outcomes of requests never predicted (or predicted
-- before prediction_requests started) would pile up for as long as they
-- were kept. A request id predicted again resolves them again (into the
-- same rows of window_outcomes; late_outcomes keeps each resolution).
INSERT INTO {db}.routed_outcomes (pred_time, model_id, request_id, event_time, label, value, routed_at, past_horizon)
SELECT p.event_time, w.model_id, w.request_id, w.event_time, w.label, w.value, {routed_at:DateTime64(3)},
    w.event_time >= p.event_time + INTERVAL {horizon_seconds:UInt32} SECOND
FROM
(
    SELECT model_id, request_id, event_time
    FROM {db}.prediction_logs
    {{template "indexed_predictions" .}}
) AS p
INNER JOIN
(
    SELECT model_id, request_id, event_time, label, value
    FROM {db}.pending_outcomes
    WHERE routed_at >= {routed_at:DateTime64(3)} - INTERVAL 1 DAY
) AS w ON w.model_id = p.model_id AND w.request_id = p.request_id
