-- insert_views: which of the views drift.insert_time_bins creates exist
-- (the aggregator warns when they do with the setting off: inserts still
-- pay for them).
--
-- Parameters: database String.
SELECT name
FROM system.tables
WHERE database = {database:String} AND name IN ('feature_bins_1m_mv', 'feature_values_1m_mv')
ORDER BY name
