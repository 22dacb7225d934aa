-- ab_experiments: the experiments with performance states in [from, to)
-- (the base windows a cycle computed), with the range of base windows each
-- has states for, for their cumulative verdicts.
--
-- Parameters: base_seconds UInt32; from/to DateTime.
SELECT substring(slice_key, 8) AS experiment_id, min(window_start) AS first, max(window_start) AS last
FROM {db}.performance_window_states
WHERE base_seconds = {base_seconds:UInt32}
  AND startsWith(slice_key, '__ab__/')
  AND substring(slice_key, 8) IN
  (
      SELECT DISTINCT substring(slice_key, 8)
      FROM {db}.performance_window_states
      WHERE base_seconds = {base_seconds:UInt32} AND startsWith(slice_key, '__ab__/')
        AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
  )
GROUP BY experiment_id
ORDER BY experiment_id
