-- Placeholder: {db} = database name.
--
-- drift_window_states keeps a feature's numeric and categorical states of
-- one window apart. Its sorting key, by which ReplacingMergeTree collapses
-- rows, had no feature type: a feature sent as a number in some messages
-- and as a string in others (a serializer change in a producer) kept only
-- one of its two states per window, so the drift step saw part of its
-- values, or a type other than its reference's, and wrote no row.
-- feature_type cannot join the key (only a column added by the same ALTER,
-- without a default, can), so the aggregator writes it again as a number
-- into feature_type_key. Rows written before hold 0, as do those of an
-- older aggregator, which collapse as before.
ALTER TABLE {db}.drift_window_states
    ADD COLUMN IF NOT EXISTS feature_type_key UInt8 COMMENT 'feature_type as a number (1 numeric, 2 categorical) in the sorting key, so that one window''s numeric and categorical states of a feature are kept apart; 0 in rows from before migration 0032',
    MODIFY ORDER BY (base_seconds, window_start, model_id, model_version, feature, feature_type_key);
