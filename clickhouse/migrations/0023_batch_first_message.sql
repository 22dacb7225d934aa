-- Placeholder: {db} = database name.
--
-- A batch's recorded offsets alone cannot tell a replay from a partition
-- that starts again at offset 0 (a topic deleted and created again, a
-- broker that lost its log, the devstack's in-memory Kafka restarted):
-- the ingester re-cut new messages on the old boundaries, under the old
-- batches' deduplication tokens, and ClickHouse dropped them as
-- duplicates, silently. The ingester now also records a fingerprint of
-- each batch's first message, puts it in the batch's token, and replays a
-- recorded batch only if the message at its first offset has the same
-- fingerprint; otherwise it drops that partition's recorded boundaries and
-- cuts new batches. Batches recorded before this migration (0) replay as
-- before.
ALTER TABLE {db}.ingest_batches
    ADD COLUMN IF NOT EXISTS first_message UInt64 DEFAULT 0 COMMENT 'Fingerprint (FNV-1a of timestamp, key and value) of the batch''s first message; 0 for batches recorded before migration 0023';
