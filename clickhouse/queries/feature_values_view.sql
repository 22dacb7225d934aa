-- feature_values_view: the materialized view that fills feature_values_1m
-- (migration 0024, which says what it holds) from every insert into
-- prediction_logs. Created by the aggregator with feature_bins_1m_mv when
-- drift.insert_time_bins is set (single node; on a cluster create it ON
-- CLUSTER, TO feature_values_1m_local, FROM prediction_logs_local);
-- dropping it (DROP VIEW feature_values_1m_mv) turns it off: the
-- aggregator counts the raw rows of whatever it does not cover.
--
-- The comment's "(definition N)" names this definition: the aggregator
-- replaces a view whose comment lacks it (definition 2 added __value__;
-- 3 counts successful predictions only, as drift does).
--
-- The values are those drift_states_categorical and drift_states_score
-- count from the raw rows, with the same expressions (the fine_key
-- template for the score and the predicted value), one count per distinct
-- value and minute.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feature_values_1m_mv TO {db}.feature_values_1m
AS (
SELECT
    model_id, model_version, toStartOfMinute(toDateTime(event_time, 'UTC')) AS minute, k AS feature, val AS value, count() AS rows
FROM
(
    SELECT
        model_id, model_version, event_time,
        if(score IS NULL, [], [toString({{template "fine_key" "sv"}})]) AS score_key,
        if(value IS NULL, [], [toString({{template "fine_key" "pv"}})]) AS value_key,
        arrayConcat([''], mapKeys(features_cat), if(predicted_label = '', [], ['__label__']),
                    if(empty(score_key), [], ['__score__']), if(empty(value_key), [], ['__value__'])) AS ks,
        arrayConcat([''], mapValues(features_cat), if(predicted_label = '', [], [predicted_label]), score_key, value_key) AS vs
    FROM
    (
        SELECT model_id, model_version, event_time, features_cat, predicted_label, score, value,
               assumeNotNull(score) AS sv, assumeNotNull(value) AS pv
        FROM {db}.prediction_logs
        WHERE status = 'ok'
    )
)
ARRAY JOIN ks AS k, vs AS val
GROUP BY model_id, model_version, minute, feature, value
)
COMMENT 'Feeds feature_values_1m from every insert into prediction_logs (definition 3)';
