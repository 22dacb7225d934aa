-- feature_values_view: the materialized view that fills feature_values_1m
-- (migration 0024, which says what it holds) from every insert into
-- prediction_logs. Created by the aggregator with feature_bins_1m_mv when
-- drift.insert_time_bins is set (single node; on a cluster create it ON
-- CLUSTER, TO feature_values_1m_local, FROM prediction_logs_local);
-- dropping it (DROP VIEW feature_values_1m_mv) turns it off: the
-- aggregator counts the raw rows of whatever it does not cover.
--
-- The comment's "(definition N)" names this definition: the aggregator
-- replaces a view whose comment lacks it (definition 2 added __value__).
--
-- The values are those drift_states_categorical and drift_states_score
-- count from the raw rows, with the same expressions (the fine_key
-- template for the score and the predicted value), one count per distinct
-- value and minute.
CREATE MATERIALIZED VIEW IF NOT EXISTS predlog.feature_values_1m_mv TO predlog.feature_values_1m
AS (
SELECT
    model_id, model_version, toStartOfMinute(toDateTime(event_time, 'UTC')) AS minute, k AS feature, val AS value, count() AS rows
FROM
(
    -- The fine_key template rounds v: the value's key one level out from
    -- the score's.
    SELECT
        model_id, model_version, event_time,
        if(value_null, [], [toString(multiIf(v = 0, 0., NOT isFinite(v), v,
                                      abs(v) < 1e-15, round(v * exp10(-greatest(floor(log10(abs(v))), -307)), 2) / exp10(-greatest(floor(log10(abs(v))), -307)),
                                      round(v, 2 - toInt32(floor(log10(abs(v)))))))]) AS value_key,
        arrayConcat([''], mapKeys(features_cat), if(predicted_label = '', [], ['__label__']),
                    if(empty(score_key), [], ['__score__']), if(value_null, [], ['__value__'])) AS ks,
        arrayConcat([''], mapValues(features_cat), if(predicted_label = '', [], [predicted_label]), score_key, value_key) AS vs
    FROM
    (
        SELECT model_id, model_version, event_time, features_cat, predicted_label, score_key, value IS NULL AS value_null, assumeNotNull(value) AS v
        FROM
        (
            SELECT
                model_id, model_version, event_time, features_cat, predicted_label, value,
                if(score IS NULL, [], [toString(multiIf(v = 0, 0., NOT isFinite(v), v,
                                      abs(v) < 1e-15, round(v * exp10(-greatest(floor(log10(abs(v))), -307)), 2) / exp10(-greatest(floor(log10(abs(v))), -307)),
                                      round(v, 2 - toInt32(floor(log10(abs(v)))))))]) AS score_key
            FROM
            (
                SELECT model_id, model_version, event_time, features_cat, predicted_label, score, value, assumeNotNull(score) AS v
                FROM predlog.prediction_logs
            )
        )
    )
)
ARRAY JOIN ks AS k, vs AS val
GROUP BY model_id, model_version, minute, feature, value
)
COMMENT 'Feeds feature_values_1m from every insert into prediction_logs (definition 2)';
