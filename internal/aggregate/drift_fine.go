package aggregate

import (
	"cmp"
	"math"
	"slices"
	"strconv"
)

// A numeric feature without a baseline is compared with the previous
// window's deciles; its histogram is fine (values rounded to 3 significant
// digits as text: ~1,200 keys a minute for the bench's scores). Each such
// histogram serves twice, as a window and as the next window's reference,
// so its keys are parsed and sorted once (parseFine) rather than parsed in
// each of decileEdges and two binFine calls (0.8 of the 5.7 CPU-s
// driftOutputs took over BenchmarkHour).

// fineValue is one value of a fine histogram and its count.
type fineValue struct {
	v float64
	c uint64
}

// isFine tells whether h is a fine histogram.
func (h *hist) isFine() bool { return h.typ == "numeric" && h.kind != "bins" }

// parseFine sets h.fine, h being fine, from h.keys: the values that
// parse, sorted ascending (cmp.Compare: NaN first), and drops the keys,
// which nothing reads after: once groupsDrift has stored the parsed
// histograms, the values take the keys' place in memory rather than adding
// to it (a backfill's span holds many).
func (h *hist) parseFine() {
	h.fine = fineValues(h.keys, h.counts)
	h.keys = nil
}

// values returns h's values as parseFine does, from h.fine when it holds
// them (numeric bins without a baseline are parsed where used).
func (h *hist) values() []fineValue {
	if h.fine != nil {
		return h.fine
	}
	return fineValues(h.keys, h.counts)
}

func fineValues(keys []string, counts []uint64) []fineValue {
	vs := make([]fineValue, 0, len(keys))
	for i, k := range keys {
		v, err := strconv.ParseFloat(k, 64)
		if err != nil {
			continue
		}
		vs = append(vs, fineValue{v, counts[i]})
	}
	// slices.SortFunc: 27 % less than sort.Slice's reflection swapper (BenchmarkDecileEdges).
	slices.SortFunc(vs, func(a, b fineValue) int { return cmp.Compare(a.v, b.v) })
	return vs
}

// decileEdges returns the distinct cut points at the 10%, ..., 90% quantiles
// of a fine histogram's sorted values: up to 10 bins, value x in bin
// count(edges <= x) as for baselines.
func decileEdges(vs []fineValue) []float64 {
	var n uint64
	for _, x := range vs {
		n += x.c
	}
	var edges []float64
	var cum uint64
	next := 1
	for i, x := range vs {
		cum += x.c
		for next <= 9 && float64(cum) >= float64(n)*float64(next)/10 {
			// The cut goes above this value so that it stays in the lower bin.
			// Never NaN, which sorts first: the cuts after it would compare false.
			if i+1 < len(vs) && !math.IsNaN(vs[i+1].v) && (len(edges) == 0 || edges[len(edges)-1] < vs[i+1].v) {
				edges = append(edges, vs[i+1].v)
			}
			next++
		}
	}
	return edges
}

// binFine counts a fine histogram's sorted values into the bins of edges
// (ascending and without NaN, as decileEdges makes them): value v in bin
// count(edges <= v), NaN in the last. (Predictions with NaN are rejected
// at ingest; rows inserted otherwise may hold it.)
func binFine(vs []fineValue, edges []float64) []float64 {
	out := make([]float64, len(edges)+1)
	e := 0
	for _, x := range vs {
		if math.IsNaN(x.v) {
			out[len(edges)] += float64(x.c)
			continue
		}
		for e < len(edges) && edges[e] <= x.v {
			e++
		}
		out[e] += float64(x.c)
	}
	return out
}
