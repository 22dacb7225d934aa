-- drift_states_categorical: per base window, model version and
-- categorical feature (plus __label__, the predicted label), the count of
-- each value: the baseline's categories
-- with unlisted values as __other__ (kind bins) when feature_baselines has
-- the feature, else the 100 most frequent values of the base window and
-- __other__ (kind fine).
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), windows
-- Array(DateTime) (empty = every base window in [from, to)), computed_at
-- DateTime64(3), the generation; numeric only: covered Array(Tuple(
-- DateTime, String, String)), the (window_start, model_id, model_version)
-- pairs drift_states_bins writes from the histograms binned at insert time
-- (skipped here).
INSERT INTO predlog.drift_window_states
    (model_id, model_version, feature, feature_type, kind, window_start, base_seconds, baseline_computed_at, counts, computed_at)
SELECT
    model_id, model_version, feature,
    'categorical',
    if(has_baseline, 'bins', 'fine'),
    window_start,
    {base_seconds:UInt32},
    any(baseline_at),
    CAST((groupArray(if(has_baseline OR rk <= 100, key, '__other__')), groupArray(c)), 'Map(String, UInt64)'),
    {computed_at:DateTime64(3)}
FROM
(
    SELECT
        model_id, model_version, feature, window_start, has_baseline, baseline_at, key, sum(n) AS c,
        row_number() OVER (PARTITION BY model_id, model_version, feature, window_start ORDER BY c DESC, key) AS rk
    FROM
    (
        SELECT
            f.model_id AS model_id,
            f.model_version AS model_version,
            f.window_start AS window_start,
            f.feature AS feature,
            b.found = 1 AS has_baseline,
            b.computed_at AS baseline_at,
            if(NOT has_baseline OR mapContains(b.categories, f.v), f.v, '__other__') AS key,
            f.n AS n
        FROM
        (
            -- Counted per distinct value first, so that the baseline join
            -- and its category lookup run once per value and window, not
            -- once per (prediction, feature): half the CPU.
            SELECT model_id, model_version, window_start, k AS feature, v, count() AS n
            FROM
            (
                SELECT
                    model_id, model_version,
                    toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
                    features_cat,
                    predicted_label
                FROM predlog.prediction_logs
                WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
                  AND (empty({windows:Array(DateTime)})
                       OR has({windows:Array(DateTime)}, toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND)))
            )
            -- __label__: the predicted label, output drift of classifiers.
            ARRAY JOIN arrayConcat(mapKeys(features_cat), if(predicted_label = '', [], ['__label__'])) AS k,
                       arrayConcat(mapValues(features_cat), if(predicted_label = '', [], [predicted_label])) AS v
            GROUP BY model_id, model_version, window_start, feature, v
        ) AS f
        LEFT ANY JOIN
        (
            SELECT model_id, model_version, feature, 1 AS found, computed_at, categories
            FROM predlog.feature_baselines FINAL
            WHERE feature_type = 'categorical'
        ) AS b ON b.model_id = f.model_id AND b.model_version = f.model_version AND b.feature = f.feature
    )
    GROUP BY model_id, model_version, feature, window_start, has_baseline, baseline_at, key
)
GROUP BY model_id, model_version, feature, window_start, has_baseline
