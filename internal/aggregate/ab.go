package aggregate

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// A/B: per experiment and window, ClickHouse rolls up volume, errors,
// labeled and correct predictions per variant from the performance states
// (ab_read; perf_states counts experiment rows under slice key
// '__ab__/<experiment>'), runs the two-proportion
// z-tests (ab_ztest: proportionsZTest); Go computes Welch's t-tests of
// latency from the rolled-up counts, sums and sums of squares
// (welchFromSums), picks the control (ABControl, else
// the lexicographically first variant), computes the sample-ratio-mismatch
// chi-squared test against ABSplit (default equal shares) and the lifts.
//
// Metrics: error_rate, accuracy, precision and recall (binary: tp of tp +
// fp, tp of tp + fn) with the z-test, latency_avg_ms with Welch's t. Every
// other metric of every variant is in performance_metrics (slice_key
// '__ab__/<experiment>', the variant as slice_value).
// lift = value / control_value - 1; its interval is the delta method's,
// from both variants' variances (liftInterval, rateVar).
// Welch's t-test from sums equals welchTTest on the raw rows (TestAB) without
// reading them, and is left out (no test) where it is undefined: both
// variances zero (welchTTest throws on such samples, or hangs the embedded
// engine) or not finite, or states written before latency_sq_sum existed.

// abSlicePrefix starts the slice key under which perf_states counts an
// experiment's predictions (see clickhouse/queries/perf_states.sql).
const abSlicePrefix = "__ab__/"

type abVariant struct {
	variant, model, version string
	n, errors, labeled      uint64
	classified, correct     uint64
	tp, fp, fn              uint64 // binary
	latencyAvg              float64
	latencySq               *float64  // sum of squared latencies; nil if a state predates migration 0015
	end                     time.Time // end of the last base window read
}

type abKey struct {
	experiment string
	ws         time.Time
}

// ABRow is one row of ab_results.
type ABRow struct {
	Experiment, Variant, Metric, Model, Version, Control string
	WindowStart, WindowEnd                               time.Time
	IsControl                                            bool
	N, Labeled                                           uint64
	ExpectedShare, SRMP                                  float64
	Value, ControlValue, Lift, LiftLo, LiftHi            *float64
	P, Statistic                                         *float64
	Test                                                 string
	Significant                                          bool
}

func (a *Aggregator) abOutputs(ctx context.Context, g gran, sp span, final bool) error {
	groups, err := a.readAB(ctx, "ab_read", clickhouse.Parameters{
		"base_seconds": fmt.Sprint(a.grans[0].secs),
		"g_seconds":    fmt.Sprint(g.secs),
		"from":         chTime(sp.from),
		"to":           chTime(sp.to),
		"windows":      chTimes(sp.starts),
	})
	if err != nil || len(groups) == 0 {
		return err
	}
	known, err := a.knownVariants(ctx, groups, g)
	if err != nil {
		return err
	}
	rows, err := a.abRows(ctx, groups, func(k abKey) time.Time { return k.ws.Add(g.d) }, known)
	if err != nil {
		return err
	}
	return a.writeAB(ctx, g.name, rows, final, time.Now().UTC())
}

// abArmLookback is how long an arm stays expected in the windows of an
// experiment without a configured split after its last prediction. A
// window's own traffic cannot tell a dead arm from an experiment of one
// variant: counting only the variants seen, an arm that stopped receiving
// traffic left its experiment passing the sample-ratio test (p = 1) while
// it was broken. A day flags the break in every granularity's window,
// 1-day windows included, and then lets an arm that was retired on
// purpose go quiet; ab.split with weight 0 retires one at once.
const abArmLookback = 24 * time.Hour

// knownVariants returns, per window of groups whose experiment has no
// split, the variants the experiment served from abArmLookback before the
// window to its end (ab_variants): srm expects equal shares of them.
func (a *Aggregator) knownVariants(ctx context.Context, groups map[abKey][]*abVariant, g gran) (map[abKey][]string, error) {
	var exps []string
	var from, to time.Time
	for k := range groups {
		if a.cfg.ABSplit[k.experiment] != nil {
			continue
		}
		if from.IsZero() || k.ws.Before(from) {
			from = k.ws
		}
		to = later(to, k.ws.Add(g.d))
		if !slices.Contains(exps, k.experiment) {
			exps = append(exps, k.experiment)
		}
	}
	if len(exps) == 0 {
		return nil, nil
	}
	slices.Sort(exps)
	rows, err := a.query(ctx, "ab_variants", clickhouse.Parameters{
		"base_seconds": fmt.Sprint(a.grans[0].secs),
		"from":         chTime(from.Add(-abArmLookback)),
		"to":           chTime(to),
		"experiments":  chStrings(exps),
	})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type arm struct {
		variant string
		windows []time.Time // base windows with predictions, sorted
	}
	arms := map[string][]arm{} // by experiment
	for rows.Next() {
		var e string
		var r arm
		if err := rows.Scan(&e, &r.variant, &r.windows); err != nil {
			return nil, fmt.Errorf("ab_variants: %w", err)
		}
		arms[e] = append(arms[e], r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ab_variants: %w", err)
	}
	known := map[abKey][]string{}
	for k := range groups {
		lo, hi := k.ws.Add(-abArmLookback), k.ws.Add(g.d)
		for _, r := range arms[k.experiment] {
			if servedIn(r.windows, lo, hi) {
				known[k] = append(known[k], r.variant)
			}
		}
	}
	return known, nil
}

// servedIn reports whether one of the sorted base windows starts in
// [lo, hi). Not the first and last window alone: an arm that paused for
// days is not expected in the windows of the pause.
func servedIn(windows []time.Time, lo, hi time.Time) bool {
	i, _ := slices.BinarySearchFunc(windows, lo, time.Time.Compare)
	return i < len(windows) && windows[i].Before(hi)
}

// abRows computes the verdict rows of groups: controls, sample-ratio
// mismatch, z-tests (in ClickHouse), Welch's t-tests (welchFromSums) and
// lifts. end gives a window's end; known the variants a window's
// sample-ratio test expects besides those it saw (see knownVariants).
func (a *Aggregator) abRows(ctx context.Context, groups map[abKey][]*abVariant, end func(k abKey) time.Time, known map[abKey][]string) ([]ABRow, error) {
	keys := make([]abKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y abKey) int {
		if c := x.ws.Compare(y.ws); c != 0 {
			return c
		}
		return compareStr(x.experiment, y.experiment)
	})
	// Controls and comparisons.
	controls := map[abKey]*abVariant{}
	type cmp struct {
		k    abKey
		v, c *abVariant
	}
	var cmps []cmp
	for _, k := range keys {
		vs := groups[k]
		c := vs[0]
		if want, ok := a.cfg.ABControl[k.experiment]; ok {
			for _, v := range vs {
				if v.variant == want {
					c = v
				}
			}
		}
		controls[k] = c
		for _, v := range vs {
			if v != c {
				cmps = append(cmps, cmp{k, v, c})
			}
		}
	}
	// z-tests per comparison, abZMetrics in order: successes of trials.
	var sx, tx, sy, ty []uint64
	for _, c := range cmps {
		for _, m := range abZMetrics {
			s, n := m.counts(c.v)
			sx, tx = append(sx, s), append(tx, n)
			s, n = m.counts(c.c)
			sy, ty = append(sy, s), append(ty, n)
		}
	}
	z, err := a.zTests(ctx, sx, tx, sy, ty)
	if err != nil {
		return nil, err
	}

	var rows []ABRow
	alpha := 1 - a.cfg.ABConfidence
	for _, k := range keys {
		vs := groups[k]
		c := controls[k]
		shares, srm := a.srm(k.experiment, vs, known[k])
		for i, v := range vs {
			base := ABRow{Experiment: k.experiment, Variant: v.variant, Model: v.model, Version: v.version, Control: c.variant,
				WindowStart: k.ws, WindowEnd: end(k), IsControl: v == c, N: v.n, Labeled: v.labeled, ExpectedShare: shares[i], SRMP: srm}
			for _, metric := range abMetrics {
				r := base
				r.Metric = metric
				val, cval := abValue(v, metric), abValue(c, metric)
				r.Value, r.ControlValue = val, cval
				if metric == "latency_avg_ms" {
					r.Test = "welch_t"
				} else {
					r.Test = "z"
				}
				if v != c && val != nil && cval != nil {
					// The statistic and p-value, and for the lift's
					// interval the variances of the two estimates and the
					// quantile at the confidence level.
					var stat, p, varV, varC, q float64
					tested := false
					if metric == "latency_avg_ms" {
						var w welchResult
						if w, tested = welchFromSums(c, v, a.cfg.ABConfidence); tested {
							stat, p, varC, varV, q = -w.t, w.p, w.varC, w.varV, w.q // w.t is control - variant
						}
					} else {
						for j, cc := range cmps {
							if cc.k == k && cc.v == v {
								if res := z[j*len(abZMetrics)+abZIndex(metric)]; len(res) >= 2 {
									stat, p, tested = res[0], res[1], true
								}
							}
						}
						varV, varC = rateVar(v, metric), rateVar(c, metric)
						q = NormalQuantile(1 - (1-a.cfg.ABConfidence)/2)
					}
					if tested && !math.IsNaN(p) {
						r.Statistic, r.P = ptr(stat), ptr(p)
						r.Significant = p < alpha
						if *cval != 0 {
							lo, hi := liftInterval(*val, *cval, varV, varC, q)
							r.Lift, r.LiftLo, r.LiftHi = ptr(*val / *cval - 1), ptr(lo), ptr(hi)
						}
					}
				}
				rows = append(rows, r)
			}
		}
	}
	return rows, nil
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// abZMetrics are the rates compared with a two-proportion z-test:
// successes of trials per variant.
var abZMetrics = []struct {
	name   string
	counts func(v *abVariant) (successes, trials uint64)
}{
	{"error_rate", func(v *abVariant) (uint64, uint64) { return v.errors, v.n }},
	{"accuracy", func(v *abVariant) (uint64, uint64) { return v.correct, v.classified }},
	{"precision", func(v *abVariant) (uint64, uint64) { return v.tp, v.tp + v.fp }},
	{"recall", func(v *abVariant) (uint64, uint64) { return v.tp, v.tp + v.fn }},
}

// abMetrics are the metrics of ab_results: the z-tested rates, then
// latency (Welch's t-test).
var abMetrics = []string{"error_rate", "accuracy", "precision", "recall", "latency_avg_ms"}

func abZIndex(metric string) int {
	for i, m := range abZMetrics {
		if m.name == metric {
			return i
		}
	}
	return -1
}

// liftInterval is the interval of the lift v/c - 1 by the delta method,
// from the variances of the two estimates and the quantile q: the
// control's own uncertainty widens it (dividing the difference's interval
// by c treats c as exact, ~93 % coverage for a nominal 95 % at equal
// traffic). Its lower bound is no lower than -1, which a ratio of rates or
// means cannot go below.
func liftInterval(v, c, varV, varC, q float64) (lo, hi float64) {
	lift := v/c - 1
	se := math.Sqrt(varV/(c*c) + v*v*varC/(c*c*c*c))
	return max(lift-q*se, -1), lift + q*se
}

// rateVar is the variance of a z-tested rate of v, p(1-p)/n, with p from
// the counts plus one half of a success and of a failure where they are 0
// or n (Agresti-Caffo): a variant without errors in a small window is not
// certain to have none, and its interval would collapse to a point.
func rateVar(v *abVariant, metric string) float64 {
	s, n := abZMetrics[abZIndex(metric)].counts(v)
	p := float64(s) / float64(n)
	if s == 0 || s == n {
		p = (float64(s) + 0.5) / (float64(n) + 1)
	}
	return p * (1 - p) / float64(n)
}

func abValue(v *abVariant, metric string) *float64 {
	if i := abZIndex(metric); i >= 0 {
		if s, n := abZMetrics[i].counts(v); n > 0 {
			return ptr(float64(s) / float64(n))
		}
		return nil
	}
	switch metric {
	case "latency_avg_ms":
		if v.n > 0 {
			return ptr(v.latencyAvg)
		}
	}
	return nil
}

// srm returns each variant's expected share and the sample-ratio-mismatch
// p-value: Pearson's chi-squared test of the prediction counts against the
// shares, len(arms)-1 degrees of freedom. With a split (ABSplit) the arms
// are every variant it plans plus those seen: a planned variant without
// traffic counts 0, the loudest mismatch, not one to leave out. A variant
// listed with weight 0 is stopped: its traffic is left out of the test.
// Traffic to a variant the split does not list is a mismatch whatever the
// counts (p = 0). Without a split, equal shares of the variants seen and
// those known (the experiment's recent arms, knownVariants): a known arm
// without traffic counts 0 like a planned one.
func (a *Aggregator) srm(experiment string, vs []*abVariant, known []string) ([]float64, float64) {
	split := a.cfg.ABSplit[experiment]
	if split == nil && len(known) > 0 {
		split = make(map[string]float64, len(known)+len(vs))
		for _, name := range known {
			split[name] = 1
		}
		for _, v := range vs {
			split[v.variant] = 1
		}
	}
	// One arm per variant seen (in vs order: the first len(vs) are the
	// variants' shares), then the planned ones without traffic.
	expected := make([]float64, len(vs))
	observed := make([]float64, len(vs))
	seen := make(map[string]bool, len(vs))
	unplanned := false // traffic to a variant the split gives no share
	for i, v := range vs {
		expected[i], observed[i] = 1, float64(v.n)
		seen[v.variant] = true
		if split != nil {
			w, listed := split[v.variant]
			expected[i] = w
			if w == 0 { // stopped (listed) or not planned: not in the test
				observed[i] = 0
			}
			unplanned = unplanned || (!listed && v.n > 0)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(split)) {
		if !seen[name] && split[name] > 0 {
			expected, observed = append(expected, split[name]), append(observed, 0)
		}
	}
	var sum, total float64
	for i := range expected {
		sum += expected[i]
		total += observed[i]
	}
	if sum == 0 {
		for i := range expected {
			expected[i] = 1
		}
		sum = float64(len(expected))
	}
	var x float64
	arms := 0 // with an expected share: stopped and unplanned variants are not
	for i := range expected {
		expected[i] /= sum
		if e := total * expected[i]; e > 0 {
			x += (observed[i] - e) * (observed[i] - e) / e
		}
		if expected[i] > 0 {
			arms++
		}
	}
	shares := expected[:len(vs):len(vs)]
	if unplanned {
		return shares, 0
	}
	if arms < 2 {
		return shares, 1
	}
	return shares, ChiSquareSurvival(x, float64(arms-1))
}

func (a *Aggregator) readAB(ctx context.Context, query string, params clickhouse.Parameters) (map[abKey][]*abVariant, error) {
	rows, err := a.query(ctx, query, params)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[abKey][]*abVariant{}
	for rows.Next() {
		var k abKey
		v := &abVariant{}
		if err := rows.Scan(&k.experiment, &k.ws, &v.variant, &v.model, &v.version, &v.n, &v.errors, &v.labeled,
			&v.classified, &v.correct, &v.latencyAvg, &v.tp, &v.fp, &v.fn, &v.latencySq, &v.end); err != nil {
			return nil, fmt.Errorf("%s: %w", query, err)
		}
		k.ws = k.ws.UTC()
		out[k] = append(out[k], v) // sorted by variant
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	return out, nil
}

func (a *Aggregator) zTests(ctx context.Context, sx, tx, sy, ty []uint64) ([][]float64, error) {
	if len(sx) == 0 {
		return nil, nil
	}
	arr := func(v []uint64) string {
		s := "["
		for i, x := range v {
			if i > 0 {
				s += ","
			}
			s += fmt.Sprint(x)
		}
		return s + "]"
	}
	rows, err := a.query(ctx, "ab_ztest", clickhouse.Parameters{
		"sx": arr(sx), "tx": arr(tx), "sy": arr(sy), "ty": arr(ty), "confidence": fmt.Sprint(a.cfg.ABConfidence),
	})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]float64
	if rows.Next() {
		if err := rows.Scan(&out); err != nil {
			return nil, fmt.Errorf("ab_ztest: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ab_ztest: %w", err)
	}
	return out, nil
}

func (a *Aggregator) writeAB(ctx context.Context, granularity string, rows []ABRow, final bool, now time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	start := time.Now()
	err := a.insertAB(ctx, granularity, rows, final, now)
	a.m.queryDuration.WithLabelValues("ab_insert").Observe(time.Since(start).Seconds())
	if err != nil {
		a.countError(ctx, "ab_insert")
		return fmt.Errorf("ab_insert: %w", err)
	}
	return nil
}

func (a *Aggregator) insertAB(ctx context.Context, granularity string, rows []ABRow, final bool, now time.Time) error {
	b, err := a.conn.PrepareBatch(ctx, "INSERT INTO "+quoteIdent(a.cfg.Database)+`.ab_results
		(experiment_id, granularity, window_start, window_end, variant, metric, model_id, model_version, is_control,
		 control_variant, prediction_count, labeled_count, expected_share, srm_p_value, value, control_value, lift,
		 lift_ci_lower, lift_ci_upper, confidence_level, p_value, test, significant, statistic, final, computed_at)`)
	if err != nil {
		return err
	}
	defer func() { _ = b.Abort() }()
	for _, r := range rows {
		share, srm := r.ExpectedShare, r.SRMP
		err := b.Append(r.Experiment, granularity, r.WindowStart, r.WindowEnd, r.Variant, r.Metric, r.Model, r.Version,
			r.IsControl, r.Control, r.N, r.Labeled, &share, &srm, r.Value, r.ControlValue, r.Lift, r.LiftLo, r.LiftHi,
			a.cfg.ABConfidence, r.P, r.Test, r.Significant, r.Statistic, final, now)
		if err != nil {
			return err
		}
	}
	return b.Send()
}
