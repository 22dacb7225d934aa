-- perf_states: compute the partial aggregates of the base windows listed in
-- {windows} (every base window in [from, to) when it is empty) and insert
-- them as one new generation: computed_at is the query start, the same for
-- every row.
--
-- Outcomes: the latest per (model_id, request_id) by outcome event_time
-- among outcomes with event_time in [from - 1h, to + label horizon); it
-- labels its prediction only if it came within the label horizon of that
-- prediction (the span's bound alone would count later labels when many
-- windows are computed at once, a backfill, and not when one is). A
-- correction sent after the horizon: window_outcomes never holds it
-- (outcomes_route leaves it out), so the earlier outcome still labels the
-- prediction; outcomes keeps only the latest outcome of a request once its
-- parts merge, so windows computed from it (backfill, a cluster, windows
-- from before the index) leave the prediction unlabelled then. outcomes
-- FINAL with the time range in PREWHERE (applied before FINAL picks the
-- latest row, several times cheaper than argMax per request). The
-- join matches cityHash64(model_id, request_id) rather than the strings (3x
-- cheaper); a 64-bit collision between a prediction and another request's
-- outcome is expected about once in 10^5 hours at 10M predictions and
-- outcomes an hour.
-- This variant (few windows, e.g. recomputing windows touched by late
-- outcomes) first selects the request ids of those windows, so that the
-- outcomes' primary key (model_id, request_id) prunes the scan; it still
-- reads every outcome between the windows and now.
--
-- Multiclass log loss counts a row only when its probabilities add up to 1
-- (±0.01): with the top few classes only, a true class left out would
-- count as probability 0 (clipped to 1e-15: 34.5 a row).
--
-- Problem type, threshold and positive class per version from models FINAL
-- (written with the states, so that dirty_models can tell which windows a
-- later models record changes), read once into arrays and looked up per
-- row with transform: on model_id and model_version it runs over their
-- LowCardinality dictionaries, then once on a number per row (with the
-- raw A/B keys of stage 1 below, 0.6 engine CPU-s, ~10 %, less than a
-- join on the two strings on the bench hour of 10M rows: medians of 7);
-- without a row: 0.5, '1', and regression when the prediction has a value
-- and no score, else binary (as Enum8 codes 1, 2, 3 per row: no string
-- work). Error predictions count for volume and latency only. Binary:
-- predicted positive = score >= threshold, or predicted_label = positive
-- class when there is no score; actual positive = label = positive class.
--
-- A/B: predictions of an experiment (experiment_id and variant set) are
-- also counted under slice_key '__ab__/<experiment_id>' with the variant as
-- slice_value (beyond {top_n} variants in a base window the rarest fold
-- into 'other', like slice values; their ROC histograms are left empty:
-- ab_read needs only counts); ab_read rolls these rows up per experiment
-- and variant for every granularity, so the outcome join runs once per base
-- window, not once per granularity. perf_rollup writes them to
-- performance_metrics like slices: every metric per variant and window
-- (roc_auc null).
--
-- Stages: (1) one row per base window, model version, experiment_id,
-- variant (as stored: LowCardinality keys hash cheaper than the derived
-- A/B keys, which stage 2 names) and combination of the prediction's
-- {slice_keys} metadata values (mapFilter: a lambda that looks keys up in
-- the captured map would copy the map per key, 10x slower), with every
-- aggregate as a mergeable state; (2) each of those rows counted once
-- unsliced (slice_key '') and once per key in
-- {slice_keys} with its value ('' when missing), states merged per (model,
-- version, key, value, window); (3) per (model, version, key, window) the
-- {top_n} values with the most predictions are kept and the rest folded
-- into 'other' by merging their states.
-- Without slice keys (the default) the Sliced = false variant neither
-- reads the metadata column (1.4 of 7.2 CPU-s without the outcome join on
-- the bench hour) nor groups by an empty map (~0.4 CPU-s more: a constant
-- key is still hashed per row).
-- The aggregator passes a top_n well above slices.top_n (10x, at least 100)
-- so that the rollup, which applies slices.top_n per output window, is
-- exact for keys with fewer values than that per base window; for keys
-- with more, values that are rare in every base window are counted in
-- 'other' even where they would make the top N of a coarser window.
--
-- Quantiles: DDSketch states (migration 0031) of latency in microseconds
-- (0 below 1 us) and label delay in milliseconds, so that every value but
-- 0 is at least 1 (ClickHouse's sketch holds its 1 % relative accuracy
-- from 1 up). States from before 0031 hold t-digests alone: perf_rollup
-- reads the sketches of a window whose states all have them
-- (quantile_sketch 'ddsketch'), the t-digests of any other. So the
-- t-digests are filled ({tdigest}) only while a state without sketches is
-- in reach of a rollup of these windows (tdigest_needed); otherwise they
-- are left empty, which saved ~0.3 engine CPU-s of this statement and
-- ~0.9 of the bench hour's cycle (benchmarks/README.md).
--
-- ROC: per base window 1001 bins of the score rounded to 0.001 (scores are
-- clamped to [0, 1]), positives and negatives; AUC from these counts is
-- exact up to ties within a bin (counted one half). Multiclass class
-- counts are sumMap states of the labelled multiclass rows.
--
-- Parameters: base_seconds UInt32, from/to DateTime64(3), windows
-- Array(DateTime), horizon_seconds UInt32, slice_keys Array(String), top_n
-- UInt32, tdigest Bool.
INSERT INTO predlog.performance_window_states
    (model_id, model_version, slice_key, slice_value, window_start, base_seconds, problem_type,
     decision_threshold, prediction_count, error_count, latency_sum, latency_max, latency_q, latency_dd,
     score_count, score_sum, ok_count, labeled_count, label_delay_sum, label_delay_q, label_delay_dd,
     predicted_count, predicted_positive, tp, fp, tn, fn, log_loss_sum, log_loss_count, roc_pos,
     roc_neg, class_support, class_predicted, class_tp, reg_count, err_sum, abs_err_sum, sq_err_sum,
     ape_sum, ape_count, y_sum, y_sq_sum, computed_at, latency_sq_sum, positive_class, quantile_sketch)
SELECT
    model_id, model_version, slice_key,
    if(slice_key = '' OR rk <= {top_n:UInt32}, raw_value, 'other') AS slice_value,
    window_start,
    {base_seconds:UInt32} AS base_seconds,
    CAST(any(pt), 'Enum8(\'binary\' = 1, \'multiclass\' = 2, \'regression\' = 3)') AS problem_type,
    any(thr) AS decision_threshold,
    sum(n) AS prediction_count,
    sum(errors) AS error_count,
    sum(lat_sum) AS latency_sum,
    max(lat_max) AS latency_max,
    quantilesTDigestMergeState(0.5, 0.9, 0.95, 0.99)(lat_t) AS latency_q,
    quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(lat_q) AS latency_dd,
    sum(score_n) AS score_count,
    sum(score_s) AS score_sum,
    sum(ok_n) AS ok_count,
    sum(labeled_n) AS labeled_count,
    sum(delay_s) AS label_delay_sum,
    quantilesTDigestMergeState(0.5, 0.95)(delay_t) AS label_delay_q,
    quantilesDDMergeState(0.01, 0.5, 0.95)(delay_q) AS label_delay_dd,
    sum(pred_n) AS predicted_count,
    sum(pred_pos) AS predicted_positive,
    sum(tp_) AS tp,
    sum(fp_) AS fp,
    sum(tn_) AS tn,
    sum(fn_) AS fn,
    sum(ll_sum) AS log_loss_sum,
    sum(ll_n) AS log_loss_count,
    -- roc holds the two histograms interleaved: [neg 0, pos 0, neg 1, pos 1, ...].
    if(startsWith(slice_key, '__ab__/'), [], arrayFilter((c, i) -> i % 2 = 0, sumForEach(roc) AS roc_all, arrayEnumerate(roc_all))) AS roc_pos,
    if(startsWith(slice_key, '__ab__/'), [], arrayFilter((c, i) -> i % 2 = 1, roc_all, arrayEnumerate(roc_all))) AS roc_neg,
    sumMap(cs) AS class_support,
    sumMap(cp) AS class_predicted,
    sumMap(ctp) AS class_tp,
    sum(reg_n) AS reg_count,
    sum(e_sum) AS err_sum,
    sum(ae_sum) AS abs_err_sum,
    sum(se_sum) AS sq_err_sum,
    sum(ape_s) AS ape_sum,
    sum(ape_n) AS ape_count,
    sum(ys) AS y_sum,
    sum(yss) AS y_sq_sum,
    now64(3, 'UTC') AS computed_at,
    sum(lat_sq) AS latency_sq_sum,
    any(pc) AS positive_class,
    'ddsketch' AS quantile_sketch
FROM
(
    SELECT
        *,
        dense_rank() OVER (PARTITION BY model_id, model_version, slice_key, window_start ORDER BY n DESC, raw_value) AS rk
    FROM
    (
        SELECT
            model_id, model_version, sl.1 AS slice_key, sl.2 AS raw_value, window_start,
            any(s_pt) AS pt, any(s_thr) AS thr, any(s_pc) AS pc,
            sum(s_n) AS n, sum(s_errors) AS errors, sum(s_lat_sum) AS lat_sum, sum(s_lat_sq) AS lat_sq, max(s_lat_max) AS lat_max,
            quantilesTDigestMergeState(0.5, 0.9, 0.95, 0.99)(s_lat_t) AS lat_t,
            quantilesDDMergeState(0.01, 0.5, 0.9, 0.95, 0.99)(s_lat_q) AS lat_q,
            sum(s_score_n) AS score_n, sum(s_score_s) AS score_s, sum(s_ok_n) AS ok_n, sum(s_labeled_n) AS labeled_n,
            sum(s_delay_s) AS delay_s, quantilesTDigestMergeState(0.5, 0.95)(s_delay_t) AS delay_t,
            quantilesDDMergeState(0.01, 0.5, 0.95)(s_delay_q) AS delay_q,
            sum(s_pred_n) AS pred_n, sum(s_pred_pos) AS pred_pos,
            sum(s_tp) AS tp_, sum(s_fp) AS fp_, sum(s_tn) AS tn_, sum(s_fn) AS fn_,
            sum(s_ll_sum) AS ll_sum, sum(s_ll_n) AS ll_n,
            sumForEach(s_roc) AS roc,
            sumMap(s_cs) AS cs, sumMap(s_cp) AS cp, sumMap(s_ctp) AS ctp,
            sum(s_reg_n) AS reg_n, sum(s_e_sum) AS e_sum, sum(s_ae_sum) AS ae_sum, sum(s_se_sum) AS se_sum,
            sum(s_ape_s) AS ape_s, sum(s_ape_n) AS ape_n, sum(s_ys) AS ys, sum(s_yss) AS yss
        FROM
        (
            SELECT
                model_id, model_version, window_start, slices, experiment_id, variant,
                any(problem_type) AS s_pt,
                any(threshold) AS s_thr,
                any(positive_class) AS s_pc,
                count() AS s_n,
                countIf(NOT ok) AS s_errors,
                sum(latency_ms) AS s_lat_sum,
                sum(latency_ms * latency_ms) AS s_lat_sq,
                max(latency_ms) AS s_lat_max,
                quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(latency_ms, {tdigest:Bool}) AS s_lat_t,
                quantilesDDState(0.01, 0.5, 0.9, 0.95, 0.99)(latency_us) AS s_lat_q,
                countIf(ok AND score IS NOT NULL) AS s_score_n,
                sumIf(score_v, ok) AS s_score_s,
                countIf(ok) AS s_ok_n,
                countIf(labeled) AS s_labeled_n,
                sumIf(label_delay_s, labeled) AS s_delay_s,
                quantilesTDigestStateIf(0.5, 0.95)(label_delay_s, labeled AND {tdigest:Bool}) AS s_delay_t,
                quantilesDDStateIf(0.01, 0.5, 0.95)(label_delay_ms, labeled) AS s_delay_q,
                countIf(ok AND is_binary AND has_prediction) AS s_pred_n,
                countIf(ok AND is_binary AND has_prediction AND predicted_positive) AS s_pred_pos,
                countIf(binary_labeled AND predicted_positive AND actual_positive) AS s_tp,
                countIf(binary_labeled AND predicted_positive AND NOT actual_positive) AS s_fp,
                countIf(binary_labeled AND NOT predicted_positive AND NOT actual_positive) AS s_tn,
                countIf(binary_labeled AND NOT predicted_positive AND actual_positive) AS s_fn,
                sumIf(log_loss, log_loss_kind != 0) AS s_ll_sum,
                countIf(log_loss_kind != 0) AS s_ll_n,
                -- One histogram of 2 x 1001 bins (score bin, label) rather
                -- than one per label: ~1 engine CPU-s less an hour of 10M rows.
                countIfResample(0, 2002, 1)(roc_row, roc_bin * 2 + actual_positive) AS s_roc,
                sumMapIf(map(true_label, toUInt64(1)), mc_row) AS s_cs,
                sumMapIf(map(predicted_label, toUInt64(1)), mc_row) AS s_cp,
                sumMapIf(map(true_label, toUInt64(1)), mc_row AND true_label = predicted_label) AS s_ctp,
                countIf(regression_labeled) AS s_reg_n,
                sumIf(err, regression_labeled) AS s_e_sum,
                sumIf(abs(err), regression_labeled) AS s_ae_sum,
                sumIf(err * err, regression_labeled) AS s_se_sum,
                sumIf(abs(err) / abs(y), regression_labeled AND y != 0) AS s_ape_s,
                countIf(regression_labeled AND y != 0) AS s_ape_n,
                sumIf(y, regression_labeled) AS s_ys,
                sumIf(y * y, regression_labeled) AS s_yss
            FROM
            (
                WITH
                    (
                        SELECT (groupArray(toString(model_id)), groupArray(toString(model_version)), groupArray(toUInt8(problem_type)),
                                groupArray(decision_threshold), groupArray(toString(positive_class)))
                        FROM predlog.models FINAL
                    ) AS m_rows,
                    arrayDistinct(m_rows.1) AS m_ids,
                    arrayDistinct(m_rows.2) AS m_versions,
                    range(1, length(m_ids) + 1) AS m_id_nums,
                    range(1, length(m_versions) + 1) AS m_version_nums,
                    -- transform, not indexOf: a linear search per row is
                    -- quadratic in the rows of models (many versions).
                    arrayMap((i, v) -> toUInt64(transform(i, m_ids, m_id_nums, 0)) * 4294967296 + transform(v, m_versions, m_version_nums, 0),
                             m_rows.1, m_rows.2) AS m_keys
                SELECT
                    p.model_id AS model_id,
                    p.model_version AS model_version,
                    toStartOfInterval(p.event_time, INTERVAL {base_seconds:UInt32} SECOND) AS window_start,
                    mapFilter((k, v) -> has({slice_keys:Array(String)}, k), p.metadata) AS slices,
                    p.experiment_id AS experiment_id,
                    p.variant AS variant,
                    p.status = 'ok' AS ok,
                    p.latency_ms AS latency_ms,
                    if(latency_ms < 0.001, 0, latency_ms * 1000) AS latency_us,
                    p.score AS score,
                    ifNull(p.score, 0) AS score_v,
                    p.value AS value,
                    p.predicted_label AS predicted_label,
                    p.probabilities AS probabilities,
                    o.has_outcome = 1 AND o.outcome_time < p.event_time + INTERVAL {horizon_seconds:UInt32} SECOND AS has_outcome,
                    o.label AS label,
                    ifNull(o.label, '') AS true_label,
                    ifNull(o.value, 0) AS y,
                    toFloat64(dateDiff('millisecond', p.event_time, o.outcome_time)) AS label_delay_ms,
                    label_delay_ms / 1000 AS label_delay_s,
                    toUInt64(transform(p.model_id, m_ids, m_id_nums, 0)) * 4294967296
                        + transform(p.model_version, m_versions, m_version_nums, 0) AS m_key,
                    transform(m_key, m_keys, m_rows.3, if(p.value IS NOT NULL AND p.score IS NULL, 3, 1)) AS problem_type,
                    transform(m_key, m_keys, m_rows.4, 0.5) AS threshold,
                    transform(m_key, m_keys, m_rows.5, '1') AS positive_class,
                    problem_type = 1 AS is_binary,
                    ok AND has_outcome AS labeled,
                    score IS NOT NULL OR predicted_label != '' AS has_prediction,
                    if(score IS NOT NULL, score_v >= threshold, predicted_label = positive_class) AS predicted_positive,
                    true_label = positive_class AS actual_positive,
                    labeled AND is_binary AND label IS NOT NULL AND has_prediction AS binary_labeled,
                    binary_labeled AND score IS NOT NULL AS roc_row,
                    toUInt16(round(least(greatest(score_v, 0), 1) * 1000)) AS roc_bin,
                    labeled AND problem_type = 2 AND label IS NOT NULL AND predicted_label != '' AS multiclass_labeled,
                    multiclass_labeled AND true_label != '' AS mc_row,
                    labeled AND problem_type = 3 AND o.value IS NOT NULL AND value IS NOT NULL AS regression_labeled,
                    ifNull(value, 0) - y AS err,
                    multiIf(roc_row, 1,
                            multiclass_labeled AND abs(arraySum(mapValues(probabilities)) - 1) <= 0.01, 2,
                            0) AS log_loss_kind,
                    multiIf(log_loss_kind = 1,
                            -log(if(actual_positive, least(greatest(score_v, 1e-15), 1 - 1e-15),
                                                     1 - least(greatest(score_v, 1e-15), 1 - 1e-15))),
                            log_loss_kind = 2,
                            -log(least(greatest(probabilities[true_label], 1e-15), 1 - 1e-15)),
                            0) AS log_loss
                FROM predlog.prediction_logs AS p
                LEFT ANY JOIN
                (
                    SELECT cityHash64(model_id, request_id) AS h, 1 AS has_outcome, label, value, event_time AS outcome_time
                    FROM predlog.outcomes FINAL
                    PREWHERE event_time >= {from:DateTime64(3)} - INTERVAL 1 HOUR
                      AND event_time < {to:DateTime64(3)} + INTERVAL {horizon_seconds:UInt32} SECOND
                      AND (model_id, request_id) GLOBAL IN
                      (
                          SELECT model_id, request_id
                          FROM predlog.prediction_logs
                          WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
                            AND (empty({windows:Array(DateTime)})
                                 OR has({windows:Array(DateTime)}, toStartOfInterval(event_time, INTERVAL {base_seconds:UInt32} SECOND)))
                      )
                ) AS o ON o.h = cityHash64(p.model_id, p.request_id)
                WHERE p.event_time >= {from:DateTime64(3)} AND p.event_time < {to:DateTime64(3)}
                  AND (empty({windows:Array(DateTime)})
                       OR has({windows:Array(DateTime)}, toStartOfInterval(p.event_time, INTERVAL {base_seconds:UInt32} SECOND)))
            )
            GROUP BY model_id, model_version, window_start, slices, experiment_id, variant
        )
        ARRAY JOIN arrayConcat([('', '')], arrayMap(k -> (k, slices[k]), {slice_keys:Array(String)}),
                               if(experiment_id = '' OR variant = '', [], [(concat('__ab__/', experiment_id), variant)])) AS sl
        GROUP BY model_id, model_version, slice_key, raw_value, window_start
    )
)
GROUP BY model_id, model_version, slice_key, slice_value, window_start
