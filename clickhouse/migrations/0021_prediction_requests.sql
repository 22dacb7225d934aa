-- Placeholder: {db} = database name.
-- predlog: single-node only
--
-- prediction_requests: where each prediction's request id lies in time,
-- for the aggregator to find the windows that late outcomes touch. Without
-- it every cycle matched the new outcomes' request ids against the
-- request_id column of every prediction within the label horizon: a scan
-- that grows with the traffic kept (10M predictions an hour and a 7-day
-- horizon: 1.7 billion ids a cycle). A key-value table answers the same
-- question with one lookup per new outcome. The aggregator fills it each
-- cycle with the predictions ingested since the last one (their ingest
-- time, the watermark it already keeps); predictions ingested before it
-- started to are still found by the scan, which their ingest time bounds.
-- Not on a cluster (a node-local engine; the line above skips the file
-- there): the aggregator scans there.
--
-- key is the decimal length of model_id, ':', model_id, request_id, so that
-- no model id and request id pair can be mistaken for another. A request
-- id that one model predicted twice keeps the event_time indexed last.
CREATE TABLE IF NOT EXISTS {db}.prediction_requests
(
    key String COMMENT 'length(model_id) || '':'' || model_id || request_id',
    event_time DateTime64(3, 'UTC') COMMENT 'event_time of the prediction'
)
ENGINE = EmbeddedRocksDB({prediction_ttl_seconds})
PRIMARY KEY key
COMMENT 'Aggregator: prediction event time by model and request id, for the windows late outcomes touch';
