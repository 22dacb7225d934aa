-- Placeholder: {db} = database name.
--
-- Latency and label-delay quantiles of the performance states as DDSketch
-- (quantilesDD, 1 % relative accuracy) instead of t-digests:
-- - a guarantee: each quantile is within 1 % of the true one, where a
--   t-digest's error depends on the data, and merging the states of many
--   windows (the 1-hour and 1-day rollups) keeps that bound;
-- - the same result on every recomputation: the sketch counts values in
--   fixed bins, so the order in which threads merge them does not matter
--   (a t-digest's digits varied from run to run);
-- - cheaper: about half the engine CPU of the t-digests on the benchmark
--   hour (benchmarks/README.md).
-- perf_states writes the new columns with quantile_sketch 'ddsketch' and
-- leaves latency_q and label_delay_q empty. States written before keep
-- their t-digests ('tdigest'); perf_rollup reads whichever sketch a
-- window's states have, and leaves the quantiles NULL for an output window
-- whose base windows mix both: docs/upgrading.md says which backfill
-- prevents that.
-- Latency is counted in microseconds and label delay in milliseconds, so
-- that every value but 0 is at least 1: ClickHouse's sketch keeps its 1 %
-- only from 1 up (below 1 its bins err up to 3 %). quantilesDD needs
-- ClickHouse 24.1 or later.
ALTER TABLE {db}.performance_window_states
    ADD COLUMN IF NOT EXISTS quantile_sketch Enum8('tdigest' = 0, 'ddsketch' = 1) DEFAULT 'tdigest'
    COMMENT 'Which sketch holds the quantiles: tdigest (latency_q, label_delay_q; states from before migration 0031) or ddsketch (latency_dd, label_delay_dd)';
ALTER TABLE {db}.performance_window_states
    ADD COLUMN IF NOT EXISTS latency_dd AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64)
    COMMENT 'DDSketch of latency in microseconds (latency_ms x 1000, 0 below 1 us), 1 % relative accuracy';
ALTER TABLE {db}.performance_window_states
    ADD COLUMN IF NOT EXISTS label_delay_dd AggregateFunction(quantilesDD(0.01, 0.5, 0.95), Float64)
    COMMENT 'DDSketch of label delay in milliseconds, 1 % relative accuracy';
ALTER TABLE {db}.performance_window_states
    COMMENT COLUMN latency_q 'T-digest of latency_ms (states from before migration 0031; empty in later ones, see quantile_sketch)';
ALTER TABLE {db}.performance_window_states
    COMMENT COLUMN label_delay_q 'T-digest of label delay seconds (states from before migration 0031; empty in later ones, see quantile_sketch)';
