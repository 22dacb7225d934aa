-- baseline_freeze: freeze how one model version's inputs and outputs were
-- distributed over a production window [from, to) as that version's
-- baseline (feature_baselines, source reference_window), the reference the
-- drift steps then measure every later window against: `aggregator
-- baseline`. The rows are what a feature-baseline message with source
-- reference_window would have written (docs/events.md), from the same
-- predictions the drift states count: status 'ok' only; numeric features
-- and __score__ / __value__ (the score and predicted value) from
-- features_num, score and value; categorical features and __label__ (the
-- predicted label) from features_cat and predicted_label.
--
-- sample_count is the window's ok predictions and null_rate the share of
-- them without the feature, as drift_metrics counts a window. Numeric:
-- bin_edges are the distinct deciles of the values by quantilesGK (values
-- of the window, Float64, rank error under 1/10000, bounded memory however
-- long the window; t-digest would return Float32 centroids: 0.1 becomes
-- 0.10000000149, above the value, and huge values +inf; -0 is made 0 so
-- that edges stay strictly increasing; a feature with few distinct values
-- gets fewer edges), bin_proportions the exact share of values in each bin
-- (-inf, e0), [e0, e1), ..., [e(k-1), +inf), binned as drift_states bins
-- against a baseline: bin = count(edges <= x). Categorical: the {top_n}
-- most frequent values (ties by value) with their exact shares, the rest
-- in other_proportion. Candidates first, by topK ({candidates} Space-Saving
-- counters a feature: bounded memory, where counting every distinct value
-- of an id-like string over a long window could exceed the query's memory
-- limit), then the candidates counted exactly: a feature with at most
-- {candidates} distinct values gets exactly its {top_n} most frequent;
-- with more, Space-Saving's bound (every value with a share above
-- 1/{candidates} among the counters) holds for one stream, and ClickHouse
-- merges per-thread states, so in practice rather than for certain; the
-- kept shares stay exact, and only which of the rarer values fill the
-- last places may differ. A feature without a single value in the window
-- gets no row (its older baseline row, if any, stays). A feature sent both
-- as a number and as a string gets two rows with the same key, of which
-- feature_baselines keeps one (drift keys features by name alone).
--
-- GLOBAL: on a cluster the CTEs read the Distributed prediction_logs
-- (internal/schema/doc.go); a no-op on a single node.
--
-- Parameters: model_id, model_version String; from/to DateTime64(3);
-- total UInt64, the window's ok predictions of the version (counted by
-- baseline_versions; the window has closed); computed_at DateTime64(3),
-- the rows' version (later baselines replace earlier ones per feature) and
-- their ingest_time: the aggregator's clock, which its cycles' ingest
-- bounds use (ClickHouse's now64() could lag them and go unseen by the
-- recompute gate); top_n, candidates UInt32.
INSERT INTO {db}.feature_baselines
    (model_id, model_version, feature, feature_type, source, dataset_ref, window_start, window_end, sample_count,
     null_rate, bin_edges, bin_proportions, categories, other_proportion, computed_at, ingest_time)
WITH
    {total:UInt64} AS total,
    -- Every numeric value of the window: features, score, predicted value.
    numeric_values AS
    (
        SELECT f AS feature, v
        FROM {db}.prediction_logs
        ARRAY JOIN
            arrayConcat(mapKeys(features_num), if(score IS NULL, [], ['__score__']), if(value IS NULL, [], ['__value__'])) AS f,
            arrayConcat(mapValues(features_num), if(score IS NULL, [], [assumeNotNull(score)]), if(value IS NULL, [], [assumeNotNull(value)])) AS v
        WHERE model_id = {model_id:String} AND model_version = {model_version:String}
          AND event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)} AND status = 'ok'
    ),
    -- Every categorical value: features and predicted label.
    categorical_values AS
    (
        SELECT f AS feature, v AS val
        FROM {db}.prediction_logs
        ARRAY JOIN
            arrayConcat(mapKeys(features_cat), if(predicted_label = '', [], ['__label__'])) AS f,
            arrayConcat(mapValues(features_cat), if(predicted_label = '', [], [predicted_label])) AS v
        WHERE model_id = {model_id:String} AND model_version = {model_version:String}
          AND event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)} AND status = 'ok'
    )
SELECT
    {model_id:String}, {model_version:String}, feature, feature_type, 'reference_window', '',
    {from:DateTime64(3)}, {to:DateTime64(3)}, total, 1 - n / total,
    edges, proportions, categories, other, {computed_at:DateTime64(3)}, {computed_at:DateTime64(3)}
FROM
(
    -- Numeric: each value binned against its feature's edges, the bins
    -- counted, then one share per bin (bins without values 0).
    SELECT
        feature, 'numeric' AS feature_type, edges, n,
        arrayMap(i -> bin_counts[i] / n, range(toUInt64(length(edges) + 1))) AS proportions,
        CAST(map(), 'Map(String, Float64)') AS categories, 0 AS other
    FROM
    (
        SELECT feature, any(edges) AS edges, sum(c) AS n, mapFromArrays(groupArray(bin), groupArray(c)) AS bin_counts
        FROM
        (
            SELECT vals.feature AS feature, q.edges AS edges, toUInt64(arrayCount(e -> e <= vals.v, q.edges)) AS bin, count() AS c
            FROM numeric_values AS vals
            GLOBAL INNER JOIN
            (
                SELECT feature, arraySort(arrayDistinct(arrayMap(e -> e + 0, quantilesGK(10000, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)(v)))) AS edges
                FROM numeric_values
                GROUP BY feature
            ) AS q ON q.feature = vals.feature
            GROUP BY feature, edges, bin
        )
        GROUP BY feature
    )

    UNION ALL

    -- Categorical: each feature's value count n and topK candidates in one
    -- pass, then the candidates counted exactly in a second, the {top_n}
    -- most frequent kept.
    SELECT
        feature, 'categorical' AS feature_type, CAST([], 'Array(Float64)') AS edges, n, CAST([], 'Array(Float64)') AS proportions,
        mapFromArrays(arrayMap(t -> t.1, top), arrayMap(t -> t.2 / n, top)) AS categories,
        (n - arraySum(arrayMap(t -> t.2, top))) / n AS other
    FROM
    (
        SELECT feature, n, arraySlice(arraySort(t -> (-t.2, t.1), groupArray((val, c))), 1, {top_n:UInt32}) AS top
        FROM
        (
            SELECT v.feature AS feature, v.val AS val, any(cand.n) AS n, count() AS c
            FROM categorical_values AS v
            GLOBAL INNER JOIN
            (
                SELECT feature, n, arrayJoin(candidates) AS val
                FROM
                (
                    SELECT feature, count() AS n, topK({candidates:UInt32})(val) AS candidates
                    FROM categorical_values
                    GROUP BY feature
                )
            ) AS cand ON cand.feature = v.feature AND cand.val = v.val
            GROUP BY feature, val
        )
        GROUP BY feature, n
    )
)
