-- Placeholder: {db} = database name.
--
-- The ingester reads the tables' TTL again every few minutes and rejects
-- events past it (to the DLQ). A batch replayed after a TTL change would
-- otherwise be checked against the new TTL: other rows than the first
-- attempt's under the same deduplication token, which ClickHouse drops as
-- a duplicate (rows neither inserted nor in the DLQ). The ingester now
-- records the TTL each batch was checked against and replays it with the
-- same one. Batches recorded before this migration (-1) are checked
-- against the current TTL, as before.
ALTER TABLE {db}.ingest_batches
    ADD COLUMN IF NOT EXISTS ttl_days Int32 DEFAULT -1 COMMENT 'TTL in days of the batch''s table its events were checked against (0: none); -1 for batches recorded before migration 0025';
