-- Placeholder: {db} = database name.
--
-- performance_states also holds the A/B rows (slice key
-- '__ab__/<experiment_id>', the variant as value; see
-- clickhouse/queries/perf_states.sql): the column comments say so.
ALTER TABLE {db}.performance_states
    COMMENT COLUMN slice_key 'Metadata key, empty for the unsliced row, __ab__/<experiment_id> for an experiment''s rows',
    COMMENT COLUMN slice_value 'Metadata value (top-N of the base window, the rest other) or A/B variant, empty for the unsliced row';
