-- ab_welch: Welch's t-test of latency_ms, each variant against the control
-- of its experiment, per window: control rows are repeated once per other
-- variant. welchTTest gets sample 0 = control, 1 = variant, and returns
-- [t, p-value, CI low, CI high] of mean(control) - mean(variant). Groups
-- where either sample has fewer than 2 rows are left out.
--
-- Parameters: g_seconds UInt32; from/to DateTime64(3); windows
-- Array(DateTime); experiments, controls Array(String) (parallel);
-- variants Array(Array(String)) (the non-control variants per experiment);
-- confidence Float64.
SELECT experiment_id, ws, cmp, welchTTest({confidence:Float64})(latency_ms, toUInt8(variant = cmp)) AS t, [t.1, t.2, t.3, t.4] AS test
FROM
(
    SELECT
        experiment_id,
        toStartOfInterval(event_time, INTERVAL {g_seconds:UInt32} SECOND) AS ws,
        variant,
        latency_ms,
        indexOf({experiments:Array(String)}, experiment_id) AS e,
        {controls:Array(String)}[e] AS control,
        arrayJoin(if(variant = control, {variants:Array(Array(String))}[e], [variant])) AS cmp
    FROM predlog.prediction_logs
    WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
      AND experiment_id != '' AND variant != ''
      AND has({windows:Array(DateTime)}, toStartOfInterval(event_time, INTERVAL {g_seconds:UInt32} SECOND))
      AND has({experiments:Array(String)}, experiment_id)
)
WHERE has({variants:Array(Array(String))}[e], cmp)
GROUP BY experiment_id, ws, cmp
HAVING countIf(variant = cmp) >= 2 AND countIf(variant != cmp) >= 2
