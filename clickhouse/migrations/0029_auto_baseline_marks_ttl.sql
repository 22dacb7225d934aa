-- Placeholder: {db} = database name.
--
-- drift.auto_baseline keeps, per version without a baseline, the next
-- window to try as a watermark (auto_baseline.next<NUL>model<NUL>version).
-- Once the version has a baseline, or has left the label horizon, the mark
-- is never written again, but every cycle read it with the others: one row
-- per version that ever had too few predictions, for ever. A mark whose
-- window lies more than 90 days back is of no use (a candidate's windows
-- start inside the label horizon; with a longer horizon a dropped mark
-- only means trying its first windows again), so merges drop it. The other
-- watermarks are kept.
ALTER TABLE {db}.aggregator_watermarks
    MODIFY TTL toDateTime(value) + INTERVAL 90 DAY DELETE WHERE startsWith(name, 'auto_baseline.next');
