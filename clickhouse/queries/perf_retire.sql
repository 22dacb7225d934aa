-- perf_retire: retire the slice rows that the newest generation of a
-- rewritten window no longer has, after perf_rollup wrote it.
--
-- A recomputed window's top {top_n} slice values (and A/B variants) can
-- change, e.g. late predictions lift a value above another one, which then
-- counts in 'other'. Its old row would stay in performance_metrics FINAL
-- (its key is not rewritten) and be counted twice by anyone adding slices
-- up. Per (model, version, slice key, window) every row older than the
-- newest computed_at is written again with prediction_count 0 and every
-- metric NULL (the columns' defaults), so the slice rows add up to the
-- window again.
--
-- The tombstone carries the computed_at of the generation that retired the
-- value, not the time of this statement: a concurrent aggregator's newer
-- generation that has the value again then still wins over it. Rows
-- already retired (prediction_count 0: a live slice row has predictions)
-- are left alone, so reruns write nothing, unless the window has become
-- final since (the tombstone is written again with final set).
--
-- The windows are a constant set (IN, unlike has(), narrows the read
-- through the primary key).
--
-- Parameters: granularity String; windows Array(DateTime) (window
-- starts); final Bool.
INSERT INTO {db}.performance_metrics
    (model_id, model_version, granularity, slice_key, slice_value, window_start, window_end, problem_type,
     final, computed_at)
SELECT model_id, model_version, granularity, slice_key, slice_value, window_start, window_end, problem_type,
       {final:Bool}, newest
FROM
(
    SELECT
        model_id, model_version, granularity, slice_key, slice_value, window_start, window_end, problem_type,
        prediction_count, `final` AS was_final, computed_at,
        max(computed_at) OVER (PARTITION BY model_id, model_version, slice_key, window_start) AS newest
    FROM {db}.performance_metrics FINAL
    WHERE granularity = {granularity:String} AND slice_key != ''
      AND window_start IN {windows:Array(DateTime)}
)
WHERE computed_at < newest AND (prediction_count > 0 OR was_final != {final:Bool})
