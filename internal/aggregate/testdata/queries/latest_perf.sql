-- latest_perf: per model, the all-versions unsliced metrics of one
-- granularity for the Prometheus gauges; at most cap models: those whose
-- latest window is the most recent first (a model that stopped serving
-- goes last), then the busiest (predictions in that window); with the
-- number of models in all.
-- Precision, recall and F1 (macro F1 for multiclass models), MAE and RMSE
-- (regression models) come from the latest window with at least
-- min_labeled labelled predictions: outcomes
-- arrive late, and the newest windows' few labels would make the gauge
-- (and an alert on it) swing. Latency comes from the latest window.
--
-- Parameters: granularity String, since DateTime, cap UInt32, min_labeled
-- UInt64.
SELECT model_id, q.1 AS `precision`, q.2 AS recall, q.3 AS f1, q.4 AS mae, q.5 AS rmse, l AS latency_p99_ms,
       count() OVER () AS models
FROM
(
    SELECT
        model_id,
        argMaxIf((`precision`, recall, coalesce(f1, macro_f1), mae, rmse), window_start, labeled_count >= {min_labeled:UInt64}) AS q,
        argMax(latency_p99_ms, window_start) AS l,
        argMax(prediction_count, window_start) AS n,
        max(window_start) AS latest
    FROM predlog.performance_metrics FINAL
    WHERE granularity = {granularity:String} AND model_version = '*' AND slice_key = ''
      AND window_start >= {since:DateTime}
    GROUP BY model_id
)
ORDER BY latest DESC, n DESC, model_id
LIMIT {cap:UInt32}
