-- drift_stale: of the base windows in {windows}, recomputed for late
-- outcomes alone (so their drift states would stand: labels cannot change
-- drift), those whose drift states must be recomputed all the same: their
-- newest states no longer match feature_baselines (a histogram binned with
-- another baseline than the current one, or a fine one for a feature that
-- has a baseline now), or they have none at all.
--
-- Parameters: base_seconds UInt32, from/to DateTime (the windows' span),
-- windows Array(DateTime).
SELECT w AS window_start
FROM (SELECT arrayJoin({windows:Array(DateTime)}) AS w)
WHERE w NOT IN
(
    SELECT window_start
    FROM {db}.drift_window_states
    WHERE base_seconds = {base_seconds:UInt32} AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
)
UNION DISTINCT
SELECT DISTINCT s.window_start
FROM {db}.drift_window_states AS s FINAL
LEFT ANY JOIN {{template "stale_drift_baselines"}}
WHERE s.base_seconds = {base_seconds:UInt32} AND s.window_start >= {from:DateTime} AND s.window_start < {to:DateTime}
  AND has({windows:Array(DateTime)}, s.window_start)
  AND (s.window_start, s.feature_type, s.computed_at) IN
  (
      SELECT window_start, feature_type, max(computed_at)
      FROM {db}.drift_window_states
      WHERE base_seconds = {base_seconds:UInt32} AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
      GROUP BY window_start, feature_type
  )
  AND {{template "stale_drift_state"}}
