package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestFreezeBaseline freezes a production hour of one model version as its
// baseline and checks every row against the test's own counts of the
// predictions it generated: sample count and null rate, numeric bins
// (edges increasing and near the deciles, shares exact), the top 100
// categories and the rest. Error predictions, other versions and rows
// outside the window do not count. A later window drawn like the reference
// then flags nothing against it, a shifted one flags the shifted feature.
func TestFreezeBaseline(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	day := floorTo(now.Add(-time.Hour), 24*time.Hour).Add(-24 * time.Hour)
	from, to := day.Add(10*time.Hour), day.Add(11*time.Hour)
	r := rand.New(rand.NewPCG(11, 3))

	type truth struct {
		n    int
		num  map[string][]float64
		cats map[string]map[string]int
	}
	ref := truth{num: map[string][]float64{}, cats: map[string]map[string]int{}}
	id := 0
	pred := func(version string, at time.Time, status events.Status, shift float64) events.PredictionLog {
		id++
		p := events.PredictionLog{RequestID: fmt.Sprint("r", id), ModelID: "m", ModelVersion: version, EventTime: ms(at),
			Status: status, LatencyMs: 1, Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		x := r.NormFloat64() + shift
		steps := float64(1 + r.IntN(3)) // three distinct values: fewer edges than deciles
		// tenth: values whose Float32 roundings lie above them; big: beyond
		// the Float32 range. Their edges must be values of the window.
		tenth := float64(r.IntN(3)) / 10
		p.NumFeatures.Keys = []string{"steps", "tenth", "big"}
		p.NumFeatures.Values = []float64{steps, tenth, 1e39 * (1 + r.Float64())}
		if r.Float64() >= 0.1 { // x is null in a tenth of the predictions
			p.NumFeatures.Keys, p.NumFeatures.Values = append(p.NumFeatures.Keys, "x"), append(p.NumFeatures.Values, x)
		}
		if r.Float64() < 0.8 {
			p.Score, p.HasScore = r.Float64(), true
		}
		// 150 values, the first ones far more frequent: the baseline lists
		// the 100 most frequent.
		c := fmt.Sprintf("c%03d", int(150*math.Pow(r.Float64(), 3)))
		// session: id-like, a third of it five hot values, the rest
		// distinct: more values than the freeze's candidates.
		session := fmt.Sprint("s", id)
		if r.IntN(3) == 0 {
			session = fmt.Sprint("hot", r.IntN(5))
		}
		p.CatFeatures.Keys, p.CatFeatures.Values = []string{"city", "session"}, []string{c, session}
		if r.Float64() < 0.5 {
			p.Label = []string{"yes", "no"}[r.IntN(2)]
		}
		if status == events.StatusOK && version == "v1" && !at.Before(from) && at.Before(to) && shift == 0 {
			ref.n++
			for i, k := range p.NumFeatures.Keys {
				ref.num[k] = append(ref.num[k], p.NumFeatures.Values[i])
			}
			if p.HasScore {
				ref.num["__score__"] = append(ref.num["__score__"], p.Score)
			}
			add := func(f, v string) {
				if ref.cats[f] == nil {
					ref.cats[f] = map[string]int{}
				}
				ref.cats[f][v]++
			}
			add("city", c)
			add("session", session)
			if p.Label != "" {
				add("__label__", p.Label)
			}
		}
		return p
	}
	var preds []events.PredictionLog
	for range 6000 {
		preds = append(preds, pred("v1", from.Add(time.Duration(r.Int64N(int64(time.Hour)))), events.StatusOK, 0))
	}
	// Not counted: errors, another version, just outside the window.
	for range 300 {
		bad := pred("v1", from.Add(time.Duration(r.Int64N(int64(time.Hour)))), events.StatusError, 5)
		bad.NumFeatures.Values[0] = 1000
		preds = append(preds, bad,
			pred("v2", from.Add(time.Duration(r.Int64N(int64(time.Hour)))), events.StatusOK, 5),
			pred("v1", from.Add(-time.Millisecond), events.StatusOK, 5),
			pred("v1", to, events.StatusOK, 5))
	}
	e.insertPredictions(preds)

	a := e.aggregator(e.config())
	got, err := a.FreezeBaseline(ctx, "m", "v1", from, to, FreezeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Predictions != uint64(ref.n) {
		t.Errorf("predictions = %d, want %d", got.Predictions, ref.n)
	}
	var names []string
	for _, f := range got.Features {
		names = append(names, f.Feature+"/"+f.Type)
	}
	if want := "__label__/categorical __score__/numeric big/numeric city/categorical session/categorical steps/numeric tenth/numeric x/numeric"; strings.Join(names, " ") != want {
		t.Errorf("features = %v, want %s", names, want)
	}

	rows := e.rows(`SELECT feature, toString(feature_type) AS type, toString(source) AS source, window_start, window_end,
		sample_count, null_rate, bin_edges, bin_proportions, categories, other_proportion, computed_at
		FROM feature_baselines FINAL WHERE model_id = 'm' AND model_version = 'v1' ORDER BY feature`)
	if len(rows) != 8 {
		t.Fatalf("%d baseline rows, want 8: %v", len(rows), rows)
	}
	for _, row := range rows {
		f := row["feature"].(string)
		t.Run(f, func(t *testing.T) {
			if row["source"] != "reference_window" || !strings.HasPrefix(fmt.Sprint(row["window_start"]), from.Format("2006-01-02 15:04:05")) ||
				!strings.HasPrefix(fmt.Sprint(row["window_end"]), to.Format("2006-01-02 15:04:05")) ||
				fmt.Sprint(row["computed_at"]) != got.ComputedAt.Format("2006-01-02 15:04:05.000") {
				t.Errorf("source, window or computed_at: %v", row)
			}
			if n := num(t, row, "sample_count"); n != float64(ref.n) {
				t.Errorf("sample_count = %v, want %d", n, ref.n)
			}
			var nonNull int
			if vs, ok := ref.num[f]; ok {
				nonNull = len(vs)
				checkFrozenBins(t, row, vs)
			} else {
				for _, c := range ref.cats[f] {
					nonNull += c
				}
				checkFrozenCategories(t, row, ref.cats[f], nonNull)
			}
			if got, want := num(t, row, "null_rate"), 1-float64(nonNull)/float64(ref.n); math.Abs(got-want) > 1e-12 {
				t.Errorf("null_rate = %v, want %v", got, want)
			}
		})
	}

	// Errors that tell what to fix, and nothing written.
	for _, tt := range []struct{ model, version, want string }{
		{"m", "v9", `version "v9" in [` + from.Format(time.RFC3339) + `, ` + to.Format(time.RFC3339) + `); versions with ok predictions there: "v1" (6000), "v2" (300)`},
		{"nobody", "v1", `of model "nobody" in [`},
		{`m' OR 1=1; --{x}`, "v1", `of model "m' OR 1=1; --{x}" in [`},
	} {
		_, err := a.FreezeBaseline(ctx, tt.model, tt.version, from, to, FreezeOptions{})
		if !errors.Is(err, ErrNoPredictions) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FreezeBaseline(%q, %q) = %v, want ErrNoPredictions with %q", tt.model, tt.version, err, tt.want)
		}
	}
	if _, err := a.FreezeBaseline(ctx, "m", "v1", to, from, FreezeOptions{}); err == nil {
		t.Error("an empty window froze a baseline")
	}
	if _, err := a.FreezeBaseline(ctx, "m", "v1", from, time.Now().Add(30*time.Second), FreezeOptions{}); err == nil || !strings.Contains(err.Error(), "has not closed yet") {
		t.Errorf("a window still open: %v, want it refused", err)
	}
	// v2 has 300 ok predictions: refused below a minimum above that.
	if _, err := a.FreezeBaseline(ctx, "m", "v2", from, to, FreezeOptions{MinPredictions: 301}); !errors.Is(err, ErrTooFewPredictions) ||
		!strings.Contains(err.Error(), "300 ok predictions") {
		t.Errorf("v2 with a minimum of 301: %v, want ErrTooFewPredictions naming its 300", err)
	}
	// A version with a training baseline keeps it unless Replace.
	e.insertBaseline("m", "v2", from.Add(-time.Hour), uniformBins("x", []float64{0.25, 0.5, 0.75}))
	if _, err := a.FreezeBaseline(ctx, "m", "v2", from, to, FreezeOptions{}); !errors.Is(err, ErrTrainingBaseline) {
		t.Errorf("v2 with a training baseline: %v, want ErrTrainingBaseline", err)
	}
	if n := e.rows(`SELECT count() AS n FROM feature_baselines FINAL WHERE source = 'reference_window'`)[0]; num(t, n, "n") != 8 {
		t.Errorf("%v reference_window rows after the refused calls, want v1's 8", n["n"])
	}
	if _, err := a.FreezeBaseline(ctx, "m", "v2", from, to, FreezeOptions{MinPredictions: 300, Replace: true}); err != nil {
		t.Errorf("v2 with Replace: %v", err)
	}
	if n := e.rows(`SELECT count() AS n FROM feature_baselines FINAL WHERE model_version = 'v2' AND source = 'training'`)[0]; num(t, n, "n") != 0 {
		t.Errorf("%v training rows of v2 after Replace, want them replaced", n["n"])
	}
	// A training feature the replacing window lacks keeps its row; the
	// version's baseline is the production one all the same: no Replace
	// needed to freeze it again.
	e.insertBaseline("m", "v2", from.Add(-2*time.Hour), uniformBins("only_in_training", []float64{0.5}))
	if _, err := a.FreezeBaseline(ctx, "m", "v2", from, to, FreezeOptions{MinPredictions: 300}); err != nil {
		t.Errorf("v2 frozen again after a partial Replace: %v", err)
	}

	// Windows after it: the next hour drawn as the reference flags nothing;
	// in the hour after, x moves by one standard deviation.
	calm, shifted := to.Add(time.Hour), to.Add(2*time.Hour)
	preds = preds[:0]
	for range 4000 {
		preds = append(preds, pred("v1", calm.Add(time.Duration(r.Int64N(int64(time.Hour)))), events.StatusOK, 0),
			pred("v1", shifted.Add(time.Duration(r.Int64N(int64(time.Hour)))), events.StatusOK, 1))
	}
	e.insertPredictions(preds)
	var starts []time.Time
	for s := calm; s.Before(shifted.Add(time.Hour)); s = s.Add(time.Minute) {
		starts = append(starts, s)
	}
	e.computeBase(starts...)
	cfg := e.config()
	if err := e.aggregator(cfg).computeOutputs(ctx, e.aggregator(cfg).grans[1], []window{{start: calm, reason: reasonBackfill}, {start: shifted, reason: reasonBackfill}}); err != nil {
		t.Fatal(err)
	}
	drift := e.rows(`SELECT window_start, feature, flagged, baseline_computed_at FROM drift_metrics FINAL
		WHERE model_id = 'm' AND model_version = 'v1' AND granularity = '1h' ORDER BY window_start, feature`)
	flagged := map[string]bool{}
	for _, d := range drift {
		if fmt.Sprint(d["baseline_computed_at"]) != got.ComputedAt.Format("2006-01-02 15:04:05.000") {
			t.Errorf("%v %v: against the baseline of %v, want the frozen one", d["window_start"], d["feature"], d["baseline_computed_at"])
		}
		if d["flagged"] == true {
			flagged[fmt.Sprint(d["window_start"], " ", d["feature"])] = true
		}
	}
	want := map[string]bool{shifted.Format("2006-01-02 15:04:05") + " x": true}
	if len(drift) != 16 || fmt.Sprint(flagged) != fmt.Sprint(want) {
		t.Errorf("%d drift rows, flagged %v, want 16 rows and %v", len(drift), flagged, want)
	}
}

// checkFrozenBins checks a numeric baseline row against the values it was
// frozen from: increasing edges near the deciles, exact shares per bin.
func checkFrozenBins(t *testing.T, row map[string]any, vs []float64) {
	t.Helper()
	edges, props := floats(t, row["bin_edges"]), floats(t, row["bin_proportions"])
	if len(edges) == 0 || len(edges) > 9 || len(props) != len(edges)+1 {
		t.Fatalf("%d edges, %d proportions", len(edges), len(props))
	}
	counts := make([]int, len(props))
	for _, v := range vs {
		counts[sort.Search(len(edges), func(i int) bool { return edges[i] > v })]++ // count(edges <= v)
	}
	for i, c := range counts {
		if want := float64(c) / float64(len(vs)); math.Abs(props[i]-want) > 1e-12 {
			t.Errorf("bin %d: proportion %v, want %v", i, props[i], want)
		}
	}
	sorted := append([]float64(nil), vs...)
	sort.Float64s(sorted)
	for i, e := range edges {
		if j := sort.SearchFloat64s(sorted, e); j == len(sorted) || sorted[j] != e {
			t.Errorf("edge %d = %v is not a value of the window", i, e)
		}
		if i > 0 && e <= edges[i-1] {
			t.Errorf("edges not increasing: %v", edges)
		}
		if len(edges) == 9 { // a continuous feature: the deciles
			below := float64(sort.SearchFloat64s(sorted, e)) / float64(len(sorted))
			if math.Abs(below-float64(i+1)/10) > 0.02 {
				t.Errorf("edge %d = %v has %.3f of the values below it, want ~%.1f", i, e, below, float64(i+1)/10)
			}
		}
	}
}

// checkFrozenCategories checks a categorical baseline row: with at most
// 10 × 100 distinct values, the 100 most frequent values (ties by value);
// with more, 100 values among which each of the 100 most frequent with a
// share above 1/1000; their exact shares, the rest other.
func checkFrozenCategories(t *testing.T, row map[string]any, counts map[string]int, nonNull int) {
	t.Helper()
	candidates := 10 * baselineTopN
	vals := make([]string, 0, len(counts))
	for v := range counts {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool {
		if counts[vals[i]] != counts[vals[j]] {
			return counts[vals[i]] > counts[vals[j]]
		}
		return vals[i] < vals[j]
	})
	top := vals[:min(len(vals), baselineTopN)]
	cats := map[string]float64{}
	b, _ := json.Marshal(row["categories"])
	if err := json.Unmarshal(b, &cats); err != nil {
		t.Fatal(err)
	}
	if len(cats) != len(top) {
		t.Errorf("%d categories, want %d", len(cats), len(top))
	}
	if len(counts) > candidates {
		for _, v := range top {
			if _, ok := cats[v]; !ok && counts[v]*candidates > nonNull {
				t.Errorf("category %q (%d of %d) left out", v, counts[v], nonNull)
			}
		}
		top = slices.Collect(maps.Keys(cats))
	}
	rest := nonNull
	for _, v := range top {
		rest -= counts[v]
		if want := float64(counts[v]) / float64(nonNull); math.Abs(cats[v]-want) > 1e-12 {
			t.Errorf("category %q: %v, want %v", v, cats[v], want)
		}
	}
	if got, want := num(t, row, "other_proportion"), float64(rest)/float64(nonNull); math.Abs(got-want) > 1e-12 {
		t.Errorf("other_proportion = %v, want %v", got, want)
	}
}

func floats(t *testing.T, v any) []float64 {
	t.Helper()
	var out []float64
	for _, x := range v.([]any) {
		f, err := x.(json.Number).Float64()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}
