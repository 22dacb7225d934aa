-- backfill_windows: the base windows in [from, to) that hold predictions.
-- A backfill computes only those (and the coarser windows around them): a
-- window without predictions has no states to compute, and a range typed
-- a year too early would otherwise cost every one of its empty windows.
-- Reads event_time alone; partitions by day prune the range.
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3).
SELECT DISTINCT toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start
FROM predlog.prediction_logs
WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
ORDER BY window_start
