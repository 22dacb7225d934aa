-- latest_perf: per model, the all-versions unsliced metrics of its latest
-- window of one granularity, for the Prometheus gauges; at most cap models
-- (by model_id).
--
-- Parameters: granularity String, since DateTime, cap UInt32.
SELECT model_id, m.1 AS `precision`, m.2 AS recall, m.3 AS f1, m.4 AS latency_p99_ms
FROM
(
    SELECT model_id, argMax((`precision`, recall, f1, latency_p99_ms), window_start) AS m
    FROM {db}.performance_metrics FINAL
    WHERE granularity = {granularity:String} AND model_version = '*' AND slice_key = ''
      AND window_start >= {since:DateTime}
    GROUP BY model_id
)
ORDER BY model_id
LIMIT {cap:UInt32}
