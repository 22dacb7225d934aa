-- perf_rollup: roll the base-window states up into the windows of one
-- granularity and write their performance_metrics rows.
--
-- It reads, per base window, the rows of its newest generation only (max
-- computed_at, see perf_states), duplicates each for the all-versions row
-- (model_version '*'), names each slice value outside the {top_n} with the
-- most predictions per (model, version, key, window of {g_seconds}) 'other'
-- (a narrow read of the counts alone finds them), and merges the states
-- once per output row; the outer SELECT derives the metrics. (Ranking the
-- merged rows with a window function, then merging again to fold 'other',
-- moved every row's 2 x 1001 ROC counts through a sort and a second
-- aggregation: 1.5-2.4 engine CPU-s for the bench hour's 1-minute windows,
-- against 0.65-0.95 this way.) Exact: counts, rates, confusion-matrix metrics, log
-- loss, means, regression errors (sums of the rows, up to float rounding).
-- Approximate: latency and label-delay quantiles, ROC AUC (1001 score
-- bins, ties within a bin count one half). Quantiles: merged DDSketches
-- (perf_states, migration 0031), each within 1 % of the exact quantile of
-- the window's values (the value at rank floor(q * (n - 1)) of n sorted,
-- 0-based), the same on every recomputation; from the merged t-digests,
-- which every state holds, when some base window's states predate 0031
-- (the windows before the upgrade, and those around it until all their
-- minutes are recomputed). Undefined ratios are
-- NULL. Multiclass per-class metrics follow scikit-learn with
-- zero_division=0 over the classes seen as truth or prediction; MAPE is a
-- fraction; R² = 1 - SSE / SST with SST = Σy² - (Σy)²/n, NULL when SST is
-- 0 up to rounding (constant truth: the subtraction leaves a residue of
-- either sign that grows with n, so SST below 64·n·ε·Σy² counts as 0, as
-- the aggregator's Welch test treats a latency variance). A/B rows
-- (slice_key '__ab__/<experiment>', the variant as value) are rolled up like
-- slices: every metric of every variant per window; their ROC AUC is NULL
-- (perf_states keeps no score histogram for them).
--
-- Parameters: base_seconds, g_seconds UInt32; granularity String; from/to
-- DateTime (the span of the windows); windows Array(DateTime) (window
-- starts, empty = all in [from, to)); top_n UInt32; final Bool.
INSERT INTO {db}.performance_metrics
(
    model_id, model_version, granularity, slice_key, slice_value, window_start, window_end,
    problem_type, decision_threshold,
    prediction_count, error_count, error_rate,
    latency_avg_ms, latency_p50_ms, latency_p90_ms, latency_p95_ms, latency_p99_ms, latency_max_ms, throughput_per_s,
    labeled_count, label_coverage, label_delay_avg_s, label_delay_p50_s, label_delay_p95_s,
    tp, fp, tn, fn, `precision`, recall, f1, accuracy, tpr, fpr, tnr, fnr, log_loss, roc_auc,
    base_rate, predicted_positive_rate, score_mean,
    class_precision, class_recall, class_f1, class_support,
    macro_precision, macro_recall, macro_f1, weighted_precision, weighted_recall, weighted_f1,
    me, mae, rmse, mape, r2,
    final, computed_at
)
SELECT
    model_id, model_version, {granularity:String}, slice_key, slice_value, window_start,
    window_start + INTERVAL {g_seconds:UInt32} SECOND,
    pt, if(model_version = '*' OR pt != 'binary', NULL, thr),
    n, errors, if(n > 0, errors / n, NULL),
    if(n > 0, lat_sum / n, NULL),
    if(n > 0, lat_q[1], NULL), if(n > 0, lat_q[2], NULL), if(n > 0, lat_q[3], NULL), if(n > 0, lat_q[4], NULL),
    if(n > 0, lat_max, NULL),
    n / {g_seconds:UInt32},
    labeled, if(ok_n > 0, labeled / ok_n, NULL),
    if(labeled > 0, delay_sum / labeled, NULL), if(labeled > 0, delay_q[1], NULL), if(labeled > 0, delay_q[2], NULL),
    tp, fp, tn, fn,
    if(is_binary AND tp + fp > 0, tp / (tp + fp), NULL),
    if(is_binary AND tp + fn > 0, tp / (tp + fn), NULL),
    if(is_binary AND tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), NULL),
    multiIf(is_binary AND bin_n > 0, (tp + tn) / bin_n,
            pt = 'multiclass' AND mc_n > 0, arraySum(mapValues(ctp)) / mc_n, NULL),
    if(is_binary AND tp + fn > 0, tp / (tp + fn), NULL),
    if(is_binary AND fp + tn > 0, fp / (fp + tn), NULL),
    if(is_binary AND fp + tn > 0, tn / (fp + tn), NULL),
    if(is_binary AND tp + fn > 0, fn / (tp + fn), NULL),
    if(ll_n > 0, ll_sum / ll_n, NULL),
    if(is_binary AND roc_p > 0 AND roc_n > 0,
       arraySum(arrayMap((neg, pos, cum) -> neg * (roc_p - cum + 0.5 * pos), roc_neg, roc_pos, arrayCumSum(roc_pos))) / (roc_p * roc_n),
       NULL),
    if(is_binary AND bin_n > 0, (tp + fn) / bin_n, NULL),
    if(is_binary AND pred_n > 0, pred_pos / pred_n, NULL),
    if(score_n > 0, score_sum / score_n, NULL),
    mapFromArrays(classes, class_p), mapFromArrays(classes, class_r), mapFromArrays(classes, class_f),
    cs,
    if(mc, arrayAvg(class_p), NULL), if(mc, arrayAvg(class_r), NULL), if(mc, arrayAvg(class_f), NULL),
    if(mc, arraySum(arrayMap((v, c) -> v * cs[c], class_p, classes)) / mc_n, NULL),
    if(mc, arraySum(arrayMap((v, c) -> v * cs[c], class_r, classes)) / mc_n, NULL),
    if(mc, arraySum(arrayMap((v, c) -> v * cs[c], class_f, classes)) / mc_n, NULL),
    if(reg, err_sum / reg_n, NULL),
    if(reg, abs_sum / reg_n, NULL),
    if(reg, sqrt(sq_sum / reg_n), NULL),
    if(reg AND ape_n > 0, ape_sum / ape_n, NULL),
    if(reg AND y_sq - y_sum * y_sum / reg_n > 64 * reg_n * 2.220446049250313e-16 * y_sq,
       1 - sq_sum / (y_sq - y_sum * y_sum / reg_n), NULL),
    {final:Bool},
    now64(3, 'UTC')
FROM
(
    SELECT
        model_id, model_version, slice_key, slice_value,
        window_start,
        any(problem_type) AS pt,
        pt = 'binary' AS is_binary,
        any(decision_threshold) AS thr,
        sum(prediction_count) AS n,
        sum(error_count) AS errors,
        sum(latency_sum) AS lat_sum,
        max(latency_max) AS lat_max,
        min(quantile_sketch) = 'ddsketch' AS sketched,
        if(sketched,
           arrayMap(x -> x / 1000, quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(latency_dd)),
           quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_q)) AS lat_q,
        sum(score_count) AS score_n,
        sum(score_sum) AS score_sum,
        sum(ok_count) AS ok_n,
        sum(labeled_count) AS labeled,
        sum(label_delay_sum) AS delay_sum,
        if(sketched,
           arrayMap(x -> x / 1000, quantilesDDMerge(0.01, 0.5, 0.95)(label_delay_dd)),
           quantilesTDigestMerge(0.5, 0.95)(label_delay_q)) AS delay_q,
        sum(predicted_count) AS pred_n,
        sum(predicted_positive) AS pred_pos,
        sum(tp) AS tp, sum(fp) AS fp, sum(tn) AS tn, sum(fn) AS fn,
        tp + fp + tn + fn AS bin_n,
        sum(log_loss_sum) AS ll_sum,
        sum(log_loss_count) AS ll_n,
        sumForEach(roc_pos) AS roc_pos,
        sumForEach(roc_neg) AS roc_neg,
        toFloat64(arraySum(roc_pos)) AS roc_p,
        toFloat64(arraySum(roc_neg)) AS roc_n,
        sumMap(class_support) AS cs,
        sumMap(class_predicted) AS cp,
        sumMap(class_tp) AS ctp,
        arraySum(mapValues(cs)) AS mc_n,
        pt = 'multiclass' AND mc_n > 0 AS mc,
        if(mc, arraySort(arrayDistinct(arrayConcat(mapKeys(cs), mapKeys(cp)))), []) AS classes,
        arrayMap(c -> if(cp[c] > 0, ctp[c] / cp[c], 0), classes) AS class_p,
        arrayMap(c -> if(cs[c] > 0, ctp[c] / cs[c], 0), classes) AS class_r,
        arrayMap((p, r) -> if(p + r > 0, 2 * p * r / (p + r), 0), class_p, class_r) AS class_f,
        sum(reg_count) AS reg_n,
        pt = 'regression' AND reg_n > 0 AS reg,
        sum(err_sum) AS err_sum,
        sum(abs_err_sum) AS abs_sum,
        sum(sq_err_sum) AS sq_sum,
        sum(ape_sum) AS ape_sum,
        sum(ape_count) AS ape_n,
        sum(y_sum) AS y_sum,
        sum(y_sq_sum) AS y_sq
    FROM
    (
        SELECT
            model_id, version AS model_version, slice_key,
            toStartOfInterval(base_start, INTERVAL {g_seconds:UInt32} SECOND) AS window_start,
            if(slice_key = '' OR slice_value = 'other'
               OR (model_id, version, slice_key, window_start, slice_value) IN
               (
                   -- The {top_n} values with the most predictions per
                   -- (model, version, key, window); 'other' folds the rest.
                   SELECT model_id, version, slice_key, g_start, slice_value
                   FROM
                   (
                       SELECT model_id, version, slice_key, slice_value,
                              toStartOfInterval(window_start, INTERVAL {g_seconds:UInt32} SECOND) AS g_start,
                              sum(prediction_count) AS n
                       FROM {db}.performance_window_states FINAL
                       ARRAY JOIN [model_version, '*'] AS version
                       WHERE slice_key != '' AND slice_value != 'other'
                         AND {{template "rolled_up_states"}}
                       GROUP BY model_id, version, slice_key, slice_value, g_start
                   )
                   ORDER BY n DESC, slice_value
                   LIMIT {top_n:UInt32} BY model_id, version, slice_key, g_start
               ), slice_value, 'other') AS slice_value,
            problem_type, decision_threshold, prediction_count, error_count, latency_sum, latency_max,
            latency_q, latency_dd, quantile_sketch, score_count, score_sum, ok_count, labeled_count,
            label_delay_sum, label_delay_q, label_delay_dd,
            predicted_count, predicted_positive, tp, fp, tn, fn, log_loss_sum, log_loss_count,
            roc_pos, roc_neg, class_support, class_predicted, class_tp, reg_count, err_sum, abs_err_sum,
            sq_err_sum, ape_sum, ape_count, y_sum, y_sq_sum
        FROM
        (
            SELECT
                model_id, model_version AS own_version, slice_key, slice_value, window_start AS base_start,
                problem_type, decision_threshold, prediction_count, error_count, latency_sum, latency_max,
                latency_q, latency_dd, quantile_sketch, score_count, score_sum, ok_count, labeled_count,
                label_delay_sum, label_delay_q, label_delay_dd,
                predicted_count, predicted_positive, tp, fp, tn, fn, log_loss_sum, log_loss_count,
                roc_pos, roc_neg, class_support, class_predicted, class_tp, reg_count, err_sum, abs_err_sum,
                sq_err_sum, ape_sum, ape_count, y_sum, y_sq_sum
            FROM {db}.performance_window_states FINAL
            WHERE {{template "rolled_up_states"}}
        )
        ARRAY JOIN [own_version, '*'] AS version
    )
    GROUP BY model_id, model_version, slice_key, slice_value, window_start
)
