package aggregate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"
)

// abCumulativeName is the granularity of the cumulative A/B verdicts: one
// window per experiment, from its first base window with states to the end
// of the last one, recomputed whenever a cycle computes base windows the
// experiment has rows in. Its window_start moves if earlier data arrives
// late; readers take the newest computed_at (api.ExperimentWindows).
const abCumulativeName = "cumulative"

// abCumulative recomputes the cumulative verdicts of the experiments with
// states in the base windows [from, to). Counts come from ab_read over the
// experiment's whole history of performance states; the latency test is
// Welch's t-test on the rolled-up sums (mean and variance), which equals
// welchTTest on the raw rows without reading them.
func (a *Aggregator) abCumulative(ctx context.Context, from, to time.Time) error {
	base := a.grans[0]
	exps, first, last, err := a.abExperiments(ctx, from, to)
	if err != nil || len(exps) == 0 {
		return err
	}
	groups, err := a.readAB(ctx, "ab_read_cumulative", clickhouse.Parameters{
		"base_seconds": fmt.Sprint(base.secs),
		"from":         chTime(first),
		"to":           chTime(last.Add(base.d)),
		"experiments":  chStrings(exps),
	})
	if err != nil {
		return err
	}
	// One window per experiment: its earliest variant start, its latest end.
	merged := map[abKey][]*abVariant{}
	ends := map[string]time.Time{}
	starts := map[string]time.Time{}
	for k, vs := range groups {
		if s, ok := starts[k.experiment]; !ok || k.ws.Before(s) {
			starts[k.experiment] = k.ws
		}
		for _, v := range vs {
			ends[k.experiment] = later(ends[k.experiment], v.end)
		}
	}
	for k, vs := range groups {
		mk := abKey{experiment: k.experiment, ws: starts[k.experiment]}
		merged[mk] = append(merged[mk], vs...)
	}
	for _, vs := range merged {
		sortVariants(vs)
	}
	rows, err := a.abRows(ctx, merged, func(k abKey) time.Time { return ends[k.experiment] }, nil)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if err := a.writeAB(ctx, abCumulativeName, rows, false, now); err != nil {
		return err
	}
	err = a.retireCumulative(ctx, starts, now)
	switch {
	case err == nil:
		a.retireErr = ""
	case ctx.Err() != nil:
		return ctx.Err()
	case err.Error() != a.retireErr:
		// The verdicts are written; readers of the newest start are right
		// (the API, docs/querying.md). Most likely a user without the
		// ALTER DELETE grant on ab_results: say so (once, not every
		// cycle), do not fail the cycle.
		a.retireErr = err.Error()
		a.log.Warn("superseded cumulative A/B verdicts not deleted (grant ALTER DELETE on ab_results); "+
			"ab_results FINAL holds them beside the new ones until then", zap.Error(err))
	}
	return nil
}

// retireCumulative deletes the cumulative rows of the experiments in
// starts whose window start is not the one written at written, and that
// are older (ab_cumulative_stale): ab_results keys rows by window start, so
// a start that moved left the superseded verdict beside the new one. Not
// on a cluster, where ab_results is Distributed and takes no DELETE; the
// API reads the newest computed_at there too.
func (a *Aggregator) retireCumulative(ctx context.Context, starts map[string]time.Time, written time.Time) error {
	if a.cfg.Sharded || len(starts) == 0 {
		return nil
	}
	exps := slices.Sorted(maps.Keys(starts))
	ts := make([]time.Time, len(exps))
	for i, e := range exps {
		ts[i] = starts[e]
	}
	params := clickhouse.Parameters{"experiments": chStrings(exps), "starts": chTimes(ts), "written": chTime64(written)}
	if stale, err := a.queryCount(ctx, "ab_cumulative_stale", params); err != nil || stale == 0 {
		return err
	}
	return a.exec(ctx, "ab_cumulative_retire", params)
}

// abExperiments returns the experiments with states in [from, to) and the
// range of base windows all of them have states for.
func (a *Aggregator) abExperiments(ctx context.Context, from, to time.Time) (exps []string, first, last time.Time, err error) {
	rows, err := a.query(ctx, "ab_experiments", clickhouse.Parameters{
		"base_seconds": fmt.Sprint(a.grans[0].secs),
		"from":         chTime(from),
		"to":           chTime(to),
	})
	if err != nil {
		return nil, first, last, err
	}
	defer rows.Close()
	for rows.Next() {
		var e string
		var f, l time.Time
		if err := rows.Scan(&e, &f, &l); err != nil {
			return nil, first, last, fmt.Errorf("ab_experiments: %w", err)
		}
		exps = append(exps, e)
		if first.IsZero() || f.Before(first) {
			first = f.UTC()
		}
		last = later(last, l.UTC())
	}
	if err := rows.Err(); err != nil {
		return nil, first, last, fmt.Errorf("ab_experiments: %w", err)
	}
	return exps, first, last, nil
}

func sortVariants(vs []*abVariant) {
	slices.SortFunc(vs, func(x, y *abVariant) int { return strings.Compare(x.variant, y.variant) })
}
