-- Placeholder: {db} = database name.
--
-- The sum of squared latencies of each performance state, so that Welch's
-- t-test on latency can run on rolled-up states (the cumulative A/B
-- verdicts, which cover an experiment's whole history) instead of its raw
-- rows. NULL in states computed before this migration: a rollup that
-- includes one has no latency test until `aggregator backfill` over the
-- experiment's range recomputes them.
ALTER TABLE {db}.performance_states
    ADD COLUMN IF NOT EXISTS latency_sq_sum Nullable(Float64) COMMENT 'Sum of latency_ms squared; NULL in states computed before migration 0015';

-- The metrics ab_results compares (see internal/aggregate/ab.go); the
-- variants' other metrics are in performance_metrics (slice_key
-- '__ab__/<experiment_id>').
ALTER TABLE {db}.ab_results
    COMMENT COLUMN metric 'Compared metric: error_rate, accuracy, precision, recall (two-proportion z-test), latency_avg_ms (Welch t-test)';
