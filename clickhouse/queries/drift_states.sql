{{- if not .Categorical -}}
-- drift_states_numeric: per base window, model version and numeric
-- feature (plus __score__, the prediction score, and __value__, the
-- predicted value of a regression), the histogram of its
-- non-null values: bins of the version's baseline when feature_baselines
-- has one for the feature (kind bins; bin = arrayCount(e -> e <= x,
-- bin_edges), as the baseline defines), else the value rounded to 3
-- significant digits (kind fine), which the drift step regroups into deciles
-- of the reference window. round(x, N) goes wrong from N = 18 on (|x|
-- below ~1e-16: 1.23e-18 gives 1.2468e-18, 1e-20 gives 0), so values under
-- 1e-15 are scaled to [1, 10) first, and divided back by a power of ten so
-- that keys print as 1.23e-20 (values below 1e-307 keep fewer digits,
-- below ~5e-310 none; the fine_key template). One new generation per
-- window and feature type, as performance_window_states; the numeric one is
-- shared with drift_states_bins, which writes the (window, version) pairs
-- whose histograms were binned at insert time (feature_bins_1m, migration
-- 0016) and are complete, and drift_states_score (their unbinned scores):
-- this statement bins only the other pairs' raw rows.
--
-- Unpacking ~20 values per prediction into rows and grouping them costs
-- ~70 ns a value, so the values are instead collected per (window, version,
-- key list of the map) with groupArrayForEach (one array per feature, no
-- per-value hashing), joined with the baselines per feature, and counted
-- per bin with one vectorised pass per edge: below[i] = count(v < e_i) over
-- the sorted edges, bin counts = differences of [0, below..., n]. This
-- equals arrayCount(e -> e <= v, bin_edges) per value for finite values
-- (ingest rejects non-finite features and scores). Memory is that of the
-- values of the windows, so the aggregator runs this query over runs of
-- base windows of at most driftStatesRows predictions (drift_coverage).
-- `below` is referenced once on purpose: ClickHouse evaluates a lambda
-- expression again at every reference (2x the cost when used twice).
-- Measured and not faster on BenchmarkHour's data (INSERT, engine
-- CPU-seconds alternating with this one, within the machine's +-15 %
-- noise or worse): one unrolled arrayCount pass per edge instead of the
-- lambda over the edges; grouping by a hash of the key list; building each
-- map from one row per feature with sorted run lengths instead of the
-- ARRAY JOIN below; sorting values and edges together and locating the
-- edges with indexOf (2.5x slower); a flat ARRAY JOIN with the edges as
-- constant arrays. See benchmarks/README.md.
{{- else -}}
-- drift_states_categorical: per base window, model version and
-- categorical feature (plus __label__, the predicted label), the count of
-- each value: the baseline's categories
-- with unlisted values as __other__ (kind bins) when feature_baselines has
-- the feature, else the 100 most frequent values of the base window and
-- __other__ (kind fine).
{{- if .Values}}
-- This variant (drift_states_values) sums the values counted at insert
-- time (feature_values_1m, migration 0024) of the (window, version) pairs
-- in {covered}, which drift_coverage proved complete; the raw variant
-- counts the prediction rows of every other pair.
{{- end}}
{{- end}}
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), windows
-- Array(DateTime) (empty = every base window in [from, to); not read by
-- drift_states_values), computed_at DateTime64(3), the generation; covered
-- Array(Tuple(DateTime, String, String)), the (window_start, model_id,
-- model_version) pairs whose states come from what the views counted at
-- insert time: skipped by the raw variants (numeric: drift_states_bins
-- writes them; categorical: drift_states_values), the only pairs
-- drift_states_values reads.
INSERT INTO {db}.drift_window_states
    (model_id, model_version, feature, feature_type, kind, window_start, base_seconds, baseline_computed_at, counts, computed_at, feature_type_key)
{{- if not .Categorical}}
SELECT
    model_id, model_version, feature, 'numeric', if(has_baseline, 'bins', 'fine'), window_start, {base_seconds:UInt32},
    any(baseline_at),
    CAST((groupArray(toString(key)), groupArray(c)), 'Map(String, UInt64)'),
    {computed_at:DateTime64(3)}, 1
FROM
(
    SELECT model_id, model_version, feature, window_start, has_baseline, baseline_at, kc.1 AS key, sum(kc.2) AS c
    FROM
    (
        SELECT
            model_id, model_version, window_start, feature, has_baseline, baseline_at,
            if(has_baseline,
               arrayZip(arrayMap(i -> toFloat64(i), range(m + 1)), arrayMap(d -> toUInt64(d), arrayPopFront(arrayDifference(arrayConcat([0], below, [n]))))),
               arrayMap(v -> ({{template "fine_key" "v"}}, toUInt64(1)), vals)) AS kcs
        FROM
        (
            SELECT
                f.model_id AS model_id, f.model_version AS model_version, f.window_start AS window_start, f.feature AS feature,
                b.found = 1 AS has_baseline,
                b.computed_at AS baseline_at,
                if(has_baseline, [], f.vals) AS vals,
                arrayMap(e -> arrayCount(v -> v < e, f.vals), b.edges) AS below,
                length(b.edges) AS m,
                length(f.vals) AS n
            FROM
            (
                SELECT model_id, model_version, window_start, feature, vals
                FROM
                (
                    SELECT
                        model_id, model_version,
                        toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
                        features_num.keys AS keys,
                        groupArrayForEach(features_num.values) AS fvals,
                        groupArrayIf(assumeNotNull(score), score IS NOT NULL) AS svals,
                        groupArrayIf(assumeNotNull(value), value IS NOT NULL) AS vvals
                    FROM {db}.prediction_logs
                    WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)} AND status = 'ok'
                      AND (empty({windows:Array(DateTime)})
                           OR has({windows:Array(DateTime)}, toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND)))
                      AND {{template "covered_pair" "event_time"}} NOT IN
                          {{template "covered_pairs"}}
                    GROUP BY model_id, model_version, window_start, keys
                )
                ARRAY JOIN arrayConcat(keys, ['__score__', '__value__']) AS feature, arrayConcat(fvals, [svals, vvals]) AS vals
                WHERE notEmpty(vals)
            ) AS f
            LEFT ANY JOIN
            (
                SELECT model_id, model_version, feature, 1 AS found, computed_at, arraySort(bin_edges) AS edges
                FROM {db}.feature_baselines FINAL
                WHERE feature_type = 'numeric' AND length(bin_edges) > 0
            ) AS b ON b.model_id = f.model_id AND b.model_version = f.model_version AND b.feature = f.feature
        )
    )
    ARRAY JOIN kcs AS kc
    GROUP BY model_id, model_version, feature, window_start, has_baseline, baseline_at, key
    HAVING c > 0
)
GROUP BY model_id, model_version, feature, window_start, has_baseline
{{- else}}
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
{{- if .Values}}
            SELECT
                model_id, model_version, toStartOfInterval(minute, INTERVAL {base_seconds:UInt32} SECOND) AS window_start, feature,
                value AS v, sum(rows) AS n
            FROM {db}.feature_values_1m
            WHERE minute >= {from:DateTime64(3)} AND minute < {to:DateTime64(3)} AND feature NOT IN ('', '__score__', '__value__')
              AND {{template "covered_pair" "minute"}} IN
                  {{template "covered_pairs"}}
            GROUP BY model_id, model_version, window_start, feature, v
{{- else}}
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
                FROM {db}.prediction_logs
                WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)} AND status = 'ok'
                  AND (empty({windows:Array(DateTime)})
                       OR has({windows:Array(DateTime)}, toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND)))
                  AND {{template "covered_pair" "event_time"}} NOT IN
                      {{template "covered_pairs"}}
            )
            -- __label__: the predicted label, output drift of classifiers
            -- (feature_values_view.sql counts the same values).
            ARRAY JOIN arrayConcat(mapKeys(features_cat), if(predicted_label = '', [], ['__label__'])) AS k,
                       arrayConcat(mapValues(features_cat), if(predicted_label = '', [], [predicted_label])) AS v
            GROUP BY model_id, model_version, window_start, feature, v
{{- end}}
        ) AS f
        LEFT ANY JOIN
        (
            SELECT model_id, model_version, feature, 1 AS found, computed_at, categories
            FROM {db}.feature_baselines FINAL
            WHERE feature_type = 'categorical'
        ) AS b ON b.model_id = f.model_id AND b.model_version = f.model_version AND b.feature = f.feature
    )
    GROUP BY model_id, model_version, feature, window_start, has_baseline, baseline_at, key
    )
    GROUP BY model_id, model_version, feature, window_start, has_baseline, folded
)
GROUP BY model_id, model_version, feature, window_start, has_baseline
{{- end}}
