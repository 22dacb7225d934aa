-- drift_read: the merged histograms of the drift windows of one
-- granularity: every window in {windows} (which holds the windows to
-- compute and, for versions without a baseline, the windows before them),
-- from the newest generation of each base window and feature type (numeric
-- and categorical states are separate INSERTs).
--
-- Each histogram as two strings: its keys, each as its length in bytes,
-- ':' and itself ("1:a3:b,c"), and its counts joined by ','. Any key
-- survives the encoding, and the aggregator cuts the strings apart
-- itself (decodeHist). Scanned as arrays (Map keys and values), the
-- driver's reflection cost 1.7-2.1 CPU-s of the aggregator's own on the
-- ~2.8M keys of the bench hour's histograms, against 0.23-0.26 so (and
-- a Map scanned into a Go map cost more still).
--
-- No ORDER BY: the aggregator files the rows in a map, and sorting them
-- moved every Map entry (the hour of 1-minute windows of the benchmark,
-- a copy of its states: 0.55-0.59 engine CPU-s and 0.57-0.69 s with the
-- sort, 0.10-0.19 and 0.18-0.22 s without).
--
-- Parameters: base_seconds, g_seconds UInt32; from/to DateTime; windows
-- Array(DateTime).
{{- if .Base}}
--
-- This variant (g_seconds = base_seconds) reads each state as it is: FINAL
-- and the newest generation leave one row per window, version and feature,
-- and any aggregate over a Map (sumMap, even any) copies it entry by entry
-- (~600 ns an entry: 2 of 2.1 engine CPU-s for the hour of 1-minute
-- windows of the benchmark, whose score histograms have ~1,300 keys).
{{- end}}
SELECT
    model_id, model_version, feature,
{{- if .Base}}
    toString(feature_type) AS ftype,
    toString(kind) AS kind,
    window_start AS ws,
    baseline_computed_at AS baseline_at,
    arrayStringConcat(arrayMap(k -> concat(toString(length(k)), ':', k), mapKeys(counts))) AS keys,
    arrayStringConcat(mapValues(counts), ',') AS vals
{{- else}}
    toString(feature_type) AS ftype,
    toString(kind) AS kind,
    toStartOfInterval(window_start, INTERVAL {g_seconds:UInt32} SECOND) AS ws,
    max(baseline_computed_at) AS baseline_at,
    arrayStringConcat(arrayMap(k -> concat(toString(length(k)), ':', k), mapKeys(sumMap(counts) AS merged))) AS keys,
    arrayStringConcat(mapValues(merged), ',') AS vals
{{- end}}
FROM {db}.drift_window_states FINAL
WHERE base_seconds = {base_seconds:UInt32}
  AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
  AND has({windows:Array(DateTime)}, toStartOfInterval(window_start, INTERVAL {g_seconds:UInt32} SECOND))
  AND (window_start, feature_type, computed_at) IN
  (
      SELECT window_start, feature_type, max(computed_at)
      FROM {db}.drift_window_states
      WHERE base_seconds = {base_seconds:UInt32} AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
      GROUP BY window_start, feature_type
  )
{{- if not .Base}}
GROUP BY model_id, model_version, feature, feature_type, kind, ws
{{- end}}
