-- perf_states: compute the partial aggregates of the base windows listed in
-- {windows} (every base window in [from, to) when it is empty) and insert
-- them as one new generation: computed_at is the query start, the same for
-- every row.
--
-- Outcomes: the latest per (model_id, request_id) by outcome event_time (a
-- tuple in argMax so that a NULL label of the latest outcome is kept), among
-- outcomes with event_time in [from - 1h, to + label horizon): labels after
-- the horizon do not count. The join matches cityHash64(model_id,
-- request_id) rather than the strings (3x cheaper); a 64-bit collision
-- between a prediction and another request's outcome is expected about
-- once in 10^5 hours at 10M predictions and outcomes an hour.
-- This variant (whole ranges: windows closing, backfill) reads the outcomes
-- of the time range without a request-id prefilter.
--
-- Problem type, threshold and positive class per version from models FINAL;
-- without a row: 0.5, '1', and regression when the prediction has a value
-- and no score, else binary. Error predictions count for volume and latency
-- only. Binary: predicted positive = score >= threshold, or predicted_label
-- = positive class when there is no score; actual positive = label =
-- positive class.
--
-- Slices: each prediction is counted once unsliced (slice_key '') and once
-- per key in {slice_keys} with its metadata value ('' when missing). Stage 1
-- aggregates per raw value (and true/predicted class for multiclass), stage
-- 2 keeps the {top_n} values with the most predictions per (model, version,
-- key, base window) and folds the rest into 'other' by merging their states.
-- The aggregator passes a top_n well above slices.top_n (10x, at least 100)
-- so that the rollup, which applies slices.top_n per output window, is
-- exact for keys with fewer values than that per base window; for keys
-- with more, values that are rare in every base window are counted in
-- 'other' even where they would make the top N of a coarser window.
--
-- ROC: per base window 1001 bins of the score rounded to 0.001 (scores are
-- clamped to [0, 1]), positives and negatives; AUC from these counts is
-- exact up to ties within a bin (counted one half).
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), windows
-- Array(DateTime), horizon_seconds UInt32, slice_keys Array(String), top_n
-- UInt32.
INSERT INTO predlog.performance_states
SELECT
    model_id, model_version, slice_key,
    if(slice_key = '' OR rk <= {top_n:UInt32}, raw_value, 'other') AS slice_value,
    window_start,
    {base_seconds:UInt32} AS base_seconds,
    any(pt) AS problem_type,
    any(thr) AS decision_threshold,
    sum(s_prediction_count) AS prediction_count,
    sum(s_error_count) AS error_count,
    sum(s_latency_sum) AS latency_sum,
    max(s_latency_max) AS latency_max,
    quantilesTDigestMergeState(0.5, 0.9, 0.95, 0.99)(s_latency_q) AS latency_q,
    sum(s_score_count) AS score_count,
    sum(s_score_sum) AS score_sum,
    sum(s_ok_count) AS ok_count,
    sum(s_labeled_count) AS labeled_count,
    sum(s_label_delay_sum) AS label_delay_sum,
    quantilesTDigestMergeState(0.5, 0.95)(s_label_delay_q) AS label_delay_q,
    sum(s_predicted_count) AS predicted_count,
    sum(s_predicted_positive) AS predicted_positive,
    sum(s_tp) AS tp,
    sum(s_fp) AS fp,
    sum(s_tn) AS tn,
    sum(s_fn) AS fn,
    sum(s_log_loss_sum) AS log_loss_sum,
    sum(s_log_loss_count) AS log_loss_count,
    sumForEach(s_roc_pos) AS roc_pos,
    sumForEach(s_roc_neg) AS roc_neg,
    sumMapIf(map(mc_true, s_mc_count), mc_true != '') AS class_support,
    sumMapIf(map(mc_pred, s_mc_count), mc_true != '') AS class_predicted,
    sumMapIf(map(mc_true, s_mc_count), mc_true != '' AND mc_true = mc_pred) AS class_tp,
    sum(s_reg_count) AS reg_count,
    sum(s_err_sum) AS err_sum,
    sum(s_abs_err_sum) AS abs_err_sum,
    sum(s_sq_err_sum) AS sq_err_sum,
    sum(s_ape_sum) AS ape_sum,
    sum(s_ape_count) AS ape_count,
    sum(s_y_sum) AS y_sum,
    sum(s_y_sq_sum) AS y_sq_sum,
    now64(3, 'UTC') AS computed_at
FROM
(
    SELECT
        *,
        dense_rank() OVER (PARTITION BY model_id, model_version, slice_key, window_start
                           ORDER BY value_count DESC, raw_value) AS rk
    FROM
    (
        SELECT
            *,
            sum(s_prediction_count) OVER (PARTITION BY model_id, model_version, slice_key, window_start, raw_value) AS value_count
        FROM
        (
            SELECT
                model_id, model_version, sl.1 AS slice_key, sl.2 AS raw_value, window_start,
                if(multiclass_labeled, true_label, '') AS mc_true,
                if(multiclass_labeled, predicted_label, '') AS mc_pred,
                any(problem_type) AS pt,
                any(threshold) AS thr,
                count() AS s_prediction_count,
                countIf(NOT ok) AS s_error_count,
                sum(latency_ms) AS s_latency_sum,
                max(latency_ms) AS s_latency_max,
                quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(latency_ms) AS s_latency_q,
                countIf(ok AND score IS NOT NULL) AS s_score_count,
                sumIf(score_v, ok) AS s_score_sum,
                countIf(ok) AS s_ok_count,
                countIf(labeled) AS s_labeled_count,
                sumIf(label_delay_s, labeled) AS s_label_delay_sum,
                quantilesTDigestStateIf(0.5, 0.95)(label_delay_s, labeled) AS s_label_delay_q,
                countIf(ok AND is_binary AND has_prediction) AS s_predicted_count,
                countIf(ok AND is_binary AND has_prediction AND predicted_positive) AS s_predicted_positive,
                countIf(binary_labeled AND predicted_positive AND actual_positive) AS s_tp,
                countIf(binary_labeled AND predicted_positive AND NOT actual_positive) AS s_fp,
                countIf(binary_labeled AND NOT predicted_positive AND NOT actual_positive) AS s_tn,
                countIf(binary_labeled AND NOT predicted_positive AND actual_positive) AS s_fn,
                sumIf(log_loss, log_loss_kind != 0) AS s_log_loss_sum,
                countIf(log_loss_kind != 0) AS s_log_loss_count,
                countIfResample(0, 1001, 1)(roc_row AND actual_positive, roc_bin) AS s_roc_pos,
                countIfResample(0, 1001, 1)(roc_row AND NOT actual_positive, roc_bin) AS s_roc_neg,
                count() AS s_mc_count,
                countIf(regression_labeled) AS s_reg_count,
                sumIf(err, regression_labeled) AS s_err_sum,
                sumIf(abs(err), regression_labeled) AS s_abs_err_sum,
                sumIf(err * err, regression_labeled) AS s_sq_err_sum,
                sumIf(abs(err) / abs(y), regression_labeled AND y != 0) AS s_ape_sum,
                countIf(regression_labeled AND y != 0) AS s_ape_count,
                sumIf(y, regression_labeled) AS s_y_sum,
                sumIf(y * y, regression_labeled) AS s_y_sq_sum
            FROM
            (
                SELECT
                    p.model_id AS model_id,
                    p.model_version AS model_version,
                    toStartOfInterval(p.event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
                    p.status = 'ok' AS ok,
                    p.latency_ms AS latency_ms,
                    p.score AS score,
                    ifNull(p.score, 0) AS score_v,
                    p.value AS value,
                    p.predicted_label AS predicted_label,
                    p.probabilities AS probabilities,
                    p.metadata AS metadata,
                    o.has_outcome = 1 AS has_outcome,
                    o.outcome.1 AS label,
                    ifNull(o.outcome.1, '') AS true_label,
                    ifNull(o.outcome.2, 0) AS y,
                    dateDiff('millisecond', p.event_time, o.outcome_time) / 1000 AS label_delay_s,
                    if(m.found = 1, toString(m.problem_type),
                       if(p.value IS NOT NULL AND p.score IS NULL, 'regression', 'binary')) AS problem_type,
                    if(m.found = 1, m.decision_threshold, 0.5) AS threshold,
                    if(m.found = 1, m.positive_class, '1') AS positive_class,
                    problem_type = 'binary' AS is_binary,
                    ok AND has_outcome AS labeled,
                    score IS NOT NULL OR predicted_label != '' AS has_prediction,
                    if(score IS NOT NULL, score_v >= threshold, predicted_label = positive_class) AS predicted_positive,
                    true_label = positive_class AS actual_positive,
                    labeled AND is_binary AND label IS NOT NULL AND has_prediction AS binary_labeled,
                    binary_labeled AND score IS NOT NULL AS roc_row,
                    toUInt16(round(least(greatest(score_v, 0), 1) * 1000)) AS roc_bin,
                    labeled AND problem_type = 'multiclass' AND label IS NOT NULL AND predicted_label != '' AS multiclass_labeled,
                    labeled AND problem_type = 'regression' AND o.outcome.2 IS NOT NULL AND value IS NOT NULL AS regression_labeled,
                    ifNull(value, 0) - y AS err,
                    -- Cross-entropy with p clipped to [1e-15, 1 - 1e-15]: binary from
                    -- the score, multiclass from probabilities[true label] (0 if absent).
                    multiIf(roc_row, 1, multiclass_labeled AND NOT empty(probabilities), 2, 0) AS log_loss_kind,
                    multiIf(log_loss_kind = 1,
                            -log(if(actual_positive, least(greatest(score_v, 1e-15), 1 - 1e-15),
                                                     1 - least(greatest(score_v, 1e-15), 1 - 1e-15))),
                            log_loss_kind = 2,
                            -log(least(greatest(probabilities[true_label], 1e-15), 1 - 1e-15)),
                            0) AS log_loss
                FROM predlog.prediction_logs AS p
                LEFT ANY JOIN
                (
                    SELECT
                        cityHash64(model_id, request_id) AS h,
                        1 AS has_outcome,
                        argMax((label, value), event_time) AS outcome,
                        max(event_time) AS outcome_time
                    FROM predlog.outcomes
                    WHERE event_time >= {from:DateTime64(3)} - INTERVAL 1 HOUR
                      AND event_time < {to:DateTime64(3)} + INTERVAL {horizon_seconds:UInt32} SECOND
                    GROUP BY h
                ) AS o ON o.h = cityHash64(p.model_id, p.request_id)
                LEFT ANY JOIN
                (
                    SELECT model_id, model_version, problem_type, decision_threshold, positive_class, 1 AS found
                    FROM predlog.models FINAL
                ) AS m ON m.model_id = p.model_id AND m.model_version = p.model_version
                WHERE p.event_time >= {from:DateTime64(3)} AND p.event_time < {to:DateTime64(3)}
                  AND (empty({windows:Array(DateTime)})
                       OR has({windows:Array(DateTime)}, toStartOfInterval(p.event_time, INTERVAL {base_seconds:UInt32} SECOND)))
            )
            ARRAY JOIN arrayConcat([('', '')], arrayMap(k -> (k, metadata[k]), {slice_keys:Array(String)})) AS sl
            GROUP BY model_id, model_version, slice_key, raw_value, window_start, mc_true, mc_pred
        )
    )
)
GROUP BY model_id, model_version, slice_key, slice_value, window_start
