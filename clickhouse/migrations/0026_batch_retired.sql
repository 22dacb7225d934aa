-- Placeholder: {db} = database name.
--
-- A recorded batch whose first offset holds another message (0023) was
-- passed over but stayed in the ledger: every later assignment of its
-- partition loaded it again, read that message again and warned again, at
-- each restart, until the committed offset passed the batch or its row
-- expired. The ingester now appends a copy of such a batch's row with
-- retired = 1 once it has seen the other message, and no longer loads a
-- batch (offsets and fingerprint) that has a retired copy. Appended
-- rather than updated: no mutation of a table written with every batch. A
-- retired copy expires after its batch (it is recorded later), which is
-- harmless: alone, it is not loaded either. Retired copies have
-- messages = 0; older releases read them as the batch they copy.
ALTER TABLE {db}.ingest_batches
    ADD COLUMN IF NOT EXISTS retired UInt8 DEFAULT 0 COMMENT '1: a copy of a batch''s row (messages 0) recording that the message at first_offset is not first_message, so the batch is never replayed; 0: a batch as recorded';
