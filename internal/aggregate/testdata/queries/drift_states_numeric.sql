-- drift_states (numeric): per base window, model version and numeric
-- feature (plus __score__, the prediction score), the histogram of its
-- non-null values: bins of the version's baseline when feature_baselines
-- has one for the feature (kind bins; bin = arrayCount(e -> e <= x,
-- bin_edges), as the baseline defines), else the value rounded to 3
-- significant digits (kind fine), which the drift step regroups into deciles
-- of the reference window. One new generation per INSERT, as performance_states.
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
-- base windows of at most driftStatesRows predictions (window_counts).
-- `below` is referenced once on purpose: ClickHouse evaluates a lambda
-- expression again at every reference (2x the cost when used twice).
--
-- The passes are unrolled, one arrayCount per edge index up to
-- 32: a lambda over the edges that captures the value array
-- copies that array once per edge (measured on BenchmarkHour's 10M
-- predictions x 18 features: 23.5 -> 16.0 devstack CPU-s for this query);
-- `if` evaluates only the passes a feature has edges for, and features with
-- more edges take the lambda. The key list is grouped by as a 64-bit hash
-- of its joined names, not as Array(LowCardinality(String)) (~1.5 CPU-s
-- less); a collision between two different key lists of one version and
-- window would misalign their values, at odds of ~2^-64.
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), windows
-- Array(DateTime) (empty = every base window in [from, to)).
INSERT INTO predlog.drift_states
    (model_id, model_version, feature, feature_type, kind, window_start, base_seconds, baseline_computed_at, counts, computed_at)
SELECT
    model_id, model_version, feature, 'numeric', if(has_baseline, 'bins', 'fine'), window_start, {base_seconds:UInt32},
    baseline_at,
    CAST((arrayMap(k -> toString(k), arrayFilter((k, c) -> c > 0, ks, cs)), arrayFilter(c -> c > 0, cs)), 'Map(String, UInt64)'),
    now64(3, 'UTC')
FROM
(
    SELECT
        model_id, model_version, window_start, feature, has_baseline, baseline_at,
        if(has_baseline, arrayMap(i -> toFloat64(i), range(m + 1)), arrayFilter((v, c) -> c, fine, starts)) AS ks,
        if(has_baseline,
           arrayMap(d -> toUInt64(d), arrayPopFront(arrayDifference(arrayConcat([0], below, [n])))),
           arrayMap(d -> toUInt64(d), arrayPopFront(arrayDifference(arrayConcat(arrayFilter((i, c) -> c, arrayEnumerate(fine), starts), [length(fine) + 1]))))) AS cs
    FROM
    (
        SELECT
            f.model_id AS model_id, f.model_version AS model_version, f.window_start AS window_start, f.feature AS feature,
            b.found = 1 AS has_baseline,
            b.computed_at AS baseline_at,
            -- fine: the values rounded to 3 significant digits, sorted;
            -- starts marks the first of each run of equal values.
            arraySort(arrayMap(v -> if(v = 0 OR NOT isFinite(v), v, round(v, 2 - toInt32(floor(log10(abs(v)))))),
                               if(has_baseline, [], f.vals))) AS fine,
            arrayMap((v, prev, i) -> i = 1 OR v != prev, fine, arrayResize(arrayPushFront(fine, 0), length(fine)), arrayEnumerate(fine)) AS starts,
            if(length(b.edges) <= 32,
               arraySlice([
                   if(length(b.edges) >= 1, arrayCount(v -> v < b.edges[1], f.vals), 0),
                   if(length(b.edges) >= 2, arrayCount(v -> v < b.edges[2], f.vals), 0),
                   if(length(b.edges) >= 3, arrayCount(v -> v < b.edges[3], f.vals), 0),
                   if(length(b.edges) >= 4, arrayCount(v -> v < b.edges[4], f.vals), 0),
                   if(length(b.edges) >= 5, arrayCount(v -> v < b.edges[5], f.vals), 0),
                   if(length(b.edges) >= 6, arrayCount(v -> v < b.edges[6], f.vals), 0),
                   if(length(b.edges) >= 7, arrayCount(v -> v < b.edges[7], f.vals), 0),
                   if(length(b.edges) >= 8, arrayCount(v -> v < b.edges[8], f.vals), 0),
                   if(length(b.edges) >= 9, arrayCount(v -> v < b.edges[9], f.vals), 0),
                   if(length(b.edges) >= 10, arrayCount(v -> v < b.edges[10], f.vals), 0),
                   if(length(b.edges) >= 11, arrayCount(v -> v < b.edges[11], f.vals), 0),
                   if(length(b.edges) >= 12, arrayCount(v -> v < b.edges[12], f.vals), 0),
                   if(length(b.edges) >= 13, arrayCount(v -> v < b.edges[13], f.vals), 0),
                   if(length(b.edges) >= 14, arrayCount(v -> v < b.edges[14], f.vals), 0),
                   if(length(b.edges) >= 15, arrayCount(v -> v < b.edges[15], f.vals), 0),
                   if(length(b.edges) >= 16, arrayCount(v -> v < b.edges[16], f.vals), 0),
                   if(length(b.edges) >= 17, arrayCount(v -> v < b.edges[17], f.vals), 0),
                   if(length(b.edges) >= 18, arrayCount(v -> v < b.edges[18], f.vals), 0),
                   if(length(b.edges) >= 19, arrayCount(v -> v < b.edges[19], f.vals), 0),
                   if(length(b.edges) >= 20, arrayCount(v -> v < b.edges[20], f.vals), 0),
                   if(length(b.edges) >= 21, arrayCount(v -> v < b.edges[21], f.vals), 0),
                   if(length(b.edges) >= 22, arrayCount(v -> v < b.edges[22], f.vals), 0),
                   if(length(b.edges) >= 23, arrayCount(v -> v < b.edges[23], f.vals), 0),
                   if(length(b.edges) >= 24, arrayCount(v -> v < b.edges[24], f.vals), 0),
                   if(length(b.edges) >= 25, arrayCount(v -> v < b.edges[25], f.vals), 0),
                   if(length(b.edges) >= 26, arrayCount(v -> v < b.edges[26], f.vals), 0),
                   if(length(b.edges) >= 27, arrayCount(v -> v < b.edges[27], f.vals), 0),
                   if(length(b.edges) >= 28, arrayCount(v -> v < b.edges[28], f.vals), 0),
                   if(length(b.edges) >= 29, arrayCount(v -> v < b.edges[29], f.vals), 0),
                   if(length(b.edges) >= 30, arrayCount(v -> v < b.edges[30], f.vals), 0),
                   if(length(b.edges) >= 31, arrayCount(v -> v < b.edges[31], f.vals), 0),
                   if(length(b.edges) >= 32, arrayCount(v -> v < b.edges[32], f.vals), 0)
               ], 1, length(b.edges)),
               arrayMap(e -> arrayCount(v -> v < e, f.vals), b.edges)) AS below,
            length(b.edges) AS m,
            length(f.vals) AS n
        FROM
        (
            -- One row per (version, window, feature): rows of the same
            -- feature from predictions with different key lists merged.
            SELECT model_id, model_version, window_start, feature, groupArrayArray(feature_vals) AS vals
            FROM
            (
                SELECT
                    model_id, model_version,
                    toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
                    cityHash64(arrayStringConcat(features_num.keys, '\0')) AS keys_hash,
                    any(features_num.keys) AS keys,
                    groupArrayForEach(features_num.values) AS fvals,
                    groupArrayIf(assumeNotNull(score), score IS NOT NULL) AS svals
                FROM predlog.prediction_logs
                WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
                  AND (empty({windows:Array(DateTime)})
                       OR has({windows:Array(DateTime)}, toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND)))
                GROUP BY model_id, model_version, window_start, keys_hash
            )
            ARRAY JOIN arrayConcat(keys, ['__score__']) AS feature, arrayConcat(fvals, [svals]) AS feature_vals
            WHERE notEmpty(feature_vals)
            GROUP BY model_id, model_version, window_start, feature
        ) AS f
        LEFT ANY JOIN
        (
            SELECT model_id, model_version, feature, 1 AS found, computed_at, arraySort(bin_edges) AS edges
            FROM predlog.feature_baselines FINAL
            WHERE feature_type = 'numeric' AND length(bin_edges) > 0
        ) AS b ON b.model_id = f.model_id AND b.model_version = f.model_version AND b.feature = f.feature
    )
)
