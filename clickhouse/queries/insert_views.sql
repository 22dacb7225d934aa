-- insert_views: the views drift.insert_time_bins creates that exist, with
-- their comments (which name their definition: the aggregator replaces an
-- older one, and warns when they exist with the setting off, since
-- inserts still pay for them).
--
-- Parameters: database String.
SELECT name, comment
FROM system.tables
WHERE database = {database:String} AND name IN ('feature_bins_1m_mv', 'feature_values_1m_mv')
ORDER BY name
