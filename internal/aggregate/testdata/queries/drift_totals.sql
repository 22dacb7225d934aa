-- drift_totals: successful predictions per model version and window (the
-- denominator of null rates: failed ones carry no score and often no
-- features, and would read as missing values), from the unsliced
-- performance states, and the server time to stamp the drift rows with.
--
-- Parameters: as drift_read.
SELECT
    model_id, model_version,
    toStartOfInterval(window_start, INTERVAL {g_seconds:UInt32} SECOND) AS ws,
    sum(ok_count) AS n,
    any(now64(3, 'UTC')) AS now
FROM predlog.performance_window_states FINAL
WHERE base_seconds = {base_seconds:UInt32} AND slice_key = ''
  AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
  AND has({windows:Array(DateTime)}, toStartOfInterval(window_start, INTERVAL {g_seconds:UInt32} SECOND))
  AND (window_start, computed_at) IN
(
    SELECT window_start, max(computed_at)
    FROM predlog.performance_window_states
    WHERE base_seconds = {base_seconds:UInt32} AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
    GROUP BY window_start
)
GROUP BY model_id, model_version, ws
