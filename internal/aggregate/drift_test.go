package aggregate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// TestDrift plants a shift in one model's numeric and categorical feature
// and none in another's, and compares drift_metrics with statistics the
// test computes itself from the raw values.
func TestDrift(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	day := floorTo(now.Add(-time.Hour), 24*time.Hour).Add(-24 * time.Hour)
	h0, h1 := day.Add(19*time.Hour), day.Add(20*time.Hour)

	edges := []float64{-1, 0, 1}
	props := []float64{0.15865525393145707, 0.34134474606854293, 0.34134474606854293, 0.15865525393145707}
	cats := map[string]float64{"a": 0.5, "b": 0.3, "c": 0.2}
	for _, m := range []string{"shift", "calm"} {
		e.insertBaseline(m, "v1", now.Add(-48*time.Hour),
			events.FeatureDistribution{Feature: "x", Type: events.FeatureNumeric, Count: 10000, NullRate: 0.05, BinEdges: edges, BinProportions: props},
			events.FeatureDistribution{Feature: "c", Type: events.FeatureCategorical, Count: 10000, Categories: events.Float64Map{Keys: []string{"a", "b", "c"}, Values: []float64{0.5, 0.3, 0.2}}})
	}
	r := rand.New(rand.NewPCG(7, 7))
	pick := func(dist map[string]float64) string {
		u := r.Float64()
		for _, k := range []string{"a", "b", "c", "d"} {
			if u < dist[k] {
				return k
			}
			u -= dist[k]
		}
		return "d"
	}
	type raw struct {
		xs   []float64
		cats []string
		n    int
	}
	got := map[string]*raw{}
	var preds []events.PredictionLog
	id := 0
	for _, m := range []string{"shift", "calm"} {
		for hi, h := range []time.Time{h0, h1} {
			rw := &raw{}
			got[fmt.Sprint(m, hi)] = rw
			for range 3000 {
				id++
				mean, dist := 0.0, cats
				if m == "shift" && hi == 1 {
					mean, dist = 0.7, map[string]float64{"a": 0.3, "b": 0.3, "c": 0.2, "d": 0.2}
				}
				p := events.PredictionLog{RequestID: fmt.Sprint("r", id), ModelID: m, ModelVersion: "v1",
					EventTime: ms(h.Add(time.Duration(r.Int64N(int64(time.Hour))))), Status: events.StatusOK,
					Score: r.Float64(), HasScore: true, LatencyMs: 1,
					Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
				rw.n++
				if r.Float64() >= 0.05 {
					x := mean + r.NormFloat64()
					p.NumFeatures.Keys, p.NumFeatures.Values = []string{"x", "g"}, []float64{x, r.NormFloat64()}
					rw.xs = append(rw.xs, x)
				} else {
					p.NumFeatures.Keys, p.NumFeatures.Values = []string{"g"}, []float64{r.NormFloat64()}
				}
				c := pick(dist)
				p.CatFeatures.Keys, p.CatFeatures.Values = []string{"c"}, []string{c}
				rw.cats = append(rw.cats, c)
				preds = append(preds, p)
			}
		}
	}
	e.insertPredictions(preds)
	cfg := e.config()
	cfg.LabelHorizon = 72 * time.Hour
	a := e.aggregator(cfg)
	if _, err := a.RunOnce(context.Background(), now); err != nil {
		t.Fatal(err)
	}

	row := func(model, g, feature string, w time.Time) map[string]any {
		t.Helper()
		rows := e.rows(`SELECT * FROM drift_metrics FINAL WHERE model_id = '%s' AND model_version = 'v1' AND granularity = '%s'
			AND feature = '%s' AND window_start = '%s'`, model, g, feature, chTime(w))
		if len(rows) != 1 {
			t.Fatalf("%s %s %s %v: %d rows", model, g, feature, w, len(rows))
		}
		return rows[0]
	}

	// The test's own statistics for the shifted hour.
	rw := got["shift1"]
	q := make([]float64, 4)
	for _, x := range rw.xs {
		i := 0
		for _, e := range edges {
			if e <= x {
				i++
			}
		}
		q[i] += 1 / float64(len(rw.xs))
	}
	const eps = 1e-4
	var psi, jsd, ks, cp, cq float64
	for i := range q {
		ps, qs := (props[i]+eps)/(1+4*eps), (q[i]+eps)/(1+4*eps)
		psi += (qs - ps) * math.Log(qs/ps)
		m := (props[i] + q[i]) / 2
		jsd += props[i]/2*math.Log2(props[i]/m) + q[i]/2*math.Log2(q[i]/m)
		cp += props[i]
		cq += q[i]
		ks = math.Max(ks, math.Abs(cp-cq))
	}
	n, mref := float64(len(rw.xs)), 10000*0.95
	en := math.Sqrt(n * mref / (n + mref))
	lambda := (en + 0.12 + 0.11/en) * ks
	var ksp float64
	for j := 1; j < 100; j++ {
		ksp += 2 * math.Pow(-1, float64(j-1)) * math.Exp(-2*float64(j*j)*lambda*lambda)
	}
	x := row("shift", "1h", "x", h1)
	for _, c := range []struct {
		col  string
		want float64
	}{{"psi", psi}, {"js_divergence", jsd}, {"js_distance", math.Sqrt(jsd)}, {"ks_stat", ks}, {"ks_p_value", ksp},
		{"null_rate", 1 - n/float64(rw.n)}, {"baseline_null_rate", 0.05}, {"sample_count", float64(rw.n)}} {
		if g := num(t, x, c.col); math.Abs(g-c.want) > 1e-9*math.Max(1, math.Abs(c.want)) {
			t.Errorf("shift x %s = %v, want %v", c.col, g, c.want)
		}
	}
	if x["flagged"] != true {
		t.Errorf("shifted x not flagged: %v", x)
	}

	// Categorical: d is not in the baseline, so it counts as other (p = 0).
	counts := map[string]float64{}
	for _, c := range rw.cats {
		counts[c]++
	}
	pc := []float64{0.5, 0.3, 0.2, 0}
	qc := []float64{counts["a"] / 3000, counts["b"] / 3000, counts["c"] / 3000, counts["d"] / 3000}
	var cpsi, cjs, linf float64
	for i := range pc {
		ps, qs := (pc[i]+eps)/(1+4*eps), (qc[i]+eps)/(1+4*eps)
		cpsi += (qs - ps) * math.Log(qs/ps)
		m := (pc[i] + qc[i]) / 2
		if pc[i] > 0 {
			cjs += pc[i] / 2 * math.Log2(pc[i]/m)
		}
		if qc[i] > 0 {
			cjs += qc[i] / 2 * math.Log2(qc[i]/m)
		}
		linf = math.Max(linf, math.Abs(pc[i]-qc[i]))
	}
	c := row("shift", "1h", "c", h1)
	for _, cc := range []struct {
		col  string
		want float64
	}{{"psi", cpsi}, {"js_divergence", cjs}, {"linf_distance", linf}} {
		if g := num(t, c, cc.col); math.Abs(g-cc.want) > 1e-9*math.Max(1, math.Abs(cc.want)) {
			t.Errorf("shift c %s = %v, want %v", cc.col, g, cc.want)
		}
	}
	if p := num(t, c, "chi2_p_value"); p > 1e-6 || c["flagged"] != true {
		t.Errorf("shifted c: chi2 p %v, flagged %v", p, c["flagged"])
	}

	// Without a shift nothing is flagged, hourly or daily, against the
	// baseline or (g, __score__) the previous window.
	flagged := e.rows(`SELECT granularity, feature, toString(window_start) AS ws, psi, js_distance, ks_p_value, chi2_p_value, flag_reasons
		FROM drift_metrics FINAL WHERE model_id = 'calm' AND granularity IN ('1h', '1d') AND flagged`)
	if len(flagged) > 0 {
		t.Errorf("calm model flagged: %v", flagged)
	}
	for _, f := range []string{"x", "c", "g", "__score__"} {
		r := row("calm", "1h", f, h1)
		if f == "g" || f == "__score__" {
			if r["reference_window_start"] != chTime(h0) {
				t.Errorf("calm %s: reference %v, want previous window %v", f, r["reference_window_start"], chTime(h0))
			}
		}
	}
	// Shifted features of the shifted model only; its g and score did not move.
	for _, f := range []string{"g", "__score__"} {
		if r := row("shift", "1h", f, h1); r["flagged"] != false {
			t.Errorf("shift %s flagged: %v", f, r)
		}
	}
}
