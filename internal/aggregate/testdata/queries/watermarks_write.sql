-- watermarks_write: advance watermarks; names[i] gets values[i].
--
-- Parameters: names Array(String), values Array(DateTime64(3)).
INSERT INTO predlog.aggregator_watermarks (name, value, updated_at)
SELECT w.1, w.2, now64(3, 'UTC')
FROM
(
    SELECT arrayJoin(arrayZip({names:Array(String)}, {values:Array(DateTime64(3, 'UTC'))})) AS w
)
