-- outcomes_route: copy the outcomes ingested in (since, until] to
-- window_outcomes (migration 0022) with the event time of the prediction
-- each labels, looked up in prediction_requests (one key lookup per
-- outcome: a direct join, the index is never read whole). Inserted into
-- routed_outcomes, whose views send an outcome whose prediction is not
-- indexed yet (it arrived first; pred_time 1970-01-01) to pending_outcomes
-- instead, for outcomes_resolve. routed_at (the cycle's clock) marks the
-- rows for dirty_outcomes. A cycle repeated after a failure copies the
-- same rows again: they collapse with the first copies. An outcome past its
-- prediction's label horizon is not copied: it would not count, and
-- copied, it would replace (window_outcomes keeps the latest per request)
-- an earlier outcome that does. It is marked past_horizon instead, which
-- sends it to late_outcomes (migration 0030), where outcomes_routed counts
-- it without looking it up again.
--
-- Parameters: since, until, routed_at DateTime64(3); horizon_seconds
-- UInt32.
INSERT INTO {db}.routed_outcomes (pred_time, model_id, request_id, event_time, label, value, routed_at, past_horizon)
SELECT r.event_time, o.model_id, o.request_id, o.event_time, o.label, o.value, {routed_at:DateTime64(3)},
    r.event_time != toDateTime64(0, 3, 'UTC') AND o.event_time >= r.event_time + INTERVAL {horizon_seconds:UInt32} SECOND
FROM
(
    SELECT model_id, request_id, event_time, label, value, {{template "request_key"}} AS key
    FROM {db}.outcomes
    WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
) AS o
LEFT ANY JOIN {db}.prediction_requests AS r ON r.key = o.key
SETTINGS join_algorithm = 'direct'
