{{- if not .Categorical -}}
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
{{- else -}}
-- drift_states (categorical): per base window, model version and
-- categorical feature, the count of each value: the baseline's categories
-- with unlisted values as __other__ (kind bins) when feature_baselines has
-- the feature, else the 100 most frequent values of the base window and
-- __other__ (kind fine).
{{- end}}
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), windows
-- Array(DateTime) (empty = every base window in [from, to)).
INSERT INTO {db}.drift_states
    (model_id, model_version, feature, feature_type, kind, window_start, base_seconds, baseline_computed_at, counts, computed_at)
SELECT
    model_id, model_version, feature,
    '{{if .Categorical}}categorical{{else}}numeric{{end}}',
    if(has_baseline, 'bins', 'fine'),
    window_start,
    {base_seconds:UInt32},
    any(baseline_at),
{{- if .Categorical}}
    CAST((groupArray(if(has_baseline OR rk <= 100, key, '__other__')), groupArray(c)), 'Map(String, UInt64)'),
{{- else}}
    CAST((groupArray(toString(key)), groupArray(c)), 'Map(String, UInt64)'),
{{- end}}
    now64(3, 'UTC')
FROM
(
    SELECT
        model_id, model_version, feature, window_start, has_baseline, baseline_at, key, count() AS c
{{- if .Categorical}},
        row_number() OVER (PARTITION BY model_id, model_version, feature, window_start ORDER BY c DESC, key) AS rk
{{- end}}
    FROM
    (
        SELECT
            f.model_id AS model_id,
            f.model_version AS model_version,
            f.window_start AS window_start,
            f.feature AS feature,
            b.found = 1 AS has_baseline,
            b.computed_at AS baseline_at,
{{- if .Categorical}}
            if(NOT has_baseline OR mapContains(b.categories, f.v), f.v, '__other__') AS key
{{- else}}
            if(has_baseline, toFloat64(arrayCount(e -> e <= f.v, b.bin_edges)),
               if(f.v = 0 OR NOT isFinite(f.v), f.v, round(f.v, 2 - toInt32(floor(log10(abs(f.v))))))) AS key
{{- end}}
        FROM
        (
            -- One narrow row per (prediction, feature): only the columns needed.
            SELECT
                model_id, model_version,
                toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
                k AS feature, v,
                cityHash64(model_id, model_version, feature) AS h
            FROM {db}.prediction_logs
{{- if .Categorical}}
            ARRAY JOIN mapKeys(features_cat) AS k, mapValues(features_cat) AS v
{{- else}}
            ARRAY JOIN
                arrayConcat(mapKeys(features_num), if(score IS NULL, [], ['__score__'])) AS k,
                arrayConcat(mapValues(features_num), if(score IS NULL, [], [assumeNotNull(score)])) AS v
{{- end}}
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
{{- if .Categorical}}
                categories
            FROM {db}.feature_baselines FINAL
            WHERE feature_type = 'categorical'
{{- else}}
                bin_edges
            FROM {db}.feature_baselines FINAL
            WHERE feature_type = 'numeric' AND length(bin_edges) > 0
{{- end}}
        ) AS b ON b.h = f.h
    )
    GROUP BY model_id, model_version, feature, window_start, has_baseline, baseline_at, key
)
GROUP BY model_id, model_version, feature, window_start, has_baseline
