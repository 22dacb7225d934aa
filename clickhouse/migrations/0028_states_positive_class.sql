-- Placeholder: {db} = database name.
--
-- The positive class a base window's performance states were computed
-- with, next to its problem type and decision threshold: when a models
-- record arrives that changes any of the three (a version registered after
-- it started serving, a threshold tuned), the aggregator recomputes that
-- version's windows inside the label horizon (dirty_models.sql). States
-- written before this migration have '' and count as computed with other
-- metadata: the first models record of their version recomputes them.
ALTER TABLE {db}.performance_window_states
    ADD COLUMN IF NOT EXISTS positive_class LowCardinality(String) DEFAULT ''
    COMMENT 'Positive class the states were computed with (binary models; '''' in states from before migration 0028)';
