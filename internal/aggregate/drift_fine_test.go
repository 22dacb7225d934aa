package aggregate

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestBinFineMatchesSearch: counting sorted values into the bins in one
// walk gives what binning each value's text by binary search gave, for
// histograms with unparsable keys, NaN, infinities and values on the edges.
func TestBinFineMatchesSearch(t *testing.T) {
	// The former binning, value by value.
	search := func(keys []string, counts []uint64, edges []float64) []float64 {
		out := make([]float64, len(edges)+1)
		for j, k := range keys {
			v, err := strconv.ParseFloat(k, 64)
			if err != nil {
				continue
			}
			out[sort.Search(len(edges), func(i int) bool { return edges[i] > v })] += float64(counts[j])
		}
		return out
	}
	odd := []string{"nan", "-nan", "inf", "-inf", "x", "", "1e400"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		hist := func() ([]string, []uint64) {
			switch i {
			case 0: // NaN with most of the counts: sorted first, binned last
				return []string{"nan", "-nan", "1", "2"}, []uint64{50, 50, 1, 1}
			case 1: // two NaN keys (not from ClickHouse): no NaN cut
				return []string{"nan", "NaN", "1", "2"}, []uint64{5, 5, 1, 1}
			}
			var keys []string
			var counts []uint64
			for range rng.IntN(60) {
				k := strconv.FormatFloat(float64(rng.IntN(40))/8-2, 'g', 3, 64)
				if rng.IntN(20) == 0 {
					k = odd[rng.IntN(len(odd))]
				}
				keys, counts = append(keys, k), append(counts, uint64(1+rng.IntN(9)))
			}
			return keys, counts
		}
		refKeys, refCounts := hist()
		keys, counts := hist()
		edges := decileEdges(fineValues(refKeys, refCounts))
		if slices.ContainsFunc(edges, math.IsNaN) {
			t.Fatalf("case %d: keys %q counts %v: NaN among the edges %v", i, refKeys, refCounts, edges)
		}
		for _, c := range []struct {
			keys   []string
			counts []uint64
		}{{refKeys, refCounts}, {keys, counts}} {
			want := search(c.keys, c.counts, edges)
			if got := binFine(fineValues(c.keys, c.counts), edges); !slices.Equal(got, want) {
				t.Fatalf("case %d: keys %q counts %v edges %v: binFine = %v, by search %v", i, c.keys, c.counts, edges, got, want)
			}
		}
	}
}

func TestForEach(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 1000} {
		seen := make([]atomic.Int32, n)
		forEach(n, func(i int) { seen[i].Add(1) })
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("n %d: f(%d) called %d times, want once", n, i, c)
			}
		}
	}
}

// TestGroupsDrift: the statistics computed on all cores (groupsDrift, with
// its fine histograms parsed once) are those of each group computed alone
// from the histograms as read (parsed where used). Under -race in
// scripts/test.sh: the groups share the maps they read.
func TestGroupsDrift(t *testing.T) {
	h := time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	hists := map[histKey]hist{}
	groups := map[mvw][]histKey{}
	totals := map[histKey]uint64{}
	bases := map[[3]string]baseline{}
	var order []mvw
	for m := range 3 {
		for v := range 2 {
			model, version := fmt.Sprint("m", m), fmt.Sprint("v", v)
			bases[[3]string{model, version, "binned"}] = baseline{typ: "numeric", n: 1000, nullRate: 0.1,
				edges: []float64{1, 2, 3}, props: []float64{0.25, 0.25, 0.25, 0.25}}
			for w := range 6 {
				ws := h.Add(time.Duration(w) * time.Minute)
				grp := mvw{model, version, ws}
				order = append(order, grp)
				totals[histKey{model: model, version: version, ws: ws}] = 400
				add := func(feature, typ, kind string, key func() string) {
					m := map[string]uint64{}
					for range 50 + rng.IntN(300) {
						m[key()]++
					}
					k := histKey{model: model, version: version, feature: feature, ws: ws}
					hk := hist{typ: typ, kind: kind}
					hk.keys, hk.counts = split(m)
					hists[k] = hk
					groups[grp] = append(groups[grp], k)
				}
				shift := float64(w%3) / 10 // some windows drift
				add("__score__", "numeric", "fine", func() string {
					return strconv.FormatFloat(math.Round((rng.Float64()+shift)*1000)/1000, 'g', 3, 64)
				})
				add("binned", "numeric", "bins", func() string { return strconv.Itoa(rng.IntN(4)) })
				add("country", "categorical", "values", func() string { return fmt.Sprint("c", rng.IntN(5+w)) })
				// Bins whose baseline is gone: compared with the window
				// before as values (parsed where used, never by parseFine).
				add("unbased", "numeric", "bins", func() string { return strconv.Itoa(rng.IntN(4)) })
				if w%2 == 1 { // a feature missing from every prediction (addMissing's empty histogram)
					k := histKey{model: model, version: version, feature: "gone", ws: ws}
					hists[k] = hist{typ: "numeric", kind: "fine"}
					groups[grp] = append(groups[grp], k)
				} else {
					add("gone", "numeric", "fine", func() string { return strconv.Itoa(rng.IntN(50)) })
				}
			}
		}
	}
	// Each group alone, on a copy of the histograms as read.
	want := make([]string, len(order))
	for i, grp := range order {
		keys := slices.Clone(groups[grp])
		want[i] = rowsText(groupDrift(grp, keys, maps.Clone(hists), bases, totals, time.Minute))
	}
	got := groupsDrift(order, groups, hists, bases, totals, time.Minute)
	if len(got) != len(order) {
		t.Fatalf("%d groups of rows, want %d", len(got), len(order))
	}
	withPSI := 0
	for i, grp := range order {
		if g := rowsText(got[i]); g != want[i] {
			t.Errorf("%v: got\n%s\nwant\n%s", grp, g, want[i])
		}
		withPSI += strings.Count(want[i], "psi=")
	}
	if withPSI == 0 {
		t.Fatal("no row with a PSI: the data tests nothing")
	}
}

// rowsText renders drift rows for comparison, pointers as their values.
func rowsText(rows []DriftRow) string {
	var b strings.Builder
	f := func(name string, p *float64) {
		if p != nil {
			fmt.Fprintf(&b, " %s=%.12g", name, *p)
		}
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "%s/%s %s %v n=%d null=%.12g/%.12g", r.ModelID, r.ModelVersion, r.Feature, r.WindowStart.Format("15:04"),
			r.SampleCount, r.NullRate, r.BaselineNullRate)
		f("psi", r.PSI)
		f("ks", r.KS)
		f("ksp", r.KSP)
		f("js", r.JSDist)
		f("chi2p", r.Chi2P)
		f("linf", r.LInf)
		if r.ReferenceStart != nil {
			fmt.Fprintf(&b, " ref=%s", r.ReferenceStart.Format("15:04"))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
