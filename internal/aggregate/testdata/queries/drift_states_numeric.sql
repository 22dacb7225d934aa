-- drift_states (numeric): per base window, model version and numeric
-- feature (plus __score__, the prediction score), the histogram of its
-- non-null values: bins of the version's baseline when feature_baselines
-- has one for the feature (kind bins; bin = arrayCount(e -> e <= x,
-- bin_edges), as the baseline defines), else the value rounded to 3
-- significant digits (kind fine), which the drift step regroups into deciles
-- of the reference window. One new generation per INSERT, as performance_states.
--
-- The feature values are unnested into narrow rows first, then joined with
-- the baselines on a 64-bit hash of (model_id, model_version, feature), so
-- that no wide column is replicated per value.
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), windows
-- Array(DateTime) (empty = every base window in [from, to)).
INSERT INTO predlog.drift_states
    (model_id, model_version, feature, feature_type, kind, window_start, base_seconds, baseline_computed_at, counts, computed_at)
SELECT
    model_id, model_version, feature,
    'numeric',
    if(has_baseline, 'bins', 'fine'),
    window_start,
    {base_seconds:UInt32},
    any(baseline_at),
    CAST((groupArray(toString(key)), groupArray(c)), 'Map(String, UInt64)'),
    now64(3, 'UTC')
FROM
(
    SELECT
        model_id, model_version, feature, window_start, has_baseline, baseline_at, key, count() AS c
    FROM
    (
        SELECT
            f.model_id AS model_id,
            f.model_version AS model_version,
            f.window_start AS window_start,
            f.feature AS feature,
            b.found = 1 AS has_baseline,
            b.computed_at AS baseline_at,
            if(has_baseline, toFloat64(arrayCount(e -> e <= f.v, b.bin_edges)),
               if(f.v = 0 OR NOT isFinite(f.v), f.v, round(f.v, 2 - toInt32(floor(log10(abs(f.v))))))) AS key
        FROM
        (
            -- One narrow row per (prediction, feature): only the columns needed.
            SELECT
                model_id, model_version,
                toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
                k AS feature, v,
                cityHash64(model_id, model_version, feature) AS h
            FROM predlog.prediction_logs
            ARRAY JOIN
                arrayConcat(mapKeys(features_num), if(score IS NULL, [], ['__score__'])) AS k,
                arrayConcat(mapValues(features_num), if(score IS NULL, [], [assumeNotNull(score)])) AS v
            WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
              AND (empty({windows:Array(DateTime)})
                   OR has({windows:Array(DateTime)}, toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND)))
        ) AS f
        LEFT ANY JOIN
        (
            SELECT
                cityHash64(model_id, model_version, feature) AS h,
                1 AS found,
                computed_at,
                bin_edges
            FROM predlog.feature_baselines FINAL
            WHERE feature_type = 'numeric' AND length(bin_edges) > 0
        ) AS b ON b.h = f.h
    )
    GROUP BY model_id, model_version, feature, window_start, has_baseline, baseline_at, key
)
GROUP BY model_id, model_version, feature, window_start, has_baseline
