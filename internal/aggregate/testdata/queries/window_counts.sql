-- window_counts: predictions per base window, for cutting the numeric drift
-- states of a span into queries of bounded memory (reads event_time only).
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), windows
-- Array(DateTime) (empty = every base window in [from, to)).
SELECT toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start, count() AS n
FROM predlog.prediction_logs
WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
  AND (empty({windows:Array(DateTime)})
       OR has({windows:Array(DateTime)}, toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND)))
GROUP BY window_start
ORDER BY window_start
