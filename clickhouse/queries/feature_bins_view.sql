-- feature_bins_view: the materialized view that fills feature_bins_1m
-- (migration 0016, which says what it holds) from every insert into
-- prediction_logs. Created by the aggregator when drift.insert_time_bins
-- is set (single node; on a cluster create it ON CLUSTER, TO
-- feature_bins_1m_local, FROM prediction_logs_local); dropping it
-- (DROP VIEW feature_bins_1m_mv) turns it off: the aggregator bins the raw
-- rows of whatever it does not cover.
--
-- The comment's "(definition N)" names this definition: the aggregator
-- replaces a view whose comment lacks it (definition 2 added __value__;
-- 3 counts successful predictions only, as drift does).
--
-- The baseline subqueries read feature_baselines (one row per version and
-- feature) at every insert block. Values are collected per key list as in
-- drift_states.sql (groupArrayForEach: no per-value hashing) and counted
-- per bin with one vectorised pass per edge.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feature_bins_1m_mv TO {db}.feature_bins_1m
AS (
SELECT
    model_id, model_version, minute, feature, kind, baseline_computed_at, baseline_edges_hash,
    sum(n) AS rows,
    sumForEachState(cs) AS counts
FROM
(
    SELECT
        f.model_id AS model_id, f.model_version AS model_version, f.minute AS minute, f.feature AS feature, f.n AS n,
        CAST(multiIf(f.feature = '', 'rows', b.found = 1, 'bins', 'unbinned'), 'Enum8(\'rows\' = 0, \'bins\' = 1, \'unbinned\' = 2)') AS kind,
        b.computed_at AS baseline_computed_at,
        b.edges_hash AS baseline_edges_hash,
        if(kind = 'bins',
           arrayMap(d -> toUInt64(d), arrayPopFront(arrayDifference(arrayConcat([0], arrayMap(e -> arrayCount(v -> v < e, f.vals), b.edges), [length(f.vals)])))),
           CAST([], 'Array(UInt64)')) AS cs
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
                groupArrayIf(assumeNotNull(value), value IS NOT NULL) AS vvals,
                count() AS n
            FROM {db}.prediction_logs
            WHERE status = 'ok'
              AND (model_id, model_version) IN
                (SELECT model_id, model_version FROM {db}.feature_baselines WHERE feature_type = 'numeric' AND length(bin_edges) > 0)
            GROUP BY model_id, model_version, minute, keys
        )
        ARRAY JOIN arrayConcat(keys, ['__score__', '__value__', '']) AS feature, arrayConcat(fvals, [svals, vvals, []]) AS vals
        WHERE feature = '' OR notEmpty(vals)
    ) AS f
    LEFT ANY JOIN
    (
        SELECT model_id, model_version, feature, 1 AS found, computed_at, arraySort(bin_edges) AS edges, cityHash64(edges) AS edges_hash
        FROM {db}.feature_baselines FINAL
        WHERE feature_type = 'numeric' AND length(bin_edges) > 0
    ) AS b ON b.model_id = f.model_id AND b.model_version = f.model_version AND b.feature = f.feature
)
GROUP BY model_id, model_version, minute, feature, kind, baseline_computed_at, baseline_edges_hash
)
COMMENT 'Feeds feature_bins_1m from every insert into prediction_logs (definition 3)';
