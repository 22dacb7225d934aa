-- baseline_candidates: the model versions drift.auto_baseline freezes a
-- baseline for: no feature_baselines row at all (a message or an earlier
-- freeze wins), a first served minute whose baseline window [first, first
-- + span) has closed (end + allowed lateness at or before closed), and a
-- prediction within the label horizon (a version still being measured:
-- old versions are not frozen on the first cycle after an upgrade). Oldest
-- first, at most limit a cycle: each freeze reads the window's rows.
-- prediction_stats_1m (an aggregate per minute and version) makes this a
-- small read. GLOBAL: see internal/schema/doc.go (a no-op on a single node).
--
-- Parameters: span_seconds UInt32; closed, recent DateTime64(3); limit
-- UInt32.
SELECT model_id, model_version, min(minute) AS first
FROM predlog.prediction_stats_1m
GROUP BY model_id, model_version
HAVING first + INTERVAL {span_seconds:UInt32} SECOND <= {closed:DateTime64(3)}
   AND max(minute) >= {recent:DateTime64(3)}
   AND (model_id, model_version) GLOBAL NOT IN (SELECT model_id, model_version FROM predlog.feature_baselines)
ORDER BY first, model_id, model_version
LIMIT {limit:UInt32}
