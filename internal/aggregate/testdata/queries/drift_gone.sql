-- drift_gone: the drift rows of the windows before those about to be
-- computed, so that a feature missing there without a baseline (null rate
-- 1, reference a previous window) stays flagged in every window after:
-- its reference stays the last window that had its values
-- (reference_window_start) and that window's null rate.
--
-- Without FINAL (3-4x cheaper with a week of rows: FINAL merges every
-- granule the windows touch): the aggregator keeps each key's newest
-- computed_at itself. IN a constant set, unlike has(), narrows the read
-- through the primary key.
--
-- Parameters: granularity String; windows Array(DateTime).
SELECT model_id, model_version, feature, toString(feature_type) AS ftype, window_start,
       reference_window_start AS ref, null_rate, baseline_null_rate, computed_at
FROM predlog.drift_metrics
WHERE granularity = {granularity:String}
  AND window_start IN {windows:Array(DateTime)}
