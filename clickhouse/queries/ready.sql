-- ready: how many of the tables the aggregator needs exist.
--
-- Parameters: database String, tables Array(String).
SELECT count()
FROM system.tables
WHERE database = {database:String} AND has({tables:Array(String)}, name)
