package aggregate

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Drift: ClickHouse counts each feature's values into histograms per base
// window (drift_window_states) and merges them per output window
// (drift_read); Go computes the statistics on the k bins:
//
//   - reference: the version's frozen baseline (feature_baselines FINAL) for
//     features it lists, else the previous window of the same granularity
//     (numeric: both regrouped into deciles of the previous window's values
//     rounded to 3 significant digits). A window without a reference (first
//     window, no baseline) gets no row.
//   - numeric: PSI (ε = 1e-4 added to every bin proportion, renormalised),
//     KS statistic on the binned CDFs and its asymptotic p-value with
//     effective n = n·m/(n+m) (m: the baseline's non-null sample count, or
//     the previous window's; n alone when the baseline does not say),
//     Jensen-Shannon divergence (base 2) and distance (its square root);
//   - categorical: PSI, JS, chi-squared p-value (goodness of fit against the
//     baseline's proportions, or homogeneity against the previous window),
//     L∞ distance between the proportions;
//   - null rate change against the baseline's (or previous window's); a
//     feature with a reference but no value in a window still gets a row
//     (null rate 1, no other statistic).
//
// A feature is flagged when PSI > drift.psi_threshold or JS distance >
// drift.js_threshold (in windows of at least drift.min_samples non-null
// values), or its p-value (KS or chi-squared) is significant at
// drift.p_value after Benjamini-Hochberg across the features of the model
// version's window and its KS statistic or L∞ distance is at least
// drift.min_effect (at 10^6 values a window every test is significant:
// the p-value alone would flag every feature of a busy model), or its null
// rate rose by more than
// drift.null_rate_threshold (in windows of at least drift.min_samples
// predictions, or to 1 when the reference's null rate makes that unlikely
// by chance). Without a baseline the reference is the previous window; a
// vanished feature's missing row is carried on from window to window
// (drift_gone.go), so it stays flagged while it stays away. Drift rows are
// per version only: baselines are frozen per version, so there is no '*'
// row.

const featureOther = "__other__"

// driftStatesRows bounds the predictions one drift_states_numeric query
// covers: it holds the numeric feature values of its windows in memory (8
// bytes a value, ~300 MB for 2M predictions with 20 features). A span with
// more is cut into runs of base windows (at least one each) by the
// predictions drift_coverage counts.
const driftStatesRows = 2_000_000

// driftStates recomputes the drift states of the base windows of sp, all
// in one generation of the server's clock: the numeric states of the
// (window, version) pairs feature_bins_1m covers from those histograms
// (their unbinned outputs, score and predicted value, from
// feature_values_1m where it covers the pair, else from the column), the
// other pairs' from their raw rows; then
// the categorical states of the pairs feature_values_1m covers from its
// counts, the other pairs' from their raw rows.
func (a *Aggregator) driftStates(ctx context.Context, sp span, perf clickhouse.Parameters) error {
	cov, err := a.driftCoverage(ctx, perf)
	if err != nil {
		return err
	}
	base := a.grans[0].d
	gen := chTime64(cov.now)
	type statesQuery struct {
		name, output string
		pairs        []versionWindow
	}
	queries := []statesQuery{{"drift_states_bins", "", cov.covered}, {"drift_states_values", "", cov.values}}
	for i, o := range outputs {
		queries = append(queries, statesQuery{"drift_states_score", o, cov.unbinned[i].raw},
			statesQuery{"drift_states_score_values", o, cov.unbinned[i].fromValues})
	}
	for _, q := range queries {
		for _, c := range chunkPairs(q.pairs, maxCoveredPairs) {
			params := clickhouse.Parameters{
				"base_seconds": perf["base_seconds"],
				"from":         chTime64(c[0].ws),
				"to":           chTime64(c[len(c)-1].ws.Add(base)),
				"covered":      chPairs(c),
				"computed_at":  gen,
			}
			if q.output != "" {
				params["output"] = q.output
			}
			if q.name == "drift_states_score_values" {
				params["keys_unique"] = strconv.FormatBool(base == time.Minute && !a.cfg.Sharded)
			}
			if err := a.exec(ctx, q.name, params); err != nil {
				return err
			}
		}
	}
	a.m.driftPairs.WithLabelValues("numeric", "insert").Add(float64(len(cov.covered)))
	a.m.driftPairs.WithLabelValues("numeric", "raw").Add(float64(cov.rawPairs))
	a.m.driftPairs.WithLabelValues("categorical", "insert").Add(float64(len(cov.values)))
	a.m.driftPairs.WithLabelValues("categorical", "raw").Add(float64(cov.pairs - len(cov.values)))

	// Only windows with uncovered predictions are read raw; within them the
	// covered pairs are skipped (rare: a baseline that arrived for one
	// version mid-window).
	if raw := cov.rawSpan(sp); len(raw.starts) > 0 {
		for _, p := range raw.split(base, cov.raw, driftStatesRows) {
			windows := "[]"
			if !p.all {
				windows = chTimes(p.starts)
			}
			err := a.exec(ctx, "drift_states_numeric", clickhouse.Parameters{
				"base_seconds": perf["base_seconds"],
				"from":         chTime64(p.from),
				"to":           chTime64(p.to),
				"windows":      windows,
				"covered":      chPairs(within(cov.covered, p.from, p.to)),
				"computed_at":  gen,
			})
			if err != nil {
				return err
			}
		}
	}
	raw := cov.valuesRawSpan(sp)
	if len(raw.starts) == 0 {
		return nil
	}
	windows := "[]"
	if !raw.all {
		windows = chTimes(raw.starts)
	}
	return a.exec(ctx, "drift_states_categorical", clickhouse.Parameters{
		"base_seconds": perf["base_seconds"],
		"from":         perf["from"],
		"to":           perf["to"],
		"windows":      windows,
		"covered":      chPairs(cov.valuesSkip()),
		"computed_at":  gen,
	})
}

// histKey identifies one feature histogram of one window.
type histKey struct {
	model, version, feature string
	ws                      time.Time
}

// hist is one feature histogram: keys[i] (a bin index, a value's text or
// a category) counted counts[i] times. Read as the Map's two arrays
// (mapKeys, mapValues): scanning the Map built a Go map per histogram, a
// third of the aggregator's own CPU on the bench hour.
type hist struct {
	typ, kind  string
	baselineAt time.Time
	keys       []string
	counts     []uint64
	fine       []fineValue // numeric values without a baseline: keys parsed once (see parseFine)
}

type baseline struct {
	typ        string
	n          uint64
	nullRate   float64
	edges      []float64
	props      []float64
	cats       []string
	catProps   []float64
	other      float64
	computedAt time.Time
}

// DriftRow is one row of drift_metrics.
type DriftRow struct {
	ModelID, ModelVersion, Feature, FeatureType string
	WindowStart                                 time.Time
	BaselineAt                                  time.Time
	ReferenceStart                              *time.Time
	SampleCount                                 uint64
	PSI, KS, KSP, JSDiv, JSDist, Chi2P, LInf    *float64
	NullRate, BaselineNullRate                  float64
	Flagged                                     bool
	Reasons                                     []string
	pValue                                      float64 // KS or chi-squared, NaN if none
}

// mvw is one model version's window.
type mvw struct {
	model, version string
	ws             time.Time
}

// addMissing gives a feature with a reference (the version's baseline, or
// values in the previous window) but no value at all in a window of want
// with predictions an empty histogram in hists and groups, so that it gets
// a row with null rate 1: a feature the producer stopped sending is the
// commonest breakage, and it has no histogram to notice it by.
func addMissing(hists map[histKey]hist, groups map[mvw][]histKey, totals map[histKey]uint64,
	bases map[[3]string]baseline, want map[time.Time]bool, d time.Duration) {
	baselined := map[[2]string][]string{} // model version -> features with a usable baseline
	for bk, b := range bases {
		if b.typ == "categorical" || len(b.edges) > 0 {
			baselined[[2]string{bk[0], bk[1]}] = append(baselined[[2]string{bk[0], bk[1]}], bk[2])
		}
	}
	read := map[mvw][]histKey{} // the histograms read, before any is added
	for k := range hists {
		read[mvw{k.model, k.version, k.ws}] = append(read[mvw{k.model, k.version, k.ws}], k)
	}
	for k, n := range totals {
		if !want[k.ws] || n == 0 {
			continue
		}
		grp := mvw{k.model, k.version, k.ws}
		have := map[string]bool{}
		for _, hk := range groups[grp] {
			have[hk.feature] = true
		}
		missing := func(feature, typ, kind string) {
			if have[feature] {
				return
			}
			have[feature] = true
			hk := histKey{model: k.model, version: k.version, feature: feature, ws: k.ws}
			hists[hk] = hist{typ: typ, kind: kind}
			groups[grp] = append(groups[grp], hk)
		}
		for _, f := range baselined[[2]string{k.model, k.version}] {
			b := bases[[3]string{k.model, k.version, f}]
			missing(f, b.typ, "bins")
		}
		for _, hk := range read[mvw{k.model, k.version, k.ws.Add(-d)}] {
			if _, ok := bases[[3]string{hk.model, hk.version, hk.feature}]; !ok {
				missing(hk.feature, hists[hk].typ, hists[hk].kind)
			}
		}
	}
}

func (a *Aggregator) driftOutputs(ctx context.Context, g gran, sp span, final bool) error {
	base := a.grans[0]
	// The windows and those before them (the reference without a baseline).
	wins := slices.Clone(sp.starts)
	for _, s := range sp.starts {
		wins = append(wins, s.Add(-g.d))
	}
	slices.SortFunc(wins, time.Time.Compare)
	wins = slices.Compact(wins)
	params := clickhouse.Parameters{
		"base_seconds": fmt.Sprint(base.secs),
		"g_seconds":    fmt.Sprint(g.secs),
		"from":         chTime(sp.from.Add(-g.d)),
		"to":           chTime(sp.to),
		"windows":      chTimes(wins),
	}
	hists, other, err := a.readHists(ctx, params)
	if err != nil {
		return err
	}
	totals, now, err := a.readTotals(ctx, params)
	if err != nil {
		return err
	}
	if len(hists) == 0 && len(totals) == 0 {
		return nil
	}
	models := map[string]bool{}
	for k := range hists {
		models[k.model] = true
	}
	for k := range totals {
		models[k.model] = true
	}
	bases, err := a.readBaselines(ctx, models)
	if err != nil {
		return err
	}
	matchTypes(hists, other, bases, g.d)
	want := map[time.Time]bool{}
	for _, s := range sp.starts {
		want[s] = true
	}
	// Group features by (model, version, window) for the BH correction.
	groups := map[mvw][]histKey{}
	for k := range hists {
		if want[k.ws] {
			groups[mvw{k.model, k.version, k.ws}] = append(groups[mvw{k.model, k.version, k.ws}], k)
		}
	}
	addMissing(hists, groups, totals, bases, want, g.d)
	// Windows in time order, so that a missing row can be carried to the
	// next window; those before the span come from drift_metrics.
	var before []time.Time
	for _, s := range sp.starts {
		if !want[s.Add(-g.d)] {
			before = append(before, s.Add(-g.d))
		}
	}
	gone, err := a.readGone(ctx, g, before)
	if err != nil {
		return err
	}
	for k, n := range totals {
		if grp := (mvw{k.model, k.version, k.ws}); want[k.ws] && n > 0 && groups[grp] == nil {
			groups[grp] = []histKey{}
		}
	}
	order := slices.Collect(maps.Keys(groups))
	slices.SortFunc(order, func(x, y mvw) int {
		return cmp.Or(x.ws.Compare(y.ws), cmp.Compare(x.model, y.model), cmp.Compare(x.version, y.version))
	})
	rowsOf := groupsDrift(order, groups, hists, bases, totals, g.d)
	total := 0
	for _, rows := range rowsOf {
		total += len(rows)
	}
	out := make([]DriftRow, 0, total) // rows are large: growing by doubling moved them about (0.1 s an hour)
	for i, grp := range order {
		rows := rowsOf[i]
		have := map[string]bool{}
		for _, k := range groups[grp] {
			have[k.feature] = true
		}
		n := totals[histKey{model: grp.model, version: grp.version, ws: grp.ws}]
		rows = carryGone(rows, grp, n, g.d, have, gone)
		recordGone(gone, grp, rows)
		a.flag(rows)
		out = append(out, rows...)
	}
	return a.writeDrift(ctx, g, out, final, now)
}

// groupsDrift returns the drift rows of each group of order (see
// groupDrift), after parsing the fine histograms of hists once. Both on all
// cores: they are the aggregator's own CPU, and for an hour of windows
// they alone decided when its drift rows were written (the engine's work
// beside them ended first). What follows them, in window order (a missing
// feature is carried to the next window), is sequential.
func groupsDrift(order []mvw, groups map[mvw][]histKey, hists map[histKey]hist, bases map[[3]string]baseline,
	totals map[histKey]uint64, d time.Duration) [][]DriftRow {
	fine := make([]histKey, 0, len(hists))
	for k, h := range hists {
		if h.isFine() {
			fine = append(fine, k)
		}
	}
	parsed := make([]hist, len(fine))
	forEach(len(fine), func(i int) {
		parsed[i] = hists[fine[i]]
		parsed[i].parseFine()
	})
	for i, k := range fine {
		hists[k] = parsed[i]
	}
	rowsOf := make([][]DriftRow, len(order))
	forEach(len(order), func(i int) {
		rowsOf[i] = groupDrift(order[i], groups[order[i]], hists, bases, totals, d)
	})
	return rowsOf
}

// groupDrift returns the drift rows of one model version's window grp, the
// features keys (sorted in place), its window of d before as the reference
// where no baseline is. It only reads its maps: groups run concurrently.
func groupDrift(grp mvw, keys []histKey, hists map[histKey]hist, bases map[[3]string]baseline,
	totals map[histKey]uint64, d time.Duration) []DriftRow {
	sort.Slice(keys, func(i, j int) bool { return keys[i].feature < keys[j].feature })
	n := totals[histKey{model: grp.model, version: grp.version, ws: grp.ws}]
	prevN := totals[histKey{model: grp.model, version: grp.version, ws: grp.ws.Add(-d)}]
	rows := make([]DriftRow, 0, len(keys))
	for _, k := range keys {
		h := hists[k]
		prevKey := k
		prevKey.ws = k.ws.Add(-d)
		var prev *hist
		if ph, ok := hists[prevKey]; ok {
			prev = &ph
		}
		var bl *baseline
		if b, ok := bases[[3]string{k.model, k.version, k.feature}]; ok && h.kind == "bins" && b.typ == h.typ {
			bl = &b
		}
		row, ok := driftStats(h, n, bl, prev, prevN)
		if !ok {
			continue
		}
		row.ModelID, row.ModelVersion, row.Feature, row.WindowStart = k.model, k.version, k.feature, k.ws
		if bl == nil {
			ref := prevKey.ws
			row.ReferenceStart = &ref
		}
		rows = append(rows, row)
	}
	return rows
}

// flag applies the thresholds (the model's, drift.models) and the
// Benjamini-Hochberg correction to the features of one model version's
// window; ignored features are not flagged and not in the correction.
func (a *Aggregator) flag(rows []DriftRow) {
	if len(rows) == 0 {
		return
	}
	ignore := a.cfg.DriftModels[rows[0].ModelID].Ignore
	var ps []float64
	var tested []int // rows[tested[j]] has p-value ps[j]
	for i, r := range rows {
		if !ignore[r.Feature] {
			ps, tested = append(ps, r.pValue), append(tested, i)
		}
	}
	sig := make([]bool, len(rows))
	for j, s := range BenjaminiHochberg(ps, a.cfg.PValue) {
		sig[tested[j]] = s
	}
	for i := range rows {
		r := &rows[i]
		if ignore[r.Feature] {
			r.Reasons = []string{}
			continue
		}
		th := a.cfg.driftThresholds(r.ModelID, r.Feature)
		enough := float64(r.SampleCount)*(1-r.NullRate) >= float64(a.cfg.MinSamples)
		if enough && r.PSI != nil && *r.PSI > th.PSI {
			r.Reasons = append(r.Reasons, "psi")
		}
		if enough && r.JSDist != nil && *r.JSDist > th.JS {
			r.Reasons = append(r.Reasons, "js")
		}
		// A jump in missing values: past the threshold in enough
		// predictions, or a feature missing from every prediction when
		// that is unlikely by chance (baseline null rate^n below p_value:
		// three predictions of an optional feature missing half the time
		// are not a breakage).
		if change := r.NullRate - r.BaselineNullRate; change > th.NullRate &&
			(r.SampleCount >= uint64(a.cfg.MinSamples) ||
				r.NullRate == 1 && math.Pow(r.BaselineNullRate, float64(r.SampleCount)) < a.cfg.PValue) {
			r.Reasons = append(r.Reasons, "null_rate")
		}
		if sig[i] {
			reason, effect := "chi2", r.LInf
			if r.FeatureType == "numeric" {
				reason, effect = "ks", r.KS
			}
			if a.cfg.MinEffect == 0 || effect != nil && *effect >= a.cfg.MinEffect {
				r.Reasons = append(r.Reasons, reason)
			}
		}
		r.Flagged = len(r.Reasons) > 0
		if r.Reasons == nil {
			r.Reasons = []string{}
		}
	}
}

// driftStats computes one feature's statistics from its window histogram h
// (n predictions in the window), against the baseline bl or, when nil, the
// previous window prev (prevN predictions). ok is false without a reference.
func driftStats(h hist, n uint64, bl *baseline, prev *hist, prevN uint64) (DriftRow, bool) {
	row := DriftRow{FeatureType: h.typ, pValue: math.NaN()}
	nonNull := float64(h.total())
	row.SampleCount = max(n, uint64(nonNull))
	if row.SampleCount > 0 {
		row.NullRate = 1 - nonNull/float64(row.SampleCount)
	}
	var p, q, refCounts []float64 // reference and window proportions, reference counts (no baseline)
	var refNonNull float64
	switch {
	case bl != nil && h.typ == "numeric":
		if len(bl.props) != len(bl.edges)+1 {
			return row, false
		}
		p = bl.props
		counts := make([]float64, len(p))
		for j, k := range h.keys {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(counts) {
				return row, false // states binned with another baseline
			}
			counts[i] += float64(h.counts[j])
		}
		q = proportions(counts)
		row.BaselineNullRate = bl.nullRate
		refNonNull = float64(bl.n) * (1 - bl.nullRate)
		row.BaselineAt = bl.computedAt
	case bl != nil: // categorical
		// A baseline may list a value named __other__ (frozen from data
		// that held it, or sent so): the states count it in the same key
		// as the values the baseline does not list, so its share joins
		// other_proportion rather than taking those values' counts.
		cats := make([]string, 0, len(bl.cats)+1)
		p = make([]float64, 0, len(bl.cats)+1)
		otherProp := bl.other
		for i, c := range bl.cats {
			if c == featureOther {
				otherProp += bl.catProps[i]
				continue
			}
			cats, p = append(cats, c), append(p, bl.catProps[i])
		}
		cats, p = append(cats, featureOther), append(p, otherProp)
		counts := make([]float64, len(cats))
		for j, k := range h.keys {
			i := slices.Index(cats, k)
			if i < 0 {
				i = len(cats) - 1
			}
			counts[i] += float64(h.counts[j])
		}
		q = proportions(counts)
		row.BaselineNullRate = bl.nullRate
		refNonNull = float64(bl.n) * (1 - bl.nullRate)
		row.BaselineAt = bl.computedAt
	case prev == nil || prev.kind != h.kind || prev.typ != h.typ:
		return row, false
	case h.typ == "numeric":
		ref, cur := prev.values(), h.values()
		edges := decileEdges(ref)
		refCounts = binFine(ref, edges)
		counts := binFine(cur, edges)
		p, q = proportions(refCounts), proportions(counts)
		for _, c := range refCounts {
			refNonNull += c
		}
		if prevN > 0 {
			row.BaselineNullRate = 1 - refNonNull/float64(max(prevN, uint64(refNonNull)))
		}
	default: // categorical against the previous window
		cats := slices.Concat(h.keys, prev.keys)
		slices.Sort(cats)
		cats = slices.Compact(cats)
		refCounts = make([]float64, len(cats))
		counts := make([]float64, len(cats))
		for j, k := range prev.keys {
			i, _ := slices.BinarySearch(cats, k)
			refCounts[i] += float64(prev.counts[j])
			refNonNull += float64(prev.counts[j])
		}
		for j, k := range h.keys {
			i, _ := slices.BinarySearch(cats, k)
			counts[i] += float64(h.counts[j])
		}
		p, q = proportions(refCounts), proportions(counts)
		if prevN > 0 {
			row.BaselineNullRate = 1 - refNonNull/float64(max(prevN, uint64(refNonNull)))
		}
		row.Chi2P = ptr(ChiSquareTwoSample(counts, refCounts))
	}
	if len(p) == 0 || row.SampleCount == 0 || (bl == nil && refNonNull == 0) {
		// No reference values: a previous window that lacked the feature
		// (it has its own null-rate row) is no reference.
		return row, false
	}
	if nonNull == 0 {
		// Every prediction lacks the feature: only the null rate says
		// anything (flag's null_rate reason); the tests need values.
		row.Chi2P = nil
		return row, true
	}
	row.PSI = ptr(PSI(p, q))
	js := JSDivergence(p, q)
	row.JSDiv, row.JSDist = ptr(js), ptr(math.Sqrt(js))
	if h.typ == "numeric" {
		d := KSBinned(p, q)
		en := nonNull
		if refNonNull > 0 {
			en = nonNull * refNonNull / (nonNull + refNonNull)
		}
		row.KS, row.KSP = ptr(d), ptr(KSPValue(d, en))
		if row.KSP != nil {
			row.pValue = *row.KSP
		}
	} else {
		var linf float64
		for i := range p {
			linf = math.Max(linf, math.Abs(p[i]-q[i]))
		}
		row.LInf = ptr(linf)
		if row.Chi2P == nil {
			counts := make([]float64, len(q))
			for i := range q {
				counts[i] = q[i] * nonNull
			}
			row.Chi2P = ptr(ChiSquareGOF(counts, p))
		}
		if row.Chi2P != nil { // undefined (NaN) leaves the feature to PSI and JS
			row.pValue = *row.Chi2P
		}
	}
	return row, true
}

func ptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// readHists returns the histograms of the drift windows, one per model
// version, feature and window, and in other the histograms of the other
// feature type where a window holds both (a producer sending a feature as
// a number in some messages and as a string in others), for matchTypes.
func (a *Aggregator) readHists(ctx context.Context, params clickhouse.Parameters) (hists, other map[histKey]hist, err error) {
	name := "drift_read"
	if params["g_seconds"] == params["base_seconds"] {
		name = "drift_read_base"
	}
	rows, err := a.query(ctx, name, params)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out, other := map[histKey]hist{}, map[histKey]hist{}
	for rows.Next() {
		var k histKey
		var h hist
		var keys, counts string
		if err := rows.Scan(&k.model, &k.version, &k.feature, &h.typ, &h.kind, &k.ws, &h.baselineAt, &keys, &counts); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := h.decode(keys, counts); err != nil {
			return nil, nil, fmt.Errorf("%s: %s/%s %s at %v: %w", name, k.model, k.version, k.feature, k.ws, err)
		}
		k.ws = k.ws.UTC()
		old, ok := out[k]
		switch {
		case ok && old.typ != h.typ:
			if o, ok := other[k]; !ok || o.kind != "bins" {
				other[k] = h
			}
			continue
		case ok && old.kind == "bins":
			continue // a feature with both kinds (a baseline appeared): the baseline bins win
		}
		out[k] = h
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, other, nil
}

// matchTypes settles the type of each feature's histogram where it is in
// question: a window holding both types (other), or a type other than its
// baseline's or the previous window's. The reference decides: the
// baseline's type (a window without values of it gets an empty histogram
// of it, hence a row with null rate 1), else the previous window's when
// that window has values of it (windows in time order, so that the
// previous one is settled first), else the type with more values
// (numeric on a tie). The values of the other type count as nulls of the
// feature: a producer that starts sending a number as a string in some
// messages shows as a null-rate rise (flagged above
// drift.null_rate_threshold) instead of a feature whose rows disappear.
func matchTypes(hists, other map[histKey]hist, bases map[[3]string]baseline, d time.Duration) {
	keys := make([]histKey, 0, len(hists))
	for k := range hists {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y histKey) int { return x.ws.Compare(y.ws) })
	for _, k := range keys {
		h := hists[k]
		o, both := other[k]
		want, kind := "", ""
		if b, ok := bases[[3]string{k.model, k.version, k.feature}]; ok && (b.typ == "categorical" || len(b.edges) > 0) {
			want, kind = b.typ, "bins"
		} else if p, ok := hists[histKey{model: k.model, version: k.version, feature: k.feature, ws: k.ws.Add(-d)}]; ok && p.total() > 0 {
			want, kind = p.typ, "fine"
		}
		switch {
		case want == h.typ:
		case both && want == o.typ:
			hists[k] = o
		case want != "":
			hists[k] = hist{typ: want, kind: kind} // no value of the reference's type
		case both && (o.total() > h.total() || o.total() == h.total() && o.typ == "numeric"):
			hists[k] = o
		}
	}
}

func (a *Aggregator) readTotals(ctx context.Context, params clickhouse.Parameters) (map[histKey]uint64, time.Time, error) {
	rows, err := a.query(ctx, "drift_totals", params)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer rows.Close()
	out := map[histKey]uint64{}
	now := time.Now().UTC()
	for rows.Next() {
		var k histKey
		var n uint64
		if err := rows.Scan(&k.model, &k.version, &k.ws, &n, &now); err != nil {
			return nil, now, fmt.Errorf("drift_totals: %w", err)
		}
		k.ws = k.ws.UTC()
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, now, fmt.Errorf("drift_totals: %w", err)
	}
	return out, now.UTC(), nil
}

func (a *Aggregator) readBaselines(ctx context.Context, models map[string]bool) (map[[3]string]baseline, error) {
	ids := make([]string, 0, len(models))
	for m := range models {
		ids = append(ids, m)
	}
	slices.Sort(ids)
	rows, err := a.query(ctx, "baselines_read", clickhouse.Parameters{"models": chStrings(ids)})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[[3]string]baseline{}
	for rows.Next() {
		var model, version, feature string
		var b baseline
		if err := rows.Scan(&model, &version, &feature, &b.typ, &b.n, &b.nullRate, &b.edges, &b.props, &b.cats, &b.catProps, &b.other, &b.computedAt); err != nil {
			return nil, fmt.Errorf("baselines_read: %w", err)
		}
		out[[3]string{model, version, feature}] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("baselines_read: %w", err)
	}
	return out, nil
}

func (a *Aggregator) writeDrift(ctx context.Context, g gran, rows []DriftRow, final bool, now time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	start := time.Now()
	err := a.insertDrift(ctx, g, rows, final, now)
	a.m.queryDuration.WithLabelValues("drift_insert").Observe(time.Since(start).Seconds())
	if err != nil {
		a.countError(ctx, "drift_insert")
		return fmt.Errorf("drift_insert: %w", err)
	}
	return nil
}

func (a *Aggregator) insertDrift(ctx context.Context, g gran, rows []DriftRow, final bool, now time.Time) error {
	b, err := a.conn.PrepareBatch(ctx, "INSERT INTO "+quoteIdent(a.cfg.Database)+`.drift_metrics
		(model_id, model_version, granularity, window_start, window_end, feature, feature_type, baseline_computed_at,
		 reference_window_start, sample_count, psi, ks_stat, ks_p_value, js_divergence, js_distance, chi2_p_value,
		 linf_distance, null_rate, baseline_null_rate, null_rate_change, flagged, flag_reasons, final, computed_at)`)
	if err != nil {
		return err
	}
	defer func() { _ = b.Abort() }()
	for _, r := range rows {
		err := b.Append(r.ModelID, r.ModelVersion, g.name, r.WindowStart, r.WindowStart.Add(g.d), r.Feature, r.FeatureType,
			r.BaselineAt, r.ReferenceStart, r.SampleCount, r.PSI, r.KS, r.KSP, r.JSDiv, r.JSDist, r.Chi2P, r.LInf,
			r.NullRate, r.BaselineNullRate, r.NullRate-r.BaselineNullRate, r.Flagged, r.Reasons, final, now)
		if err != nil {
			return err
		}
	}
	return b.Send()
}
