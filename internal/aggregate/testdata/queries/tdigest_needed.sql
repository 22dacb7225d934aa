-- tdigest_needed: how many performance states without quantile sketches
-- (written before migration 0031, or by an older release during a rolling
-- upgrade) lie in [from, to), the windows of the coarsest granularity
-- around the base windows a cycle computes; any: a rollup over such a window
-- reads every state's t-digests, so the new states must fill theirs too
-- (perf_states' {tdigest}). A superseded generation counts as well: at
-- worst the t-digests are filled for nothing.
--
-- Parameters: from/to DateTime.
SELECT count()
FROM predlog.performance_window_states
WHERE window_start >= {from:DateTime} AND window_start < {to:DateTime}
  AND quantile_sketch = 'tdigest'
