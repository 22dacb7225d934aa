-- dirty_baselines: the base windows, among those starting at or after
-- not_before (older ones are final), whose newest drift states of a model
-- version no longer match its baselines, for the versions with a
-- feature_baselines row ingested in (since, until]: states binned against
-- another baseline (or one since removed), or fine states of a feature
-- that now has a baseline (stale_drift.tmpl, as drift_stale). Recomputed,
-- their drift states are binned against the current baseline, so that
-- every window of the horizon, and every coarser window rolled up from
-- them, measures against one reference: an hour whose first minutes were
-- counted fine and its last ones in baseline bins would count only the
-- bins (and flag a false null rate). Final windows keep their states.
-- A cycle recomputes at most windows.recompute_per_cycle of them, as in
-- dirty_models.
-- GLOBAL: on a cluster the subqueries read Distributed tables too
-- (internal/schema/doc.go); a no-op on a single node.
--
-- Parameters: base_seconds UInt32; since, until, not_before DateTime64(3).
SELECT DISTINCT s.window_start
FROM {db}.drift_window_states AS s FINAL
GLOBAL ANY LEFT JOIN {{template "stale_drift_baselines"}}
WHERE s.base_seconds = {base_seconds:UInt32} AND s.window_start >= {not_before:DateTime64(3)}
  AND (s.model_id, s.model_version) GLOBAL IN
  (
      SELECT model_id, model_version
      FROM {db}.feature_baselines
      WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
  )
  AND (s.window_start, s.feature_type, s.computed_at) GLOBAL IN
  (
      SELECT window_start, feature_type, max(computed_at)
      FROM {db}.drift_window_states
      WHERE base_seconds = {base_seconds:UInt32} AND window_start >= {not_before:DateTime64(3)}
      GROUP BY window_start, feature_type
  )
  AND {{template "stale_drift_state"}}
ORDER BY window_start
