-- Placeholder: {db} = database name.
--
-- The state tables 0018 replaced. (ClickHouse refuses to drop a table
-- larger than max_table_size_to_drop, 50 GB by default: raise it on the
-- server, or drop the table by hand, and run migrate again.)

DROP TABLE IF EXISTS {db}.performance_states;

DROP TABLE IF EXISTS {db}.drift_states;
