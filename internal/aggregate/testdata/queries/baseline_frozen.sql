-- baseline_frozen: the rows baseline_freeze just wrote (its computed_at),
-- one line per feature for `aggregator baseline` to print.
--
-- Parameters: model_id, model_version String; computed_at DateTime64(3).
SELECT
    feature, toString(feature_type), null_rate, toUInt64(length(bin_proportions)), toUInt64(length(categories)),
    other_proportion
FROM predlog.feature_baselines FINAL
WHERE model_id = {model_id:String} AND model_version = {model_version:String} AND computed_at = {computed_at:DateTime64(3)}
ORDER BY feature
