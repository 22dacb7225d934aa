-- drift_gone: the features that were missing, without a baseline, in the
-- windows before those about to be computed (rows of null rate 1 whose
-- reference is a previous window), so that a feature that stopped
-- arriving stays flagged in every window after: its reference stays the
-- last window that had its values (reference_window_start) and that
-- window's null rate.
--
-- Parameters: granularity String; from/to DateTime; windows Array(DateTime).
SELECT model_id, model_version, feature, toString(feature_type) AS ftype, window_start,
       assumeNotNull(reference_window_start) AS ref, baseline_null_rate
FROM {db}.drift_metrics FINAL
WHERE granularity = {granularity:String}
  AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
  AND has({windows:Array(DateTime)}, window_start)
  AND null_rate = 1 AND reference_window_start IS NOT NULL
