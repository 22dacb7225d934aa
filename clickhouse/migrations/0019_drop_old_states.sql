-- Placeholder: {db} = database name.
--
-- After 0018 exchanged performance_states and drift_states with their
-- copies sorted by window: copy what was written to the old tables after
-- the copy (an aggregator still running; rows already copied collapse with
-- their copies, same key and computed_at), then drop the old tables. A
-- file of its own so that a rerun after a failure repeats only these.

INSERT INTO {db}.performance_states SELECT * FROM {db}.performance_states_0018
WHERE computed_at >= (SELECT max(computed_at) FROM {db}.performance_states) - INTERVAL 1 HOUR;

INSERT INTO {db}.drift_states SELECT * FROM {db}.drift_states_0018
WHERE computed_at >= (SELECT max(computed_at) FROM {db}.drift_states) - INTERVAL 1 HOUR;

DROP TABLE IF EXISTS {db}.performance_states_0018;

DROP TABLE IF EXISTS {db}.drift_states_0018;
