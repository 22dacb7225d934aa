-- outcomes_routed: how many outcomes this cycle copied to window_outcomes
-- (matched: their prediction was indexed, whether they arrived now or had
-- waited in pending_outcomes) and how many it left pending (no prediction
-- indexed yet: it may come later, or never). Both reads go through the
-- rows' routed_at: pending_outcomes' primary key, window_outcomes'
-- idx_routed_at within the windows that are not final. And how many of the
-- outcomes ingested in (since, until] outcomes_route left out because they
-- came after their prediction's label horizon (past_horizon: the same key
-- lookups as the routing), so that late labels are not dropped unseen.
--
-- Parameters: routed_at, not_before, since, until DateTime64(3);
-- horizon_seconds UInt32.
SELECT
    (SELECT count() FROM {db}.window_outcomes
     WHERE routed_at = {routed_at:DateTime64(3)} AND pred_time >= {not_before:DateTime64(3)}) AS matched,
    (SELECT count() FROM {db}.pending_outcomes WHERE routed_at = {routed_at:DateTime64(3)}) AS pending,
    (SELECT count()
     FROM
     (
         SELECT event_time, {{template "request_key"}} AS key
         FROM {db}.outcomes
         WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
     ) AS o
     LEFT ANY JOIN {db}.prediction_requests AS r ON r.key = o.key
     WHERE r.event_time != toDateTime64(0, 3, 'UTC') AND o.event_time >= r.event_time + INTERVAL {horizon_seconds:UInt32} SECOND
     SETTINGS join_algorithm = 'direct') AS past_horizon
