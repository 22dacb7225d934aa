-- baselines_read: the reference distributions of the given models.
--
-- Parameters: models Array(String).
SELECT
    model_id, model_version, feature, toString(feature_type) AS feature_type, sample_count, null_rate,
    bin_edges, bin_proportions, mapKeys(categories) AS cats, mapValues(categories) AS props,
    other_proportion, computed_at
FROM predlog.feature_baselines FINAL
WHERE has({models:Array(String)}, model_id)
