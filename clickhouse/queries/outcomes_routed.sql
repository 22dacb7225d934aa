-- outcomes_routed: how many outcomes this cycle copied to window_outcomes
-- (matched: their prediction was indexed, whether they arrived now or had
-- waited in pending_outcomes), how many it left pending (no prediction
-- indexed yet: it may come later, or never), and how many it left out
-- because they came after their prediction's label horizon (past_horizon,
-- kept in late_outcomes, whether they arrived now or had waited in
-- pending_outcomes), so that late labels are not
-- dropped unseen. All three reads go through the rows' routed_at:
-- pending_outcomes' and late_outcomes' primary key, window_outcomes'
-- idx_routed_at within the windows that are not final.
--
-- Parameters: routed_at, not_before DateTime64(3).
SELECT
    (SELECT count() FROM {db}.window_outcomes
     WHERE routed_at = {routed_at:DateTime64(3)} AND pred_time >= {not_before:DateTime64(3)}) AS matched,
    (SELECT count() FROM {db}.pending_outcomes WHERE routed_at = {routed_at:DateTime64(3)}) AS pending,
    (SELECT count() FROM {db}.late_outcomes WHERE routed_at = {routed_at:DateTime64(3)}) AS past_horizon
