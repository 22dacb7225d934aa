-- dirty_outcomes: the base windows of the predictions that outcomes ingested
-- in (since, until] label, among windows starting at or after not_before.
--
-- outcomes_route has just copied the outcomes to window_outcomes
-- (migration 0022) with their prediction's event time, looked up in
-- prediction_requests (0021), which holds the predictions ingested since
-- the aggregator started to index them: one lookup per outcome however
-- much traffic the horizon holds. Its rows are read back by routed_at
-- (idx_routed_at skips every granule of older parts); outcomes whose
-- prediction is not indexed yet went to pending_outcomes instead.
--
-- Parameters: base_seconds UInt32; since, until, not_before
-- DateTime64(3); routed_at DateTime64(3).
SELECT DISTINCT toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start
FROM
(
    SELECT pred_time AS event_time
    FROM predlog.window_outcomes
    WHERE routed_at = {routed_at:DateTime64(3)} AND pred_time >= {not_before:DateTime64(3)}
)
WHERE event_time >= {not_before:DateTime64(3)}
ORDER BY window_start
