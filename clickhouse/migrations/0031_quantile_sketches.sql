-- Placeholder: {db} = database name.
--
-- Latency and label-delay quantiles of the performance states as DDSketch
-- (quantilesDD, 1 % relative accuracy) beside the t-digests:
-- - a guarantee: each quantile is within 1 % of the true one, where a
--   t-digest's error depends on the data, and merging the states of many
--   windows (the 1-hour and 1-day rollups) keeps that bound;
-- - the same result on every recomputation: the sketch counts values in
--   fixed bins, so the order in which threads merge them does not matter
--   (a t-digest's digits varied from run to run).
-- perf_states writes both, with quantile_sketch 'ddsketch'. States written
-- before hold t-digests alone ('tdigest'). perf_rollup reads the sketches
-- of an output window whose states all have them, the t-digests of any
-- other (the windows before the upgrade, and those around it until all
-- their minutes are recomputed), so no window loses its quantiles and an
-- older release, which reads the t-digests, still works.
-- Latency is counted in microseconds and label delay in milliseconds, so
-- that every value but 0 is at least 1: ClickHouse's sketch keeps its 1 %
-- only from 1 up (below 1 its bins err by up to about 3 %). quantilesDD
-- needs ClickHouse 24.1 or later.
ALTER TABLE {db}.performance_window_states
    ADD COLUMN IF NOT EXISTS quantile_sketch Enum8('tdigest' = 0, 'ddsketch' = 1) DEFAULT 'tdigest'
    COMMENT 'tdigest: quantiles in latency_q and label_delay_q alone (states from before migration 0031); ddsketch: also in latency_dd and label_delay_dd';
ALTER TABLE {db}.performance_window_states
    ADD COLUMN IF NOT EXISTS latency_dd AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64)
    COMMENT 'DDSketch of latency in microseconds (latency_ms x 1000, 0 below 1 us), 1 % relative accuracy';
ALTER TABLE {db}.performance_window_states
    ADD COLUMN IF NOT EXISTS label_delay_dd AggregateFunction(quantilesDD(0.01, 0.5, 0.95), Float64)
    COMMENT 'DDSketch of label delay in milliseconds, 1 % relative accuracy';
