-- tdigest_needed: whether a performance state without quantile sketches
-- (written before migration 0031, or by an older release during a rolling
-- upgrade) lies in [from, to), the windows of the coarsest granularity
-- around the base windows a cycle computes: a rollup over such a window
-- reads every state's t-digests, so the new states must fill theirs too
-- (perf_states' {tdigest}). A superseded generation counts as well: at
-- worst the t-digests are filled for nothing.
--
-- Parameters: from/to DateTime.
SELECT count() > 0
FROM predlog.performance_window_states
WHERE window_start >= {from:DateTime} AND window_start < {to:DateTime}
  AND quantile_sketch = 'tdigest'
