-- windows_record: record the windows of one granularity just computed,
-- those that hold predictions (per the newest base-window states).
--
-- Parameters: granularity String; g_seconds, base_seconds UInt32; starts
-- Array(DateTime), reasons Array(String), finals Array(Bool) (parallel);
-- from/to DateTime (the span of starts).
INSERT INTO predlog.aggregator_windows (granularity, window_start, window_end, reason, final, computed_at)
SELECT {granularity:String}, w.1, w.1 + INTERVAL {g_seconds:UInt32} SECOND, w.2, w.3, now64(3, 'UTC')
FROM
(
    SELECT arrayJoin(arrayZip({starts:Array(DateTime)}, {reasons:Array(String)}, {finals:Array(Bool)})) AS w
)
WHERE w.1 IN
(
    SELECT DISTINCT toStartOfInterval(window_start, INTERVAL {g_seconds:UInt32} SECOND)
    FROM predlog.performance_window_states
    WHERE base_seconds = {base_seconds:UInt32}
      AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
)
