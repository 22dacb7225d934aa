-- Placeholder: {db} = database name.
--
-- After 0018 copied the state tables: copy the rows an aggregator still
-- running wrote to the old tables after the copy (rows copied before
-- collapse with their copies: same key and computed_at). A file of its own
-- so that a rerun after a failure repeats only this, while the old tables
-- still exist; 0020 drops them.

INSERT INTO {db}.performance_window_states SELECT * FROM {db}.performance_states
WHERE computed_at >= (SELECT max(computed_at) FROM {db}.performance_window_states) - INTERVAL 1 HOUR;

INSERT INTO {db}.drift_window_states SELECT * FROM {db}.drift_states
WHERE computed_at >= (SELECT max(computed_at) FROM {db}.drift_window_states) - INTERVAL 1 HOUR;
