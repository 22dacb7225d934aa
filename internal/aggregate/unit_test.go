package aggregate

import (
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/predlog/predlog/internal/config"
)

func TestGranularityName(t *testing.T) {
	tests := []struct {
		give time.Duration
		want string
	}{
		{time.Minute, "1m"}, {5 * time.Minute, "5m"}, {time.Hour, "1h"}, {24 * time.Hour, "1d"}, {90 * time.Second, "90s"}, {36 * time.Hour, "36h"},
	}
	for _, tt := range tests {
		if got := GranularityName(tt.give); got != tt.want {
			t.Errorf("GranularityName(%v) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestFromConfigDefaults(t *testing.T) {
	def := config.DefaultAggregator()
	def.ClickHouse.Database = "predlog" // set by config.Load
	cfg := FromConfig(def).withDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.GaugeGranularity != time.Hour || cfg.IngestDelay != 30*time.Second || cfg.RecomputePerCycle != 6*time.Hour {
		t.Errorf("defaults: %+v", cfg)
	}
	fine := def
	fine.Metrics.Granularity = time.Minute
	if got := FromConfig(fine).withDefaults().GaugeGranularity; got != time.Minute {
		t.Errorf("metrics.granularity 1m: GaugeGranularity %v", got)
	}
	slow := def
	slow.Windows.IngestDelay = 2 * time.Minute
	if got := FromConfig(slow).IngestDelay; got != 2*time.Minute {
		t.Errorf("windows.ingest_delay 2m: IngestDelay %v", got)
	}
	bad := cfg
	bad.Granularities = []time.Duration{time.Minute, 90 * time.Second}
	if err := bad.validate(); err == nil {
		t.Error("90s is not a multiple of 1m: want an error")
	}
	daily := def
	daily.Windows.Granularities = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour}
	if err := FromConfig(daily).withDefaults().validate(); err != nil {
		t.Errorf("a 1d base window: %v", err)
	}
	bad = cfg
	bad.LabelHorizon = 0
	if err := bad.validate(); err == nil {
		t.Error("horizon below lateness: want an error")
	}
	bad = cfg
	bad.SliceKeys, bad.TopN = []string{"region", abSlicePrefix + "x"}, 10
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "metadata_keys[1]") {
		t.Errorf("slice key with the A/B prefix: err = %v, want one naming metadata_keys[1]", err)
	}
}

func TestFloorTo(t *testing.T) {
	ts := time.Date(2026, 3, 5, 13, 47, 12, 345e6, time.UTC)
	for _, tt := range []struct {
		d    time.Duration
		want time.Time
	}{
		{time.Minute, time.Date(2026, 3, 5, 13, 47, 0, 0, time.UTC)},
		{time.Hour, time.Date(2026, 3, 5, 13, 0, 0, 0, time.UTC)},
		{24 * time.Hour, time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)},
		{7 * time.Minute, time.Unix(ts.Unix()-ts.Unix()%420, 0).UTC()},
	} {
		if got := floorTo(ts, tt.d); !got.Equal(tt.want) {
			t.Errorf("floorTo(%v) = %v, want %v", tt.d, got, tt.want)
		}
	}
}

func TestPlan(t *testing.T) {
	cfg := Config{Granularities: []time.Duration{time.Minute, time.Hour}, AllowedLateness: time.Minute, LabelHorizon: 3 * time.Hour}
	now := time.Date(2026, 3, 5, 13, 47, 30, 0, time.UTC)
	at := func(h, m int) time.Time { return time.Date(2026, 3, 5, h, m, 0, 0, time.UTC) }

	// First cycle: every window from the horizon's hour on, up to the closed bound.
	p := cfg.plan(nil, now, nil)
	if n := len(p.windows[0]); n != 60*3+46 { // 10:00 .. 13:45 (13:46 ends 13:47 > 13:46:30)
		t.Errorf("first cycle: %d base windows", n)
	}
	if w := p.windows[0][0]; !w.start.Equal(at(10, 0)) || !w.final || w.reason != reasonClosed {
		t.Errorf("first base window %+v", w)
	}
	if got := p.marks["closed.1m"]; !got.Equal(at(13, 46)) {
		t.Errorf("closed.1m = %v", got)
	}

	// Next cycle two minutes later: two closed windows, a late one, the ones
	// that crossed the horizon become final.
	now2 := now.Add(2 * time.Minute)
	p2 := cfg.plan(p.marks, now2, []time.Time{at(12, 30), at(13, 48), at(9, 0)})
	var got []string
	for _, w := range p2.windows[0] {
		got = append(got, w.start.Format("15:04")+" "+w.reason)
	}
	want := []string{"10:47 final", "10:48 final", "12:30 late", "13:46 closed", "13:47 closed"}
	if !slices.Equal(got, want) {
		t.Errorf("second cycle base windows %v, want %v", got, want)
	}
	var hours []string
	for _, w := range p2.windows[1] {
		hours = append(hours, w.start.Format("15:04")+" "+w.reason)
	}
	if !slices.Equal(hours, []string{"12:00 late"}) {
		t.Errorf("second cycle hours %v", hours)
	}
}

func TestSpans(t *testing.T) {
	at := func(m int) time.Time { return time.Unix(int64(m)*60, 0).UTC() }
	var ts []time.Time
	for m := range 30 {
		ts = append(ts, at(m))
	}
	ts = append(ts, at(100), at(102))
	sp := spans(ts, time.Minute, time.Hour, 6*time.Hour, 500, 10)
	if len(sp) != 2 || !sp[0].all || sp[1].all || !sp[1].from.Equal(at(100)) || !sp[1].to.Equal(at(103)) {
		t.Errorf("spans %+v", sp)
	}
	sp = spans(ts[:30], time.Minute, time.Hour, 10*time.Minute, 500, 10)
	if len(sp) != 3 {
		t.Errorf("max span: %d spans", len(sp))
	}
}

func TestStats(t *testing.T) {
	near := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("chi2 sf(3.841459, 1)", ChiSquareSurvival(3.841459, 1), 0.05, 1e-6)
	near("chi2 sf(11.0705, 5)", ChiSquareSurvival(11.0705, 5), 0.05, 1e-5)
	near("chi2 sf(18.307, 10)", ChiSquareSurvival(18.307038, 10), 0.05, 1e-6)
	near("chi2 sf(0.5, 3)", ChiSquareSurvival(0.5, 3), 0.918891411, 1e-8)
	near("ks p(λ=1.36)", KSPValue(1.36/math.Sqrt(1e12), 1e12), 0.0494, 1e-3)
	near("PSI equal", PSI([]float64{.2, .3, .5}, []float64{.2, .3, .5}), 0, 1e-15)
	near("JS disjoint", JSDivergence([]float64{1, 0}, []float64{0, 1}), 1, 1e-15)
	near("KS", KSBinned([]float64{.5, .5, 0}, []float64{0, .5, .5}), 0.5, 1e-15)
	near("normal quantile", NormalQuantile(0.975), 1.959963984540054, 1e-12)
	if got := BenjaminiHochberg([]float64{0.01, 0.04, 0.03, 0.2, math.NaN()}, 0.05); !slices.Equal(got, []bool{true, false, false, false, false}) {
		t.Errorf("BH = %v", got)
	}
	if got := BenjaminiHochberg([]float64{0.02, 0.04, 0.5}, 0.05); !slices.Equal(got, []bool{false, false, false}) {
		t.Errorf("BH = %v", got)
	}
	if e := decileEdges(fineValues(split(map[string]uint64{"1": 10, "2": 10, "3": 10, "4": 10, "5": 10, "6": 10, "7": 10, "8": 10, "9": 10, "10": 10}))); !slices.Equal(e, []float64{2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Errorf("decile edges %v", e)
	}
}

func TestSpanSplit(t *testing.T) {
	h := time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)
	at := func(mins ...int) []time.Time {
		out := make([]time.Time, len(mins))
		for i, m := range mins {
			out[i] = h.Add(time.Duration(m) * time.Minute)
		}
		return out
	}
	// 4 predictions in each of the first 20 minutes, 30 at 12:30, none else.
	counts := map[time.Time]uint64{}
	for m := range 20 {
		counts[h.Add(time.Duration(m)*time.Minute)] = 4
	}
	counts[h.Add(30*time.Minute)] = 30
	f := func(sp span, want ...span) {
		t.Helper()
		got := sp.split(time.Minute, counts, 40)
		if len(got) != len(want) {
			t.Fatalf("split(%v..%v) = %d spans, want %d: %+v", sp.from, sp.to, len(got), len(want), got)
		}
		for i := range got {
			g, w := got[i], want[i]
			if !g.from.Equal(w.from) || !g.to.Equal(w.to) || g.all != w.all || !slices.EqualFunc(g.starts, w.starts, time.Time.Equal) {
				t.Errorf("split[%d] = %+v, want %+v", i, g, w)
			}
		}
	}
	var mins []int
	for m := range 25 {
		mins = append(mins, m)
	}
	all := spans(at(mins...), time.Minute, time.Hour, 6*time.Hour, 500, 10)[0]
	f(all,
		span{from: h, to: h.Add(10 * time.Minute), starts: at(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), all: true},
		span{from: h.Add(10 * time.Minute), to: h.Add(25 * time.Minute), starts: at(10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24), all: true})
	short := span{from: h, to: h.Add(5 * time.Minute), starts: at(0, 4)}
	f(short, short)
	f(span{from: h, to: h.Add(41 * time.Minute), starts: at(0, 9, 19, 30, 40)},
		span{from: h, to: h.Add(20 * time.Minute), starts: at(0, 9, 19)},
		span{from: h.Add(30 * time.Minute), to: h.Add(41 * time.Minute), starts: at(30, 40)})
}

func TestFlagThresholds(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	a := &Aggregator{cfg: Config{PSIThreshold: 0.2, JSThreshold: 0.1, PValue: 0.05, MinSamples: 1000, MinEffect: 0.05, NullRateThreshold: 0.1}}
	nan := math.NaN()
	tests := []struct {
		name string
		row  DriftRow
		want []string
	}{
		{"small window, noisy PSI and JS", DriftRow{FeatureType: "numeric", SampleCount: 160, PSI: f(0.3), JSDist: f(0.14), pValue: 0.4}, []string{}},
		{"small window, nulls do not count", DriftRow{FeatureType: "numeric", SampleCount: 1500, NullRate: 0.5, BaselineNullRate: 0.5, PSI: f(0.3), pValue: 0.4}, []string{}},
		{"more nulls, large window", DriftRow{FeatureType: "numeric", SampleCount: 5000, NullRate: 0.3, BaselineNullRate: 0.05, pValue: 0.4}, []string{"null_rate"}},
		{"more nulls, below the threshold", DriftRow{FeatureType: "numeric", SampleCount: 5000, NullRate: 0.12, BaselineNullRate: 0.05, pValue: 0.4}, []string{}},
		{"more nulls, small window", DriftRow{FeatureType: "categorical", SampleCount: 160, NullRate: 0.3, pValue: 0.4}, []string{}},
		{"feature gone, small window", DriftRow{FeatureType: "numeric", SampleCount: 160, NullRate: 1, BaselineNullRate: 0.02, pValue: nan}, []string{"null_rate"}},
		{"optional feature absent by chance", DriftRow{FeatureType: "numeric", SampleCount: 3, NullRate: 1, BaselineNullRate: 0.5, pValue: nan}, []string{}},
		{"large window, PSI", DriftRow{FeatureType: "numeric", SampleCount: 5000, PSI: f(0.3), JSDist: f(0.05), pValue: 0.4}, []string{"psi"}},
		{"small window, significant test", DriftRow{FeatureType: "categorical", SampleCount: 160, PSI: f(0.3), LInf: f(0.2), pValue: 1e-9}, []string{"chi2"}},
		// With many values every test is significant: the effect decides.
		{"busy model, tiny KS statistic", DriftRow{FeatureType: "numeric", SampleCount: 1e6, PSI: f(0.0005), KS: f(0.005), pValue: 3e-11}, []string{}},
		{"busy model, KS statistic past min_effect", DriftRow{FeatureType: "numeric", SampleCount: 1e6, PSI: f(0.05), KS: f(0.08), pValue: 1e-40}, []string{"ks"}},
		{"a few new categories", DriftRow{FeatureType: "categorical", SampleCount: 1000, PSI: f(0.01), LInf: f(0.003), pValue: 1e-16}, []string{}},
		{"significant test without an effect size", DriftRow{FeatureType: "numeric", SampleCount: 5000, pValue: 1e-9}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := []DriftRow{tt.row}
			a.flag(rows)
			if got := rows[0].Reasons; strings.Join(got, ",") != strings.Join(tt.want, ",") || rows[0].Flagged != (len(tt.want) > 0) {
				t.Fatalf("reasons %v flagged %v, want %v", got, rows[0].Flagged, tt.want)
			}
		})
	}
	// min_effect 0: the p-value alone.
	a.cfg.MinEffect = 0
	rows := []DriftRow{{FeatureType: "numeric", SampleCount: 1e6, KS: f(0.005), pValue: 3e-11}}
	if a.flag(rows); strings.Join(rows[0].Reasons, ",") != "ks" {
		t.Errorf("min_effect 0: reasons %v, want ks", rows[0].Reasons)
	}
}

// TestFlagModelOverrides: drift.models raises one model's PSI threshold,
// lowers one feature's, and ignores a feature, which is then neither
// flagged nor counted in the Benjamini-Hochberg family of the others;
// other models keep the global thresholds.
func TestFlagModelOverrides(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	a := &Aggregator{cfg: Config{PSIThreshold: 0.2, JSThreshold: 0.1, PValue: 0.05, MinSamples: 100, NullRateThreshold: 0.1,
		DriftModels: map[string]DriftModel{"m": {Thresholds: Thresholds{PSI: 0.5}, Features: map[string]Thresholds{"z": {PSI: 0.05}},
			Ignore: map[string]bool{"id": true}}}}}
	window := func(model string) []DriftRow {
		return []DriftRow{
			{ModelID: model, Feature: "x", FeatureType: "numeric", SampleCount: 5000, PSI: f(0.3), pValue: 0.5},
			{ModelID: model, Feature: "y", FeatureType: "numeric", SampleCount: 5000, PSI: f(0.01), KS: f(0.1), pValue: 0.015},
			{ModelID: model, Feature: "id", FeatureType: "categorical", SampleCount: 5000, PSI: f(9), LInf: f(0.9), NullRate: 0.5, pValue: 0.9},
			{ModelID: model, Feature: "z", FeatureType: "numeric", SampleCount: 5000, PSI: f(0.1), pValue: 0.9},
		}
	}
	reasons := func(rows []DriftRow) string {
		var out []string
		for _, r := range rows {
			if r.Flagged != (len(r.Reasons) > 0) {
				t.Errorf("%s: flagged %v with reasons %v", r.Feature, r.Flagged, r.Reasons)
			}
			out = append(out, r.Feature+"="+strings.Join(r.Reasons, ","))
		}
		return strings.Join(out, " ")
	}
	tests := []struct{ model, want string }{
		// y's p-value 0.015, the smallest, is significant in the family of x,
		// y and z (0.015 <= 1/3 × 0.05) but not with id in it (0.015 > 1/4 ×
		// 0.05). z has a PSI threshold of its own.
		{"m", "x= y=ks id= z=psi"},
		{"other", "x=psi y= id=psi,null_rate z="},
	}
	for _, tt := range tests {
		rows := window(tt.model)
		a.flag(rows)
		if got := reasons(rows); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.model, got, tt.want)
		}
	}
}

func TestSRMSplit(t *testing.T) {
	variants := func(ns map[string]uint64) []*abVariant {
		var vs []*abVariant
		for _, name := range slices.Sorted(maps.Keys(ns)) {
			vs = append(vs, &abVariant{variant: name, n: ns[name]})
		}
		return vs
	}
	tests := []struct {
		name       string
		split      map[string]float64
		counts     map[string]uint64
		wantShares []float64
		wantP      func(float64) bool
		known      []string // the experiment's recent arms (knownVariants)
	}{
		{"planned 90/10 met", map[string]float64{"control": 90, "treatment": 10},
			map[string]uint64{"control": 9000, "treatment": 1000}, []float64{0.9, 0.1}, func(p float64) bool { return p > 0.99 }, nil},
		{"equal by default, 90/10 seen", nil,
			map[string]uint64{"control": 9000, "treatment": 1000}, []float64{0.5, 0.5}, func(p float64) bool { return p < 1e-12 }, nil},
		{"planned 90/10, 50/50 seen", map[string]float64{"control": 0.9, "treatment": 0.1},
			map[string]uint64{"control": 5000, "treatment": 5000}, []float64{0.9, 0.1}, func(p float64) bool { return p < 1e-12 }, nil},
		{"unplanned variant", map[string]float64{"a": 1, "b": 1},
			map[string]uint64{"a": 1000, "b": 1000, "c": 1}, []float64{0.5, 0.5, 0}, func(p float64) bool { return p == 0 }, nil},
		{"only unplanned variants", map[string]float64{"a": 1, "b": 1},
			map[string]uint64{"x": 1000, "y": 1000}, []float64{0, 0}, func(p float64) bool { return p == 0 }, nil},
		{"one unplanned variant alone", map[string]float64{"a": 1, "b": 1},
			map[string]uint64{"x": 1000}, []float64{0}, func(p float64) bool { return p == 0 }, nil},
		// A planned arm without traffic is the worst mismatch, not one to
		// leave out (leaving it out gave p = 1).
		{"a planned variant without traffic", map[string]float64{"a": 1, "b": 1},
			map[string]uint64{"a": 1000}, []float64{0.5}, func(p float64) bool { return p < 1e-12 }, nil},
		{"a planned variant of three without traffic", map[string]float64{"a": 1, "b": 1, "c": 2},
			map[string]uint64{"a": 500, "b": 500}, []float64{0.25, 0.25}, func(p float64) bool { return p < 1e-12 }, nil},
		{"planned 50/50, one prediction in the window", map[string]float64{"a": 1, "b": 1},
			map[string]uint64{"a": 1}, []float64{0.5}, func(p float64) bool { return math.Abs(p-math.Erfc(math.Sqrt(0.5))) < 1e-12 }, nil},
		{"a stopped variant's remaining traffic", map[string]float64{"a": 1, "b": 1, "old": 0},
			map[string]uint64{"a": 1000, "b": 1000, "old": 50}, []float64{0.5, 0.5, 0}, func(p float64) bool { return p > 0.99 }, nil},
		{"a stopped variant's traffic: one degree of freedom", map[string]float64{"a": 1, "b": 1, "old": 0},
			map[string]uint64{"a": 5100, "b": 4900, "old": 50}, []float64{0.5, 0.5, 0}, func(p float64) bool { return math.Abs(p-0.0455002638963) < 1e-9 }, nil},
		{"a stopped variant without traffic", map[string]float64{"a": 1, "b": 1, "old": 0},
			map[string]uint64{"a": 1000, "b": 1000}, []float64{0.5, 0.5}, func(p float64) bool { return p > 0.99 }, nil},
		{"no split, one variant seen", nil,
			map[string]uint64{"a": 1000}, []float64{1}, func(p float64) bool { return p == 1 }, nil},
		// Without a split, an arm the experiment served recently is
		// expected: one that stopped receiving traffic is the worst
		// mismatch (it passed with p = 1 as an experiment of one variant).
		{"no split, a known arm without traffic", nil,
			map[string]uint64{"a": 1000}, []float64{0.5}, func(p float64) bool { return p < 1e-12 }, []string{"a", "b"}},
		{"no split, known arms all seen", nil,
			map[string]uint64{"a": 1000, "b": 1010}, []float64{0.5, 0.5}, func(p float64) bool { return p > 0.8 }, []string{"a", "b"}},
		{"no split, a variant seen but not yet known", nil,
			map[string]uint64{"a": 1000, "b": 1000, "c": 1000}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, func(p float64) bool { return p > 0.99 }, []string{"a", "b"}},
		{"no split, one of three known arms without traffic", nil,
			map[string]uint64{"a": 500, "b": 500}, []float64{1.0 / 3, 1.0 / 3}, func(p float64) bool { return p < 1e-12 }, []string{"a", "b", "c"}},
		{"a split is not widened by known arms", map[string]float64{"a": 1, "b": 1},
			map[string]uint64{"a": 1000, "b": 1000}, []float64{0.5, 0.5}, func(p float64) bool { return p > 0.99 }, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Aggregator{cfg: Config{ABSplit: map[string]map[string]float64{"exp": tt.split}}}
			shares, p := a.srm("exp", variants(tt.counts), tt.known)
			for i := range shares {
				if math.Abs(shares[i]-tt.wantShares[i]) > 1e-12 {
					t.Errorf("shares %v, want %v", shares, tt.wantShares)
					break
				}
			}
			if !tt.wantP(p) {
				t.Errorf("p = %v", p)
			}
		})
	}
}

func TestFromConfigAB(t *testing.T) {
	c := config.DefaultAggregator()
	c.AB.Confidence = 0.9
	c.AB.Experiments = map[string]config.Experiment{
		"e1": {Control: "ctl", Split: map[string]float64{"ctl": 90, "t": 10}},
		"e2": {Control: "base"},
		"e3": {Split: map[string]float64{"x": 1, "y": 3}},
	}
	got := FromConfig(c)
	if got.ABConfidence != 0.9 {
		t.Errorf("confidence %v", got.ABConfidence)
	}
	if want := map[string]string{"e1": "ctl", "e2": "base"}; !maps.Equal(got.ABControl, want) {
		t.Errorf("controls %v, want %v", got.ABControl, want)
	}
	if len(got.ABSplit) != 2 || got.ABSplit["e1"]["t"] != 10 || got.ABSplit["e3"]["y"] != 3 {
		t.Errorf("splits %v", got.ABSplit)
	}
}

func TestBackfillWindows(t *testing.T) {
	a := &Aggregator{cfg: Config{AllowedLateness: time.Minute, LabelHorizon: 6 * time.Hour},
		grans: newGrans([]time.Duration{time.Minute, time.Hour, 24 * time.Hour})}
	at := func(s string) time.Time {
		t.Helper()
		ts, err := time.Parse(time.DateTime, "2026-11-26 "+s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	now := at("12:30:20")
	tests := []struct {
		name          string
		from, to      time.Time
		wantN         []int // per granularity
		wantFirstLast [][2]string
		wantFinal     []int
		shift         time.Duration // of wantFirstLast
		wantOpen      int           // base windows of the range not closed
	}{
		// 1m windows close by 12:29 (allowed lateness 1m), the 12:00 hour
		// and the day are still open: left to the schedule. The 11:00 hour
		// gets all of its minutes.
		{"up to the future", at("11:10:30"), at("13:00:00"), []int{89, 1, 0},
			[][2]string{{"11:00:00", "12:28:00"}, {"11:00:00", "11:00:00"}}, []int{0, 0, 0}, 0, 31},
		// Only the windows overlapping the range: today is not closed.
		{"one hour", at("03:00:00"), at("04:00:00"), []int{60, 1, 0},
			[][2]string{{"03:00:00", "03:59:00"}, {"03:00:00", "03:00:00"}}, []int{60, 1, 0}, 0, 0},
		// Yesterday is closed: its day window, with all of its minutes.
		{"one hour yesterday", at("03:00:00").Add(-24 * time.Hour), at("04:00:00").Add(-24 * time.Hour), []int{1440, 1, 1},
			[][2]string{{"00:00:00", "23:59:00"}, {"03:00:00", "03:00:00"}, {"00:00:00", "00:00:00"}}, []int{1440, 1, 1}, -24 * time.Hour, 0},
		{"nothing closed", at("12:29:30"), at("12:40:00"), []int{0, 0, 0}, nil, []int{0, 0, 0}, 0, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans, open := a.backfillSpans(tt.from, tt.to, now)
			// Predictions in every base window: the spans' windows, each.
			var full []time.Time
			for i := range spans[0].n {
				full = append(full, spans[0].first.Add(time.Duration(i)*a.grans[0].d))
			}
			wins, empty := a.backfillKeep(spans, full, now)
			if empty != 0 {
				t.Errorf("%d windows left out as empty, want none", empty)
			}
			if open != tt.wantOpen {
				t.Errorf("%d base windows not closed, want %d", open, tt.wantOpen)
			}
			for i, ws := range wins {
				if len(ws) != tt.wantN[i] {
					t.Fatalf("%s: %d windows, want %d", a.grans[i].name, len(ws), tt.wantN[i])
				}
				finals := 0
				for _, w := range ws {
					if w.final {
						finals++
					}
				}
				if finals != tt.wantFinal[i] {
					t.Errorf("%s: %d final, want %d", a.grans[i].name, finals, tt.wantFinal[i])
				}
				if len(ws) > 0 {
					fl := tt.wantFirstLast[i]
					if ws[0].start != at(fl[0]).Add(tt.shift) || ws[len(ws)-1].start != at(fl[1]).Add(tt.shift) {
						t.Errorf("%s: %v .. %v, want %v", a.grans[i].name, ws[0].start, ws[len(ws)-1].start, fl)
					}
				}
			}
		})
	}
}

// TestBackfillCentury: a range typed a century wide with one minute of
// predictions keeps that minute, its hour and its day, counts the rest of
// the closed windows as empty, and enumerates none of them (it once built
// a list of every minute since 2000, gigabytes, before any work).
func TestBackfillCentury(t *testing.T) {
	a := &Aggregator{cfg: Config{AllowedLateness: time.Minute, LabelHorizon: 6 * time.Hour},
		grans: newGrans([]time.Duration{time.Minute, time.Hour, 24 * time.Hour})}
	now := time.Date(2026, 11, 26, 12, 30, 20, 0, time.UTC)
	from, to := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC)
	spans, open := a.backfillSpans(from, to, now)
	minute := time.Date(2026, 11, 25, 7, 42, 0, 0, time.UTC)
	wins, empty := a.backfillKeep(spans, []time.Time{minute}, now)
	for i, want := range []time.Time{minute, minute.Truncate(time.Hour), minute.Truncate(24 * time.Hour)} {
		if len(wins[i]) != 1 || !wins[i][0].start.Equal(want) || !wins[i][0].final {
			t.Errorf("%s: %v, want the final window at %v", a.grans[i].name, wins[i], want)
		}
	}
	// Closed by 12:29 (minutes), 12:00 (hours), midnight (days).
	closed := []time.Time{now.Truncate(time.Minute).Add(-time.Minute), now.Truncate(time.Hour), now.Truncate(24 * time.Hour)}
	wantEmpty := -3
	for i, c := range closed {
		wantEmpty += int(c.Sub(from) / a.grans[i].d)
	}
	if empty != wantEmpty {
		t.Errorf("%d empty windows, want %d", empty, wantEmpty)
	}
	if wantOpen := int(to.Sub(closed[0]) / time.Minute); open != wantOpen {
		t.Errorf("%d base windows not closed, want %d", open, wantOpen)
	}
}

// TestDriftStatsEmptyReference: a previous window without any value of the
// feature is no reference (no row), and a window without values against a
// reference is a null-rate-only row.
func TestDriftStatsEmptyReference(t *testing.T) {
	for _, typ := range []string{"numeric", "categorical"} {
		h := hist{typ: typ, kind: "fine", keys: []string{"1", "2"}, counts: []uint64{5, 3}}
		empty := hist{typ: typ, kind: "fine"}
		if row, ok := driftStats(h, 8, nil, &empty, 10); ok {
			t.Errorf("%s: a row against an empty previous window: %+v", typ, row)
		}
		row, ok := driftStats(empty, 8, nil, &h, 8)
		if !ok || row.NullRate != 1 || row.BaselineNullRate != 0 || row.PSI != nil || !math.IsNaN(row.pValue) {
			t.Errorf("%s: feature gone: ok %v, %+v", typ, ok, row)
		}
	}
}

// TestDriftStatsListedOther: a baseline that lists a value named __other__
// measures like one that has its share in other_proportion (the states
// count that value and the unlisted ones in one key), so a window that
// matches the reference does not drift.
func TestDriftStatsListedOther(t *testing.T) {
	h := hist{typ: "categorical", kind: "bins", keys: []string{"a", featureOther}, counts: []uint64{500, 500}}
	listed := baseline{typ: "categorical", n: 1000, cats: []string{featureOther, "a"}, catProps: []float64{0.3, 0.5}, other: 0.2}
	folded := baseline{typ: "categorical", n: 1000, cats: []string{"a"}, catProps: []float64{0.5}, other: 0.5}
	got, ok := driftStats(h, 1000, &listed, nil, 0)
	want, wantOK := driftStats(h, 1000, &folded, nil, 0)
	if !ok || !wantOK {
		t.Fatalf("ok %v and %v, want rows", ok, wantOK)
	}
	for _, m := range []struct {
		name      string
		got, want *float64
	}{{"psi", got.PSI, want.PSI}, {"js_distance", got.JSDist, want.JSDist}, {"linf", got.LInf, want.LInf}, {"chi2_p", got.Chi2P, want.Chi2P}} {
		if m.got == nil || m.want == nil || math.Abs(*m.got-*m.want) > 1e-12 {
			t.Errorf("%s = %v, want %v as with __other__ in other_proportion", m.name, deref(m.got), deref(m.want))
		}
	}
	if got.PSI == nil || *got.PSI > 1e-9 {
		t.Errorf("psi = %v for a window matching its reference, want 0", deref(got.PSI))
	}
	if len(listed.cats) != 2 || listed.other != 0.2 {
		t.Errorf("baseline changed: %+v", listed)
	}
}

func TestChPairs(t *testing.T) {
	ws := time.Date(2026, 11, 25, 12, 1, 0, 0, time.UTC)
	tests := []struct {
		name  string
		pairs []versionWindow
		want  string
	}{
		{"none", nil, "[]"},
		{"two", []versionWindow{{ws, "m", "v1"}, {ws.Add(time.Minute), "m", "v2"}},
			"[('2026-11-25 12:01:00','m','v1'),('2026-11-25 12:02:00','m','v2')]"},
		{"quotes and backslashes stay inside the literal", []versionWindow{{ws, `a'),('x`, `v\`}},
			`[('2026-11-25 12:01:00','a\'),(\'x','v\\')]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chPairs(tt.pairs); got != tt.want {
				t.Errorf("chPairs = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestChunkPairs(t *testing.T) {
	ws := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var pairs []versionWindow
	for i := range 7 {
		pairs = append(pairs, versionWindow{ws: ws.Add(time.Duration(i) * time.Minute), model: "m", version: "v"})
	}
	tests := []struct {
		n    int
		want []int
	}{{3, []int{3, 3, 1}}, {7, []int{7}}, {10, []int{7}}}
	for _, tt := range tests {
		var got []int
		total := 0
		for _, c := range chunkPairs(pairs, tt.n) {
			got = append(got, len(c))
			if !c[0].ws.Equal(pairs[total].ws) {
				t.Errorf("n=%d: chunk starts at %v, want %v", tt.n, c[0].ws, pairs[total].ws)
			}
			total += len(c)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("n=%d: chunk sizes %v, want %v", tt.n, got, tt.want)
		}
	}
	if got := chunkPairs(nil, 3); len(got) != 0 {
		t.Errorf("no pairs: %d chunks", len(got))
	}
}

// TestCoverageSpans: the raw passes read only windows with uncovered
// predictions, as a whole range only when that is all of them, and skip
// the covered pairs of exactly their windows.
func TestCoverageSpans(t *testing.T) {
	w := func(i int) time.Time { return time.Date(2026, 11, 25, 12, i, 0, 0, time.UTC) }
	sp := span{from: w(0), to: w(3), starts: []time.Time{w(0), w(1), w(2)}, all: true}
	c := coverage{
		covered: []versionWindow{{w(0), "m", "v1"}, {w(1), "m", "v1"}, {w(1), "m", "v2"}},
		raw:     map[time.Time]uint64{w(0): 5, w(2): 7},
	}
	raw := c.rawSpan(sp)
	if !slices.Equal(raw.starts, []time.Time{w(0), w(2)}) || raw.all {
		t.Errorf("rawSpan = %+v, want windows 0 and 2 as a list", raw)
	}
	all := coverage{raw: map[time.Time]uint64{w(0): 1, w(1): 1, w(2): 1}}
	if got := all.rawSpan(sp); !got.all || len(got.starts) != 3 {
		t.Errorf("nothing covered: rawSpan = %+v, want the whole range", got)
	}
	if got := within(c.covered, w(1), w(2)); len(got) != 2 || got[0].version != "v1" || got[1].version != "v2" {
		t.Errorf("within(1, 2) = %v, want window 1's two pairs", got)
	}
	if got := within(c.covered, w(2), w(3)); len(got) != 0 {
		t.Errorf("within(2, 3) = %v, want none", got)
	}

	// feature_values_1m: window 1 lacks one version, so it alone is read
	// raw, skipping its other version.
	v := coverage{
		values:    []versionWindow{{w(0), "m", "v1"}, {w(0), "m", "v2"}, {w(1), "m", "v1"}, {w(2), "m", "v1"}},
		valuesRaw: map[time.Time]bool{w(1): true},
	}
	if got := v.valuesRawSpan(sp); !slices.Equal(got.starts, []time.Time{w(1)}) || got.all {
		t.Errorf("valuesRawSpan = %+v, want window 1 as a list", got)
	}
	if got := v.valuesSkip(); !slices.Equal(got, []versionWindow{{w(1), "m", "v1"}}) {
		t.Errorf("valuesSkip = %v, want window 1's covered version", got)
	}
	if got := (coverage{values: v.values}).valuesSkip(); len(got) != 0 {
		t.Errorf("nothing read raw: valuesSkip = %v, want none", got)
	}
}

// TestLiftInterval: the delta method's interval of v/c - 1, never a point
// where a variant saw no events (a small window without errors is not
// certain to have none) and never below -1.
func TestLiftInterval(t *testing.T) {
	q := NormalQuantile(0.975)
	rate := func(s, n uint64) *abVariant { return &abVariant{errors: s, n: n} }
	tests := []struct {
		name string
		v, c *abVariant
		want func(lift, lo, hi float64) bool
	}{
		{"textbook 120/1000 against 100/1000", rate(120, 1000), rate(100, 1000), func(lift, lo, hi float64) bool {
			se := math.Sqrt(0.12*0.88/1000/0.01 + 0.0144*0.1*0.9/1000/0.0001)
			return math.Abs(lo-(0.2-q*se)) < 1e-12 && math.Abs(hi-(0.2+q*se)) < 1e-12
		}},
		{"no errors in the variant", rate(0, 100), rate(5, 100), func(lift, lo, hi float64) bool {
			return lift == -1 && lo == -1 && hi > -0.9
		}},
		{"one error in the variant", rate(1, 100), rate(5, 100), func(lift, lo, hi float64) bool {
			return lo == -1 && lo <= lift && lift < hi
		}},
		{"every prediction an error in both", rate(100, 100), rate(100, 100), func(lift, lo, hi float64) bool {
			return lift == 0 && lo < 0 && hi > 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, c := float64(tt.v.errors)/float64(tt.v.n), float64(tt.c.errors)/float64(tt.c.n)
			lo, hi := liftInterval(v, c, rateVar(tt.v, "error_rate"), rateVar(tt.c, "error_rate"), q)
			if lift := v/c - 1; !tt.want(lift, lo, hi) {
				t.Errorf("lift %v interval [%v, %v]", lift, lo, hi)
			}
		})
	}
}

func TestServedIn(t *testing.T) {
	h := func(n int) time.Time {
		return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Hour)
	}
	served := []time.Time{h(0), h(1), h(48), h(49)} // a pause of two days
	tests := []struct {
		name   string
		lo, hi time.Time
		want   bool
	}{
		{"window served", h(1), h(2), true},
		{"within the lookback", h(2).Add(-24 * time.Hour), h(3), true},
		{"in the pause, past the lookback", h(30).Add(-24 * time.Hour), h(31), false},
		{"back after the pause", h(49).Add(-24 * time.Hour), h(50), true},
		{"before the first", h(-30), h(-1), false},
		{"hi exclusive", h(-5), h(0), false},
		{"after the last", h(74), h(75), false},
	}
	for _, tt := range tests {
		if got := servedIn(served, tt.lo, tt.hi); got != tt.want {
			t.Errorf("%s: servedIn = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// split is a histogram map as hist's keys and counts, sorted by key.
func split(m map[string]uint64) ([]string, []uint64) {
	keys := slices.Sorted(maps.Keys(m))
	counts := make([]uint64, len(keys))
	for i, k := range keys {
		counts[i] = m[k]
	}
	return keys, counts
}

// deref prints a nil metric as nil rather than an address.
func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}
