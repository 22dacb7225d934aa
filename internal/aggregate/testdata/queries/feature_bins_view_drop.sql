-- view_drop: drop one of the views drift.insert_time_bins creates, to
-- create it again with the current definition (predictions inserted
-- between the two are not counted by it: drift_coverage then finds their
-- windows incomplete and counts them raw).
DROP VIEW IF EXISTS predlog.feature_bins_1m_mv
