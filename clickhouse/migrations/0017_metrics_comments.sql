-- Placeholder: {db} = database name.
--
-- Column comments for what the aggregator now writes: a feature that
-- stopped arriving keeps its missing row (null rate 1) in every window,
-- referenced to the last window with its values; a slice value folded into
-- 'other' by a recomputation keeps its row with prediction_count 0.
ALTER TABLE {db}.drift_metrics
    COMMENT COLUMN reference_window_start 'Without a baseline: the window compared against (the previous one; for a missing feature, the last window with its values)';
ALTER TABLE {db}.performance_metrics
    COMMENT COLUMN prediction_count 'Predictions in the window; 0 for a slice value a recomputation folded into other (its metrics NULL)';
