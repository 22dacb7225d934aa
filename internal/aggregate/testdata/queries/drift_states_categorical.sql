-- drift_states_categorical: per base window, model version and
-- categorical feature (plus __label__, the predicted label), the count of
-- each value: the baseline's categories
-- with unlisted values as __other__ (kind bins) when feature_baselines has
-- the feature, else the 100 most frequent values of the base window and
-- __other__ (kind fine).
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), windows
-- Array(DateTime) (empty = every base window in [from, to); not read by
-- drift_states_values), computed_at DateTime64(3), the generation; covered
-- Array(Tuple(DateTime, String, String)), the (window_start, model_id,
-- model_version) pairs whose states come from what the views counted at
-- insert time: skipped by the raw variants (numeric: drift_states_bins
-- writes them; categorical: drift_states_values), the only pairs
-- drift_states_values reads.
INSERT INTO predlog.drift_window_states
    (model_id, model_version, feature, feature_type, kind, window_start, base_seconds, baseline_computed_at, counts, computed_at, feature_type_key)
SELECT
    model_id, model_version, feature,
    'categorical',
    if(has_baseline, 'bins', 'fine'),
    window_start,
    {base_seconds:UInt32},
    any(baseline_at),
    CAST((groupArray(folded), groupArray(c)), 'Map(String, UInt64)'),
    {computed_at:DateTime64(3)}, 2
FROM
(
    -- Values beyond the 100 most frequent summed into one __other__ entry
    -- (a map built with the key repeated keeps only one of its counts
    -- when read).
    SELECT
        model_id, model_version, feature, window_start, has_baseline, any(baseline_at) AS baseline_at,
        if(has_baseline OR rk <= 100, key, '__other__') AS folded, sum(c) AS c
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
                WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)} AND status = 'ok'
                  AND (empty({windows:Array(DateTime)})
                       OR has({windows:Array(DateTime)}, toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND)))
                  AND (toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND), model_id, model_version) NOT IN
                      (SELECT c.1, c.2, c.3 FROM (SELECT arrayJoin({covered:Array(Tuple(DateTime, String, String))}) AS c))
            )
            -- __label__: the predicted label, output drift of classifiers
            -- (feature_values_view.sql counts the same values).
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
    GROUP BY model_id, model_version, feature, window_start, has_baseline, folded
)
GROUP BY model_id, model_version, feature, window_start, has_baseline
