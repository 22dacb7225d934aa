{{- if not .Delete -}}
-- ab_cumulative_stale: how many cumulative rows of the given experiments
-- hold a window start other than the one just written and are older than
-- it. The cumulative window starts at the experiment's first base window
-- with states, which moves when earlier predictions arrive late or the
-- states' TTL drops the first ones; window_start is in ab_results' key, so
-- FINAL keeps the superseded rows beside the new ones and a dashboard
-- summing them counted the experiment twice.
{{- else -}}
-- ab_cumulative_retire: delete those rows (a lightweight DELETE, run only
-- when ab_cumulative_stale found some, since each one is a mutation).
-- Rows computed later than the ones just written (another aggregator's)
-- are kept: newest computed_at wins, as the API reads it.
{{- end}}
--
-- Parameters: experiments Array(String), starts Array(DateTime) (the new
-- window start of each experiment, in the same order); written
-- DateTime64(3) (their computed_at).
{{if not .Delete}}SELECT count() FROM{{else}}DELETE FROM{{end}} {db}.ab_results
WHERE granularity = 'cumulative'
  AND has({experiments:Array(String)}, experiment_id)
  AND window_start != {starts:Array(DateTime)}[indexOf({experiments:Array(String)}, experiment_id)]
  AND computed_at < {written:DateTime64(3)}
