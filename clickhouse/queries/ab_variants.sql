-- ab_variants: per experiment and variant, the base windows of [from, to)
-- with predictions of the variant (sorted), for the sample-ratio test
-- of windows without a configured split: an arm the experiment served in
-- the day before a window (or during it) is expected in it, so an arm that
-- stops receiving traffic is a mismatch, not an experiment of one variant
-- (see Aggregator.knownVariants). The newest generation of each base
-- window only, as ab_read.
--
-- Parameters: base_seconds UInt32; from/to DateTime; experiments
-- Array(String).
SELECT substring(slice_key, 8) AS experiment_id, slice_value AS variant, arraySort(groupUniqArray(window_start)) AS windows
FROM {db}.performance_window_states FINAL
WHERE base_seconds = {base_seconds:UInt32}
  AND startsWith(slice_key, '__ab__/')
  AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
  AND has({experiments:Array(String)}, substring(slice_key, 8))
  AND prediction_count > 0
  AND {{template "newest_perf_generation"}}
GROUP BY experiment_id, variant
ORDER BY experiment_id, variant
