-- drift_states_bins: the numeric drift states of the covered (window,
-- version) pairs (see drift_coverage.sql), summed from the histograms
-- binned at insert time (feature_bins_1m) instead of from the raw rows:
-- the same rows drift_states_numeric would write (zero counts dropped,
-- keys printed from the same Float64 values), in the generation
-- {computed_at} that drift_states_numeric writes the other pairs of these
-- windows with. Once the view's parts are merged a 1-minute base window has
-- one row per version and feature, taken as it is: sumMap costs ~500 ns a
-- map entry even for one row (2.1 against 0.3-0.5 engine CPU-s for the
-- benchmark's hour, whose score histograms have ~1,300 keys a minute).
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), covered
-- Array(Tuple(DateTime, String, String)) of (window_start, model_id,
-- model_version), computed_at DateTime64(3).
INSERT INTO predlog.drift_states
    (model_id, model_version, feature, feature_type, kind, window_start, base_seconds, baseline_computed_at, counts, computed_at)
SELECT
    model_id, model_version, feature, 'numeric', toString(kind), window_start, {base_seconds:UInt32}, baseline_at,
    CAST((arrayMap(k -> toString(k), arrayFilter((k, c) -> c > 0, s.1, s.2)), arrayFilter(c -> c > 0, s.2)), 'Map(String, UInt64)'),
    {computed_at:DateTime64(3)}
FROM
(
    SELECT
        model_id, model_version, feature, kind,
        toStartOfInterval(minute, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
        max(baseline_computed_at) AS baseline_at,
        groupArray(counts) AS g,
        if(length(g) = 1, g[1], arrayReduce('sumMap', g)) AS s
    FROM predlog.feature_bins_1m
    WHERE minute >= {from:DateTime64(3)} AND minute < {to:DateTime64(3)} AND kind != 'rows'
      AND (toStartOfInterval(minute, INTERVAL {base_seconds:UInt32} SECOND), model_id, model_version) IN
          (SELECT c.1, c.2, c.3 FROM (SELECT arrayJoin({covered:Array(Tuple(DateTime, String, String))}) AS c))
    GROUP BY model_id, model_version, feature, kind, window_start
)
WHERE arrayExists(c -> c > 0, s.2)
