-- drift_states_score: the fine histogram of an output, {output} =
-- __score__ (the score) or __value__ (a regression's predicted value),
-- values rounded to 3 significant digits (the fine_key template), of
-- covered (window, version) pairs whose output has no baseline:
-- feature_bins_1m bins only what a baseline lists, and reading one column
-- is cheap next to collecting every feature. The same rows
-- drift_states_numeric would write for the output, in the generation
-- {computed_at}.
-- This variant (drift_states_score_values) sums the fine keys counted at
-- insert time (feature_values_1m, migration 0024) instead: {covered} then
-- lists only pairs drift_coverage proved that table complete for.
--
-- Parameters: output String, base_seconds UInt32, from/to DateTime64(3),
-- covered Array(Tuple(DateTime, String, String)) of (window_start,
-- model_id, model_version), computed_at DateTime64(3),
-- keys_unique Bool (see below).
INSERT INTO predlog.drift_window_states
    (model_id, model_version, feature, feature_type, kind, window_start, base_seconds, baseline_computed_at, counts, computed_at, feature_type_key)
SELECT
    model_id, model_version, {output:String}, 'numeric', 'fine', window_start, {base_seconds:UInt32}, toDateTime64(0, 3, 'UTC'),
    -- FINAL sums each key's rows across a node's parts, so with base
    -- windows of one minute on a single node ({keys_unique}) every key is
    -- listed once; else (windows of several minutes, or a cluster, where
    -- FINAL merges within each shard) the keys are added up, which costs
    -- about as much again.
    CAST(if({keys_unique:Bool}, (ks, cs), arrayReduce('sumMap', [ks], [cs])), 'Map(String, UInt64)'),
    {computed_at:DateTime64(3)}, 1
FROM
(
    -- FINAL and one array per window: a GROUP BY of (window, key) cost
    -- twice the engine CPU over the benchmark hour's 2.9M keys.
    SELECT
        model_id, model_version, toStartOfInterval(minute, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
        groupArray(value) AS ks, groupArray(rows) AS cs
    FROM predlog.feature_values_1m FINAL
    WHERE minute >= {from:DateTime64(3)} AND minute < {to:DateTime64(3)} AND feature = {output:String}
      AND (toStartOfInterval(minute, INTERVAL {base_seconds:UInt32} SECOND), model_id, model_version) IN
          (SELECT c.1, c.2, c.3 FROM (SELECT arrayJoin({covered:Array(Tuple(DateTime, String, String))}) AS c))
    GROUP BY model_id, model_version, window_start
)
