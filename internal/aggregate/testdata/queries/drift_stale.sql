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
    FROM predlog.drift_window_states
    WHERE base_seconds = {base_seconds:UInt32} AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
)
UNION DISTINCT
SELECT DISTINCT s.window_start
FROM predlog.drift_window_states AS s FINAL
LEFT ANY JOIN (
    SELECT model_id, model_version, feature, feature_type, 1 AS found, computed_at
    FROM predlog.feature_baselines FINAL
    WHERE feature_type = 'categorical' OR length(bin_edges) > 0
) AS b ON b.model_id = s.model_id AND b.model_version = s.model_version AND b.feature = s.feature AND b.feature_type = s.feature_type
WHERE s.base_seconds = {base_seconds:UInt32} AND s.window_start >= {from:DateTime} AND s.window_start < {to:DateTime}
  AND has({windows:Array(DateTime)}, s.window_start)
  AND (s.window_start, s.feature_type, s.computed_at) IN
  (
      SELECT window_start, feature_type, max(computed_at)
      FROM predlog.drift_window_states
      WHERE base_seconds = {base_seconds:UInt32} AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
      GROUP BY window_start, feature_type
  )
  AND ((s.kind = 'bins' AND (b.found = 0 OR b.computed_at != s.baseline_computed_at)) OR (s.kind = 'fine' AND b.found = 1))
