-- latest_drift: per model, the largest PSI and the number of flagged
-- features over its versions in its latest drift window of one granularity,
-- for the Prometheus gauges, of the models latest_perf picked. The PSI of a
-- feature with fewer than {min_samples} values in the window is left out,
-- as it is from flagging: a handful of values gives a noisy PSI; so is
-- that of a feature drift.models ignores for its model (ignored_models[i],
-- ignored_features[i]).
--
-- Parameters: granularity String, since DateTime, models Array(String),
-- min_samples UInt64, ignored_models and ignored_features Array(String).
SELECT model_id,
       maxIf(ifNull(psi, 0), sample_count * (1 - null_rate) >= {min_samples:UInt64}
             AND NOT has(arrayZip({ignored_models:Array(String)}, {ignored_features:Array(String)}), (model_id, feature))) AS max_psi,
       countIf(flagged) AS drifted
FROM {db}.drift_metrics FINAL
WHERE granularity = {granularity:String}
  AND (model_id, window_start) IN
  (
      SELECT model_id, max(window_start)
      FROM {db}.drift_metrics
      WHERE granularity = {granularity:String} AND window_start >= {since:DateTime}
        AND has({models:Array(String)}, model_id)
      GROUP BY model_id
  )
GROUP BY model_id
ORDER BY model_id
