-- Placeholders: {db} = database name; {prediction_ttl_days} = days to keep.
--
-- Numeric feature histograms per minute, binned when the predictions are
-- inserted, so that the aggregator sums them instead of binning every value
-- of every window again in each cycle (the numeric drift states were ~60 %
-- of a cycle over a full hour, and a window is recomputed each time late
-- labels touch it although its drift cannot change). The binning moves to
-- the insert: ~3 engine CPU-seconds per 1,000,000 predictions of 20
-- features in 50,000-row inserts (benchmarks/README.md), paid once per
-- row. To trade that back, drop the view: the aggregator then finds no
-- coverage and bins the raw rows in every cycle, as before.
--
-- Per insert block, model version, minute and feature (and __score__): the
-- counts of its non-null values in the bins of the version's baseline as
-- it stands at insert time (kind bins, keys = bin index), or, without a
-- baseline, of the values rounded to 3 significant digits (kind fine, keys
-- = rounded value); the expressions are those of
-- clickhouse/queries/drift_states.sql, which computes the same counts from
-- the raw rows. kind rows (feature '') counts the block's predictions.
--
-- The aggregator uses a (window, version) only when it can prove the
-- counts complete and current (internal/aggregate/drift_coverage.go): the
-- rows counted here equal the predictions in prediction_logs, and every
-- feature was binned with the version's current baseline. Otherwise
-- (a baseline that arrived or changed after the rows, a lost or doubled
-- view insert, base windows that are not whole minutes) it bins that
-- version's raw rows as before, so the result never depends on this table
-- being right.
CREATE TABLE IF NOT EXISTS {db}.feature_bins_1m
(
    model_id LowCardinality(String) COMMENT 'Model identifier',
    model_version LowCardinality(String) COMMENT 'Model version',
    minute DateTime('UTC') COMMENT 'Start of the minute (prediction event time)',
    feature LowCardinality(String) COMMENT 'Numeric feature, __score__ for the prediction score, empty for kind rows',
    kind Enum8('rows' = 0, 'bins' = 1, 'fine' = 2) COMMENT 'rows: prediction count of the minute; bins: keys are bin indexes of the baseline; fine: keys are values rounded to 3 significant digits',
    baseline_computed_at DateTime64(3, 'UTC') COMMENT 'computed_at of the baseline the bins come from (kind bins), 1970-01-01 otherwise',
    baseline_edges_hash UInt64 COMMENT 'cityHash64 of the sorted bin edges the bins come from (kind bins), 0 otherwise: a baseline re-sent with the same computed_at and other edges is not current',
    rows SimpleAggregateFunction(sum, UInt64) COMMENT 'kind rows: predictions inserted for the minute; 0 otherwise',
    counts SimpleAggregateFunction(sumMap, Tuple(Array(Float64), Array(UInt64))) COMMENT 'Histogram of non-null values: (keys, counts); may hold zero counts'
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (model_id, model_version, minute, feature, kind, baseline_computed_at, baseline_edges_hash)
TTL minute + INTERVAL {prediction_ttl_days} DAY DELETE
-- Retried ingester inserts carry the same insert_deduplication_token; the
-- window makes ClickHouse drop them here too (for the view target, with
-- deduplicate_blocks_in_dependent_materialized_views).
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Numeric feature histograms per minute binned at insert time, fed by feature_bins_1m_mv; the aggregator checks them against prediction_logs before use';

-- The baseline join reads feature_baselines (one row per version and
-- feature) at every insert block; the values are collected per key list
-- as in drift_states.sql (groupArrayForEach: no per-value hashing); the
-- rounded values of features without a baseline are counted by GROUP BY
-- (sumMap over them cost ~20 % more at insert). kind rows has one entry
-- (0, 0) in counts.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feature_bins_1m_mv TO {db}.feature_bins_1m
AS (
SELECT
    model_id, model_version, minute, feature, kind, baseline_computed_at, baseline_edges_hash, sum(n) AS rows,
    CAST((groupArray(key), groupArray(c)), 'Tuple(Array(Float64), Array(UInt64))') AS counts
FROM
(
SELECT model_id, model_version, minute, feature, kind, baseline_computed_at, baseline_edges_hash, kc.1 AS key, sum(kc.2) AS c, sum(n) AS n
FROM
(
    SELECT
        f.model_id AS model_id, f.model_version AS model_version, f.minute AS minute, f.feature AS feature, f.n AS n,
        CAST(multiIf(f.feature = '', 'rows', b.found = 1, 'bins', 'fine'), 'Enum8(\'rows\' = 0, \'bins\' = 1, \'fine\' = 2)') AS kind,
        b.computed_at AS baseline_computed_at,
        b.edges_hash AS baseline_edges_hash,
        multiIf(kind = 'bins', arrayMap(i -> toFloat64(i), range(length(b.edges) + 1)),
                kind = 'fine', arrayMap(v -> multiIf(v = 0 OR NOT isFinite(v), v,
                                                     abs(v) < 1e-15, round(v * exp10(-greatest(floor(log10(abs(v))), -307)), 2) / exp10(-greatest(floor(log10(abs(v))), -307)),
                                                     round(v, 2 - toInt32(floor(log10(abs(v)))))), f.vals),
                []) AS ks,
        if(kind = 'bins',
           arrayMap(d -> toUInt64(d), arrayPopFront(arrayDifference(arrayConcat([0], arrayMap(e -> arrayCount(v -> v < e, f.vals), b.edges), [length(f.vals)])))),
           arrayWithConstant(length(ks), toUInt64(1))) AS cs
    FROM
    (
        SELECT model_id, model_version, minute, feature, vals, if(feature = '', n, 0) AS n
        FROM
        (
            SELECT
                model_id, model_version, toStartOfMinute(toDateTime(event_time, 'UTC')) AS minute,
                features_num.keys AS keys,
                groupArrayForEach(features_num.values) AS fvals,
                groupArrayIf(assumeNotNull(score), score IS NOT NULL) AS svals,
                count() AS n
            FROM {db}.prediction_logs
            GROUP BY model_id, model_version, minute, keys
        )
        ARRAY JOIN arrayConcat(keys, ['__score__', '']) AS feature, arrayConcat(fvals, [svals, []]) AS vals
        WHERE feature = '' OR notEmpty(vals)
    ) AS f
    LEFT ANY JOIN
    (
        SELECT model_id, model_version, feature, 1 AS found, computed_at, arraySort(bin_edges) AS edges, cityHash64(edges) AS edges_hash
        FROM {db}.feature_baselines FINAL
        WHERE feature_type = 'numeric' AND length(bin_edges) > 0
    ) AS b ON b.model_id = f.model_id AND b.model_version = f.model_version AND b.feature = f.feature
)
LEFT ARRAY JOIN arrayZip(ks, cs) AS kc
GROUP BY model_id, model_version, minute, feature, kind, baseline_computed_at, baseline_edges_hash, key
)
GROUP BY model_id, model_version, minute, feature, kind, baseline_computed_at, baseline_edges_hash
)
COMMENT 'Feeds feature_bins_1m from every insert into prediction_logs';
