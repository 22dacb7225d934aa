-- baseline_training: the current baseline rows of one model version that
-- came with its training, so that `aggregator baseline` does not replace
-- them unless asked to.
--
-- Parameters: model_id, model_version String.
SELECT count()
FROM predlog.feature_baselines FINAL
WHERE model_id = {model_id:String} AND model_version = {model_version:String} AND source = 'training'
