-- ab_read: per experiment, window of one granularity and variant, the
-- volume and the counts behind the compared metrics: errors (error_rate),
-- labeled and correct predictions (accuracy: score >= threshold agrees with
-- label = positive class when there is a score, else predicted_label =
-- label), latency mean. Outcomes (FINAL with the range in PREWHERE) and
-- models as in perf_states.
--
-- Parameters: g_seconds, horizon_seconds UInt32; from/to DateTime64(3);
-- windows Array(DateTime).
SELECT
    experiment_id, ws, variant,
    if(uniqExact(model_id) = 1, any(model_id), '*') AS model,
    if(uniqExact(model_version) = 1, any(model_version), '*') AS version,
    count() AS n,
    countIf(NOT ok) AS errors,
    countIf(ok AND has_outcome) AS labeled,
    countIf(classified) AS classified_n,
    countIf(classified AND correct) AS correct_n,
    avg(latency_ms) AS latency_avg
FROM
(
    SELECT
        p.experiment_id AS experiment_id,
        toStartOfInterval(p.event_time, INTERVAL {g_seconds:UInt32} SECOND) AS ws,
        p.variant AS variant,
        p.model_id AS model_id,
        p.model_version AS model_version,
        p.latency_ms AS latency_ms,
        p.status = 'ok' AS ok,
        o.has_outcome = 1 AS has_outcome,
        ifNull(o.label, '') AS label,
        ok AND has_outcome AND o.label IS NOT NULL AND (p.score IS NOT NULL OR p.predicted_label != '') AS classified,
        if(p.score IS NOT NULL,
           (assumeNotNull(p.score) >= if(m.found = 1, m.decision_threshold, 0.5)) = (label = if(m.found = 1, m.positive_class, '1')),
           p.predicted_label = label) AS correct
    FROM predlog.prediction_logs AS p
    LEFT ANY JOIN
    (
        SELECT cityHash64(model_id, request_id) AS h, 1 AS has_outcome, label
        FROM predlog.outcomes FINAL
        PREWHERE event_time >= {from:DateTime64(3)} - INTERVAL 1 HOUR
          AND event_time < {to:DateTime64(3)} + INTERVAL {horizon_seconds:UInt32} SECOND
          AND request_id GLOBAL IN
          (
              SELECT request_id FROM predlog.prediction_logs
              WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)} AND experiment_id != ''
          )
    ) AS o ON o.h = cityHash64(p.model_id, p.request_id)
    LEFT ANY JOIN
    (
        SELECT model_id, model_version, decision_threshold, positive_class, 1 AS found
        FROM predlog.models FINAL
    ) AS m ON m.model_id = p.model_id AND m.model_version = p.model_version
    WHERE p.event_time >= {from:DateTime64(3)} AND p.event_time < {to:DateTime64(3)}
      AND p.experiment_id != '' AND p.variant != ''
      AND has({windows:Array(DateTime)}, toStartOfInterval(p.event_time, INTERVAL {g_seconds:UInt32} SECOND))
)
GROUP BY experiment_id, ws, variant
ORDER BY experiment_id, ws, variant
