-- dirty_models: the base windows, among those starting at or after
-- not_before (older ones are final), whose newest performance states of a
-- model version were computed with other metadata than the version's
-- current models row, for the versions whose row was ingested in
-- (since, until]: problem type, decision threshold or positive class
-- (perf_states writes them with the states; a version without a row was
-- computed with 0.5 and '1'). A record sent again unchanged (a promotion,
-- a new alias) recomputes nothing. The windows of the whole horizon are
-- recomputed, so that they all use the version's current metadata rather
-- than whichever was current when their last label arrived; final windows
-- keep theirs. A cycle recomputes at most windows.recompute_per_cycle of
-- them, newest first; the next cycles find the rest still dirty
-- (recompute.go).
-- GLOBAL: on a cluster the subqueries read Distributed tables too
-- (internal/schema/doc.go); a no-op on a single node.
--
-- Parameters: base_seconds UInt32; since, until, not_before DateTime64(3).
SELECT DISTINCT window_start
FROM predlog.performance_window_states
WHERE base_seconds = {base_seconds:UInt32} AND slice_key = '' AND window_start >= {not_before:DateTime64(3)}
  AND (model_id, model_version) GLOBAL IN
  (
      SELECT model_id, model_version
      FROM predlog.models
      WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
  )
  AND (window_start, computed_at) GLOBAL IN
  (
      SELECT window_start, max(computed_at)
      FROM predlog.performance_window_states
      WHERE base_seconds = {base_seconds:UInt32} AND window_start >= {not_before:DateTime64(3)}
      GROUP BY window_start
  )
  AND (model_id, model_version, toString(problem_type), decision_threshold, positive_class) GLOBAL NOT IN
  (
      SELECT model_id, model_version, toString(problem_type), decision_threshold, positive_class
      FROM predlog.models FINAL
  )
ORDER BY window_start
