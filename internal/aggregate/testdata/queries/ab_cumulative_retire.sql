-- ab_cumulative_retire: delete those rows (a lightweight DELETE, run only
-- when ab_cumulative_stale found some, since each one is a mutation).
-- Rows computed later than the ones just written (another aggregator's)
-- are kept: newest computed_at wins, as the API reads it.
--
-- Parameters: experiments Array(String), starts Array(DateTime) (the new
-- window start of each experiment, in the same order); written
-- DateTime64(3) (their computed_at).
DELETE FROM predlog.ab_results
WHERE granularity = 'cumulative'
  AND has({experiments:Array(String)}, experiment_id)
  AND window_start != {starts:Array(DateTime)}[indexOf({experiments:Array(String)}, experiment_id)]
  AND computed_at < {written:DateTime64(3)}
