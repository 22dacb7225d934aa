-- models_ingested: how many models rows were ingested in (since, until]:
-- dirty_models, which reads the states of the whole label horizon, runs
-- only when some were.
--
-- Parameters: since, until DateTime64(3).
SELECT count()
FROM predlog.models
WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
