-- baseline_candidates: the model versions drift.auto_baseline freezes a
-- baseline for: no feature_baselines row at all (a message or an earlier
-- freeze wins), served within the label horizon (since recent), and whose
-- first minute served since then starts a window [first, first + span)
-- that has closed (end + allowed lateness at or before closed). A version
-- serving since before the horizon (an upgrade) gets the oldest span still
-- inside it. Oldest first, at most limit: each freeze reads its window's
-- rows. prediction_stats_1m (an aggregate per minute and version, sorted
-- by version and minute) makes this a small read. GLOBAL: see
-- internal/schema/doc.go (a no-op on a single node).
--
-- Parameters: span_seconds UInt32; closed, recent DateTime64(3); limit
-- UInt32.
SELECT model_id, model_version, min(minute) AS first
FROM predlog.prediction_stats_1m
WHERE minute >= {recent:DateTime64(3)}
GROUP BY model_id, model_version
HAVING first + INTERVAL {span_seconds:UInt32} SECOND <= {closed:DateTime64(3)}
   AND (model_id, model_version) GLOBAL NOT IN (SELECT model_id, model_version FROM predlog.feature_baselines)
ORDER BY first, model_id, model_version
LIMIT {limit:UInt32}
