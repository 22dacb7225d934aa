-- Placeholder: {db} = database name.
--
-- Comments for those who query the metrics tables directly (dashboards,
-- notebooks): which rows repeat which predictions, so that a sum counts
-- them once, and what the aggregator writes where the old comments were
-- wrong or silent (the ab_results tests and metrics, drift's null_rate
-- reason and __value__ feature, NULL on all-versions and experiment rows).
-- docs/querying.md has the queries these rules lead to.
ALTER TABLE {db}.performance_metrics
    COMMENT COLUMN model_version 'Model version; ''*'' for the all-versions row, which repeats the predictions of every version: filter model_version = ''*'' (or a version) before summing',
    COMMENT COLUMN slice_key 'Empty for the unsliced row; a metadata key for its slices (top values and other, which add up to the unsliced row); __ab__/<experiment_id> for an experiment''s variants. Filter slice_key = '''' for totals: each key repeats the predictions',
    COMMENT COLUMN slice_value 'Value of slice_key (top-N per key, the rest as other), the variant for __ab__/ rows; empty for the unsliced row',
    COMMENT COLUMN decision_threshold 'Binary: threshold used for the confusion matrix; NULL on the all-versions row (versions may differ) and for other problem types',
    COMMENT COLUMN roc_auc 'Binary: area under the ROC curve (scores clamped to [0, 1] and binned to 0.001, ties count one half); NULL on experiment rows (slice_key __ab__/...)',
    COMMENT COLUMN class_precision 'Multiclass: per-class precision; 0 where undefined (as scikit-learn''s zero_division=0), while binary precision is NULL there',
    COMMENT COLUMN class_recall 'Multiclass: per-class recall; 0 where undefined (zero_division=0)',
    COMMENT COLUMN class_f1 'Multiclass: per-class F1; 0 where undefined (zero_division=0)',
    MODIFY COMMENT 'Model quality metrics per window, recomputed as outcomes arrive; latest computed_at wins, read with FINAL. A window has a row per version, an all-versions row (model_version ''*''), and rows per slice key and experiment (slice_key): filter model_version and slice_key before summing, and derive ratios from summed counts (tp, fp, fn, ...) rather than averaging them (docs/querying.md)';
ALTER TABLE {db}.drift_metrics
    COMMENT COLUMN feature 'Feature name, or output drift: __score__ (score), __label__ (predicted label), __value__ (predicted value)',
    COMMENT COLUMN psi 'Population stability index over the baseline bins, or without a baseline over deciles of the previous window''s values',
    COMMENT COLUMN flag_reasons 'Which tests crossed their thresholds: psi, js, ks, chi2 (p-values after Benjamini-Hochberg across the window''s features, with an effect of at least drift.min_effect), null_rate (null rate up by more than drift.null_rate_threshold)';
ALTER TABLE {db}.ab_results
    COMMENT COLUMN granularity 'Window size (1m, 1h, 1d, ...) or cumulative: one window per experiment, from its first base window with predictions to the end of the last computed (its start moves back when earlier predictions arrive: read each experiment''s newest start, argMax(window_start, computed_at))',
    COMMENT COLUMN metric 'Compared metric: error_rate, accuracy, precision, recall (z-test) or latency_avg_ms (Welch t-test)',
    COMMENT COLUMN prediction_count 'Predictions assigned to the variant in the window; repeated on each metric row of the variant: sum one metric''s rows (metric = ''error_rate'')',
    COMMENT COLUMN labeled_count 'Of those, predictions with an outcome; repeated on each metric row like prediction_count',
    COMMENT COLUMN test 'Statistical test used: z (two-proportion z-test) or welch_t (Welch''s t-test)',
    MODIFY COMMENT 'A/B experiment results per window, variant and metric (volume and SRM repeat on each metric row); latest computed_at wins, read with FINAL';
