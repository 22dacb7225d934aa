-- ab_cumulative_stale: how many cumulative rows of the given experiments
-- hold a window start other than the one just written and are older than
-- it. The cumulative window starts at the experiment's first base window
-- with states, which moves when earlier predictions arrive late or the
-- states' TTL drops the first ones; window_start is in ab_results' key, so
-- FINAL keeps the superseded rows beside the new ones and a dashboard
-- summing them counted the experiment twice.
--
-- Parameters: experiments Array(String), starts Array(DateTime) (the new
-- window start of each experiment, in the same order); written
-- DateTime64(3) (their computed_at).
SELECT count() FROM predlog.ab_results
WHERE granularity = 'cumulative'
  AND has({experiments:Array(String)}, experiment_id)
  AND window_start != {starts:Array(DateTime)}[indexOf({experiments:Array(String)}, experiment_id)]
  AND computed_at < {written:DateTime64(3)}
