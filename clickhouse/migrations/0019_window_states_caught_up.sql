-- Placeholder: {db} = database name.
--
-- After 0018 copied the state tables: copy again the rows of the last hour
-- of generations before the newest copied one and everything newer, in
-- case an aggregator of the previous release ran on while 0018 copied
-- (rows copied before collapse with their copies: same key and
-- computed_at). Whatever one writes after this file is lost with 0020:
-- stop every aggregator before migrating. A file of its own so that a rerun
-- after a failure repeats only this, while the old tables still exist.

INSERT INTO {db}.performance_window_states SELECT * FROM {db}.performance_states
WHERE computed_at >= (SELECT max(computed_at) FROM {db}.performance_window_states) - INTERVAL 1 HOUR;

INSERT INTO {db}.drift_window_states SELECT * FROM {db}.drift_states
WHERE computed_at >= (SELECT max(computed_at) FROM {db}.drift_window_states) - INTERVAL 1 HOUR;
