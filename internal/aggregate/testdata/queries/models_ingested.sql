-- ingested: how many rows of models were ingested in (since, until]:
-- its dirty query (dirty_models, dirty_baselines), which reads the states
-- of the whole label horizon, runs only when some were. These records are
-- rare, and the table small.
--
-- Parameters: since, until DateTime64(3).
SELECT count()
FROM predlog.models
WHERE ingest_time > {since:DateTime64(3)} AND ingest_time <= {until:DateTime64(3)}
