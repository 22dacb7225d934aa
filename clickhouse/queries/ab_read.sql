{{- if not .Cumulative -}}
-- ab_read: per experiment, window of one granularity and variant, the
-- volume and the counts behind the compared metrics, rolled up from the
-- '__ab__/<experiment>' rows of performance_window_states (newest generation of
-- each base window, as perf_rollup): errors (error_rate); labeled
-- predictions; classified and correct ones (accuracy: binary tp + tn of tp +
-- fp + tn + fn, i.e. score >= threshold, or predicted_label without a
-- score, agrees with label = positive class; multiclass correct of labelled
-- predictions with a predicted label); mean latency over all predictions
-- and the sum of squared latencies (NULL if a state predates migration
-- 0015); the end of the last base window read.
--
-- Parameters: base_seconds, g_seconds UInt32; from/to DateTime; windows
-- Array(DateTime).
{{- else -}}
-- ab_read_cumulative: ab_read over every base window of the given
-- experiments in [from, to): one window per experiment and variant, ws the
-- variant's first base window (the aggregator takes the experiment's
-- earliest).
--
-- Parameters: base_seconds UInt32; from/to DateTime; experiments
-- Array(String).
{{- end}}
SELECT
    substring(slice_key, 8) AS experiment_id,
{{- if not .Cumulative}}
    toStartOfInterval(window_start, INTERVAL {g_seconds:UInt32} SECOND) AS ws,
{{- else}}
    min(window_start) AS ws,
{{- end}}
    slice_value AS variant,
    if(uniqExact(model_id) = 1, any(model_id), '*') AS model,
    if(uniqExact(model_version) = 1, any(model_version), '*') AS version,
    sum(prediction_count) AS n,
    sum(error_count) AS errors,
    sum(labeled_count) AS labeled,
    sum(tp + fp + tn + fn) + sum(arraySum(mapValues(class_support))) AS classified_n,
    sum(tp + tn) + sum(arraySum(mapValues(class_tp))) AS correct_n,
    sum(latency_sum) / sum(prediction_count) AS latency_avg,
    sum(tp) AS tp_n,
    sum(fp) AS fp_n,
    sum(fn) AS fn_n,
    if(countIf(latency_sq_sum IS NULL) > 0, NULL, sum(latency_sq_sum)) AS latency_sq,
    max(window_start) + INTERVAL {base_seconds:UInt32} SECOND AS covered_to
FROM {db}.performance_window_states FINAL
WHERE base_seconds = {base_seconds:UInt32}
  AND startsWith(slice_key, '__ab__/')
  AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
{{- if not .Cumulative}}
  AND has({windows:Array(DateTime)}, toStartOfInterval(window_start, INTERVAL {g_seconds:UInt32} SECOND))
{{- else}}
  AND has({experiments:Array(String)}, substring(slice_key, 8))
{{- end}}
  AND {{template "newest_perf_generation"}}
{{- if not .Cumulative}}
GROUP BY experiment_id, ws, variant
{{- else}}
GROUP BY experiment_id, variant
{{- end}}
ORDER BY experiment_id, ws, variant
