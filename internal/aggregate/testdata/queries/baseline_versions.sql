-- baseline_versions: the ok predictions of each version of one model in
-- [from, to): whether `aggregator baseline` has anything to freeze, and
-- which versions to suggest when it has not.
--
-- Parameters: model_id String; from/to DateTime64(3).
SELECT model_version, count() AS n
FROM predlog.prediction_logs
WHERE model_id = {model_id:String}
  AND event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)} AND status = 'ok'
GROUP BY model_version
ORDER BY model_version
