-- ready: which of the tables the aggregator needs exist (the caller names
-- the others).
--
-- Parameters: database String, tables Array(String).
SELECT name
FROM system.tables
WHERE database = {database:String} AND has({tables:Array(String)}, name)
