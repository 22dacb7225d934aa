-- baseline_training: 1 when one model version's newest baseline rows came
-- with its training, so that `aggregator baseline` does not replace them
-- unless asked to; 0 without rows, or when the newest were frozen from a
-- production window (features a replacing freeze did not see keep their
-- training rows: those alone do not make it a training baseline).
--
-- Parameters: model_id, model_version String.
SELECT toUInt64(argMax(toString(source), computed_at) = 'training')
FROM predlog.feature_baselines FINAL
WHERE model_id = {model_id:String} AND model_version = {model_version:String}
