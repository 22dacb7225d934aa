-- drift_coverage: per base window and model version of a states query's
-- range, the predictions (n, for cutting the raw numeric drift states into
-- queries of bounded memory) and whether feature_bins_1m covers them
-- (covered): its rows count equals n, so every prediction went through the
-- view exactly once (a lost or doubled view insert shows as a difference;
-- versions without a baseline are not counted at all), every binned
-- feature was binned with the baseline feature_baselines holds now (same
-- computed_at, same edges), and every feature it could not bin then still
-- has no baseline and is an output (score_raw, value_raw: count the score's
-- or the predicted value's fine histogram apart). Never covered when base windows are
-- not whole minutes. values_covered: feature_values_1m (migration 0024)
-- counted exactly these predictions (its prediction-count rows sum to n;
-- it does not depend on baselines), so the categorical states and the
-- outputs' fine histograms can be summed from it. Also the server's clock
-- (now): the generation the drift states of all sources share.
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), windows
-- Array(DateTime) (empty = every base window in [from, to)).
SELECT
    r.window_start AS window_start, r.model_id AS model_id, r.model_version AS model_version, r.n AS n,
    {base_seconds:UInt32} % 60 = 0 AND m.rows = r.n AND m.stale = 0 AS covered,
    m.score_unbinned > 0 AS score_raw,
    m.value_unbinned > 0 AS value_raw,
    {base_seconds:UInt32} % 60 = 0 AND v.rows = r.n AS values_covered,
    now64(3, 'UTC') AS now
FROM
(
    SELECT toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start, model_id, model_version, count() AS n
    FROM predlog.prediction_logs
    WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)} AND status = 'ok'
      AND (empty({windows:Array(DateTime)})
           OR has({windows:Array(DateTime)}, toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND)))
    GROUP BY window_start, model_id, model_version
) AS r
LEFT ANY JOIN
(
    SELECT
        toStartOfInterval(s.minute, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
        s.model_id AS model_id, s.model_version AS model_version,
        sumIf(s.rows, s.kind = 'rows') AS rows,
        countIf((s.kind = 'bins' AND (b.found = 0 OR b.computed_at != s.baseline_computed_at OR b.edges_hash != s.baseline_edges_hash))
                OR (s.kind = 'unbinned' AND (b.found = 1 OR s.feature NOT IN ('__score__', '__value__')))) AS stale,
        countIf(s.kind = 'unbinned' AND s.feature = '__score__') AS score_unbinned,
        countIf(s.kind = 'unbinned' AND s.feature = '__value__') AS value_unbinned
    FROM predlog.feature_bins_1m AS s
    LEFT ANY JOIN
    (
        SELECT model_id, model_version, feature, 1 AS found, computed_at, cityHash64(arraySort(bin_edges)) AS edges_hash
        FROM predlog.feature_baselines FINAL
        WHERE feature_type = 'numeric' AND length(bin_edges) > 0
    ) AS b ON b.model_id = s.model_id AND b.model_version = s.model_version AND b.feature = s.feature
    WHERE s.minute >= {from:DateTime64(3)} AND s.minute < {to:DateTime64(3)}
    GROUP BY window_start, model_id, model_version
) AS m ON m.window_start = r.window_start AND m.model_id = r.model_id AND m.model_version = r.model_version
LEFT ANY JOIN
(
    SELECT toStartOfInterval(minute, INTERVAL {base_seconds:UInt32} SECOND) AS window_start, model_id, model_version, sum(rows) AS rows
    FROM predlog.feature_values_1m
    WHERE minute >= {from:DateTime64(3)} AND minute < {to:DateTime64(3)} AND feature = ''
    GROUP BY window_start, model_id, model_version
) AS v ON v.window_start = r.window_start AND v.model_id = r.model_id AND v.model_version = r.model_version
ORDER BY window_start, model_id, model_version
-- prediction_logs and feature_bins_1m are sorted by model, version and
-- time, so their counts per (window, model, version) are aggregated in
-- that order instead of hashing the keys (the benchmark hour: 0.27-0.31
-- instead of 0.90-1.00 engine CPU-s, the same rows).
SETTINGS optimize_aggregation_in_order = 1
