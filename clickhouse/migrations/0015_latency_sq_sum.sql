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
