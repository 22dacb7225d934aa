-- drift_states_bins: the numeric drift states of the covered (window,
-- version) pairs (see drift_coverage.sql), summed from the histograms
-- binned at insert time (feature_bins_1m) instead of from the raw rows:
-- the same rows drift_states_numeric would write (keys toString(toFloat64(
-- bin index)), zero counts dropped), in the generation {computed_at} that
-- drift_states_numeric and drift_states_score write the other pairs and
-- the unbinned scores of these windows with.
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), covered
-- Array(Tuple(DateTime, String, String)) of (window_start, model_id,
-- model_version), computed_at DateTime64(3).
INSERT INTO predlog.drift_window_states
    (model_id, model_version, feature, feature_type, kind, window_start, base_seconds, baseline_computed_at, counts, computed_at, feature_type_key)
SELECT
    model_id, model_version, feature, 'numeric', 'bins', window_start, {base_seconds:UInt32}, baseline_at,
    CAST((arrayMap(i -> toString(toFloat64(i - 1)), arrayFilter((i, x) -> x > 0, arrayEnumerate(c), c)), arrayFilter(x -> x > 0, c)),
         'Map(String, UInt64)'),
    {computed_at:DateTime64(3)}, 1
FROM
(
    SELECT
        model_id, model_version, feature,
        toStartOfInterval(minute, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
        max(baseline_computed_at) AS baseline_at,
        sumForEachMerge(counts) AS c
    FROM predlog.feature_bins_1m
    WHERE minute >= {from:DateTime64(3)} AND minute < {to:DateTime64(3)} AND kind = 'bins'
      AND (toStartOfInterval(minute, INTERVAL {base_seconds:UInt32} SECOND), model_id, model_version) IN
          (SELECT c.1, c.2, c.3 FROM (SELECT arrayJoin({covered:Array(Tuple(DateTime, String, String))}) AS c))
    GROUP BY model_id, model_version, feature, window_start
)
WHERE arrayExists(x -> x > 0, c)
