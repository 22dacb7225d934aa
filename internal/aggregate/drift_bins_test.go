package aggregate

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestDriftStatesBins checks the numeric bin counts of drift_window_states against
// arrayCount(e -> e <= x, bin_edges) computed here, for baselines of 1, 32
// and 41 edges, unsorted edges, and values equal to an edge.
func TestDriftStatesBins(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	w := floorTo(now.Add(-2*time.Hour), time.Minute)
	r := rand.New(rand.NewPCG(3, 9))

	edgesOf := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(i*2 - n) // integers: the values below hit some exactly
		}
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	features := map[string][]float64{
		"one":        edgesOf(1),
		"thirty-two": edgesOf(32),
		"forty-one":  edgesOf(41),
	}
	var dists []events.FeatureDistribution
	for f, edges := range features {
		dists = append(dists, uniformBins(f, edges))
	}
	e.insertBaseline("m", "v1", now.Add(-48*time.Hour), dists...)

	want := map[string]map[string]uint64{}
	var preds []events.PredictionLog
	for i := range 2000 {
		p := events.PredictionLog{RequestID: fmt.Sprint("r", i), ModelID: "m", ModelVersion: "v1",
			EventTime: ms(w.Add(time.Duration(r.Int64N(int64(time.Minute))))), Status: events.StatusOK, LatencyMs: 1,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		for f, edges := range features {
			x := float64(r.IntN(2*len(edges)+8) - len(edges) - 4) // integers around the edges
			if r.IntN(2) == 0 {
				x += r.Float64()
			}
			p.NumFeatures.Keys = append(p.NumFeatures.Keys, f)
			p.NumFeatures.Values = append(p.NumFeatures.Values, x)
			bin := 0
			for _, e := range edges {
				if e <= x {
					bin++
				}
			}
			if want[f] == nil {
				want[f] = map[string]uint64{}
			}
			want[f][strconv.Itoa(bin)]++
		}
		preds = append(preds, p)
	}
	e.insertPredictions(preds)

	a := e.aggregator(e.config())
	if err := a.computeStates(context.Background(), []window{{start: w, reason: reasonBackfill}}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for f := range features {
		kind, got := e.driftState(f, w)
		if kind != "bins" {
			t.Errorf("%s: kind %v, want bins", f, kind)
		}
		keys := slices.Sorted(maps.Keys(want[f]))
		for _, k := range keys {
			if got[k] != want[f][k] {
				t.Errorf("%s: bin %s = %d, want %d", f, k, got[k], want[f][k])
			}
		}
		if len(got) != len(want[f]) {
			t.Errorf("%s: bins %v, want %v", f, got, want[f])
		}
	}
}

// TestDriftStatesFineTiny: without a baseline, values are kept to 3
// significant digits whatever their magnitude and sign; ClickHouse's
// round(x, N) alone goes wrong below ~1e-16 (1e-20 becomes 0).
func TestDriftStatesFineTiny(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	w := floorTo(now.Add(-2*time.Hour), time.Minute)
	// Each value and what it is kept as (3 significant digits); 9.9999e-17
	// and 1e-16 are one key, as are 1e-15 (ClickHouse's round) and
	// 9.9999e-16 (scaled first).
	vals := [][2]float64{{1.0001e-20, 1e-20}, {2.0001e-20, 2e-20}, {-3.0001e-20, -3e-20},
		{9.9999e-17, 1e-16}, {1e-16, 1e-16}, {1e-15, 1e-15}, {9.9999e-16, 1e-15}, {1.2345e-25, 1.23e-25}}
	want := map[float64]uint64{}
	var preds []events.PredictionLog
	for i := range 90 {
		x := vals[i%len(vals)][0]
		want[vals[i%len(vals)][1]]++
		preds = append(preds, events.PredictionLog{RequestID: fmt.Sprint("r", i), ModelID: "m", ModelVersion: "v1",
			EventTime: ms(w.Add(time.Duration(i) * time.Millisecond)), Status: events.StatusOK, LatencyMs: 1,
			NumFeatures: events.Float64Map{Keys: []string{"tiny"}, Values: []float64{x}},
			Provenance:  events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
	}
	e.insertPredictions(preds)
	a := e.aggregator(e.config())
	if err := a.computeStates(context.Background(), []window{{start: w, reason: reasonBackfill}}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	kind, got := e.driftState("tiny", w)
	if kind != "fine" {
		t.Fatalf("kind %v, want fine", kind)
	}
	if len(got) != len(want) {
		t.Fatalf("fine keys %v, want %d: %v", got, len(want), want)
	}
	for key, n := range got {
		k, err := strconv.ParseFloat(key, 64)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for x, c := range want {
			if math.Abs(k-x) <= 1e-9*math.Abs(x) && n == c {
				found = true
			}
		}
		if !found {
			t.Errorf("key %v count %d: not one of %v", k, n, want)
		}
	}
}

// driftState returns the kind and counts of model m version v1's one
// drift_window_states row for feature in the window from w.
func (e *env) driftState(feature string, w time.Time) (string, map[string]uint64) {
	e.t.Helper()
	rows := e.rows(`SELECT kind, mapKeys(counts) AS k, mapValues(counts) AS v FROM drift_window_states
		WHERE model_id = 'm' AND model_version = 'v1' AND feature = '%s' AND window_start = '%s'`, feature, chTime(w))
	if len(rows) != 1 {
		e.t.Fatalf("%s: %d drift_window_states rows", feature, len(rows))
	}
	counts := map[string]uint64{}
	ks, vs := rows[0]["k"].([]any), rows[0]["v"].([]any)
	for i := range ks {
		n, err := vs[i].(json.Number).Int64()
		if err != nil {
			e.t.Fatal(err)
		}
		counts[ks[i].(string)] = uint64(n)
	}
	kind, _ := rows[0]["kind"].(string)
	return kind, counts
}

// BenchmarkDecileEdges: a score's fine histogram of one minute in the
// benchmark hour (~1,300 rounded values), parsed and cut into deciles.
func BenchmarkDecileEdges(b *testing.B) {
	counts := map[string]uint64{}
	for i := range 1300 {
		counts[strconv.FormatFloat(float64(i)/1300, 'g', 3, 64)] = uint64(1 + i%7)
	}
	keys, vals := split(counts)
	b.ReportAllocs()
	for b.Loop() {
		decileEdges(fineValues(keys, vals))
	}
}
