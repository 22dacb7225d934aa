-- drift_states (categorical): per base window, model version and
-- categorical feature (plus __label__, the predicted label), the count of
-- each value: the baseline's categories
-- with unlisted values as __other__ (kind bins) when feature_baselines has
-- the feature, else the 100 most frequent values of the base window and
-- __other__ (kind fine). Values counted from the raw rows of the pairs
-- not in {covered}, or (FromView) from category_counts_1m for the pairs
-- in it (migration 0017), in the one generation {computed_at}.
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), windows
-- Array(DateTime) (empty = every base window in [from, to); not read by
-- the FromView variant), covered Array(Tuple(DateTime, String, String)),
-- the (window_start, model_id, model_version) pairs counted at insert time
-- (skipped here; numeric: written by drift_states_bins), and computed_at
-- DateTime64(3), the generation both sources write.
INSERT INTO predlog.drift_states
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
            -- The counts of the covered pairs, counted at insert time; one
            -- row per minute once the view's parts are merged (taken as it
            -- is: sumMap costs ~500 ns a key even for one row).
            SELECT model_id, model_version, window_start, feature, kv.1 AS v, kv.2 AS n
            FROM
            (
                SELECT
                    model_id, model_version, feature,
                    toStartOfInterval(minute, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
                    groupArray(counts) AS g,
                    if(length(g) = 1, g[1], arrayReduce('sumMap', g)) AS s
                FROM predlog.category_counts_1m
                WHERE minute >= {from:DateTime64(3)} AND minute < {to:DateTime64(3)} AND feature != ''
                  AND (toStartOfInterval(minute, INTERVAL {base_seconds:UInt32} SECOND), model_id, model_version) IN
                      (SELECT c.1, c.2, c.3 FROM (SELECT arrayJoin({covered:Array(Tuple(DateTime, String, String))}) AS c))
                GROUP BY model_id, model_version, feature, window_start
            )
            ARRAY JOIN arrayZip(s.1, s.2) AS kv
            WHERE kv.2 > 0
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
