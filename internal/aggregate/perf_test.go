package aggregate

import (
	"context"
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

// truthRow is one prediction with its latest outcome, as the test generated it.
type truthRow struct {
	model, version string
	at             time.Time
	ok             bool
	latency        float64
	score          float64
	hasScore       bool
	value          float64
	hasValue       bool
	predLabel      string
	probs          map[string]float64
	region         string

	labeled   bool
	label     string
	hasLabel  bool
	y         float64
	hasY      bool
	labelTime time.Time
}

// modelSpec is what models FINAL says about a version (or the defaults).
type modelSpec struct {
	pt        events.ProblemType
	threshold float64
	positive  string
}

// dataset generates predictions and outcomes for hour h.
type dataset struct {
	rows  []truthRow
	preds []events.PredictionLog
	outs  []events.Outcome
	specs map[[2]string]modelSpec
}

func genDataset(seed uint64, h time.Time, ingest time.Time) *dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	ds := &dataset{specs: map[[2]string]modelSpec{
		{"bin", "v1"}:    {events.ProblemBinary, 0.6, "yes"},
		{"bin", "v2"}:    {events.ProblemBinary, 0.4, "yes"},
		{"nometa", "v1"}: {events.ProblemBinary, 0.5, "1"}, // no models row: defaults
		{"mc", "v1"}:     {events.ProblemMulticlass, 0, ""},
		{"reg", "v1"}:    {events.ProblemRegression, 0, ""},
	}}
	regions := []string{"r1", "r1", "r1", "r1", "r2", "r2", "r2", "r3", "r3", "r4"}
	id := 0
	add := func(model, version string, n int, fill func(tr *truthRow)) {
		for range n {
			id++
			tr := truthRow{model: model, version: version,
				at:      h.Add(time.Duration(r.Int64N(int64(time.Hour)))).Truncate(time.Millisecond),
				ok:      r.Float64() >= 0.05,
				latency: 1 + r.ExpFloat64()*20,
				region:  regions[r.IntN(len(regions))],
			}
			fill(&tr)
			if tr.ok && r.Float64() < 0.7 {
				tr.labeled = true
				tr.labelTime = tr.at.Add(time.Duration(10+r.IntN(600)) * time.Second)
			}
			ds.rows = append(ds.rows, tr)
			p := events.PredictionLog{
				RequestID: fmt.Sprintf("req-%d", id), ModelID: model, ModelVersion: version, EventTime: ms(tr.at),
				Score: tr.score, HasScore: tr.hasScore, Value: tr.value, HasValue: tr.hasValue, Label: tr.predLabel,
				LatencyMs: tr.latency, Status: events.StatusOK,
				Provenance: events.Provenance{Topic: "predlog.predictions", Offset: int64(id), IngestTime: ms(ingest)},
			}
			p.Metadata.Keys, p.Metadata.Values = []string{"region"}, []string{tr.region}
			for k, v := range tr.probs {
				p.Probabilities.Keys = append(p.Probabilities.Keys, k)
				p.Probabilities.Values = append(p.Probabilities.Values, v)
			}
			if !tr.ok {
				p.Status, p.Error = events.StatusError, "boom"
			}
			ds.preds = append(ds.preds, p)
			if !tr.labeled {
				continue
			}
			o := events.Outcome{RequestID: p.RequestID, ModelID: model, EventTime: ms(tr.labelTime),
				Label: tr.label, HasLabel: tr.hasLabel, Value: tr.y, HasValue: tr.hasY,
				Provenance: events.Provenance{Topic: "predlog.outcomes", Offset: int64(id), IngestTime: ms(ingest)}}
			ds.outs = append(ds.outs, o)
			if r.Float64() < 0.1 {
				// An earlier, superseded outcome: the latest one must win.
				old := o
				old.EventTime -= 5000
				old.Label, old.Value = "stale", o.Value+100
				ds.outs = append(ds.outs, old)
			}
		}
	}
	binary := func(positive, negative string) func(tr *truthRow) {
		return func(tr *truthRow) {
			if r.Float64() < 0.05 {
				tr.predLabel = []string{positive, negative}[r.IntN(2)] // no score: the label decides
			} else {
				tr.score, tr.hasScore = r.Float64(), true
			}
			p := 0.5
			if tr.hasScore {
				p = 0.15 + 0.7*tr.score
			}
			tr.label, tr.hasLabel = negative, true
			if r.Float64() < p {
				tr.label = positive
			}
		}
	}
	add("bin", "v1", 1500, binary("yes", "no"))
	add("bin", "v2", 700, binary("yes", "no"))
	add("nometa", "v1", 800, binary("1", "0"))
	classes := []string{"a", "b", "c", "d"}
	add("mc", "v1", 1200, func(tr *truthRow) {
		tr.label, tr.hasLabel = classes[r.IntN(3)], true // d is predicted, never true
		tr.predLabel = tr.label
		if r.Float64() < 0.35 {
			tr.predLabel = classes[r.IntN(4)]
		}
		if r.Float64() < 0.8 {
			tr.probs = map[string]float64{}
			rest := 1.0
			for _, c := range classes[:3] {
				v := r.Float64() * rest
				tr.probs[c], rest = v, rest-v
			}
			// Most rows send every class; the others the top three only
			// (what is left to d missing), which log loss leaves out.
			if r.Float64() < 0.75 {
				tr.probs["d"] = rest
			}
		}
	})
	add("reg", "v1", 1000, func(tr *truthRow) {
		tr.y, tr.hasY = math.Round(r.NormFloat64()*10), true // some are exactly 0
		tr.value, tr.hasValue = tr.y+r.NormFloat64()*3+0.5, true
	})
	return ds
}

// perfTruth is what performance_metrics must hold for one key, computed
// from the generated rows.
type perfTruth map[string]float64

func computeTruth(rows []truthRow, spec func(model, version string) modelSpec, g time.Duration) perfTruth {
	t := perfTruth{}
	var n, errs, ok, labeled, latSum, latMax, delaySum float64
	var tp, fp, tn, fn, predN, predPos, llSum, llN float64
	var scores []struct {
		s   float64
		pos bool
	}
	support, predicted, correct := map[string]float64{}, map[string]float64{}, map[string]float64{}
	var rn, es, as, ss, ape, apen float64
	var yvals, lats, delays []float64
	var pt events.ProblemType
	for _, r := range rows {
		sp := spec(r.model, r.version)
		pt = sp.pt
		n++
		latSum += r.latency
		latMax = math.Max(latMax, r.latency)
		lats = append(lats, r.latency)
		if !r.ok {
			errs++
			continue
		}
		ok++
		if r.labeled {
			labeled++
			delaySum += r.labelTime.Sub(r.at).Seconds()
			delays = append(delays, r.labelTime.Sub(r.at).Seconds())
		}
		switch sp.pt {
		case events.ProblemBinary:
			hasPred := r.hasScore || r.predLabel != ""
			if !hasPred {
				continue
			}
			pp := r.predLabel == sp.positive
			if r.hasScore {
				pp = r.score >= sp.threshold
			}
			predN++
			if pp {
				predPos++
			}
			if !r.labeled || !r.hasLabel {
				continue
			}
			ap := r.label == sp.positive
			switch {
			case pp && ap:
				tp++
			case pp && !ap:
				fp++
			case !pp && !ap:
				tn++
			default:
				fn++
			}
			if r.hasScore {
				p := math.Min(math.Max(r.score, 1e-15), 1-1e-15)
				if ap {
					llSum -= math.Log(p)
				} else {
					llSum -= math.Log(1 - p)
				}
				llN++
				scores = append(scores, struct {
					s   float64
					pos bool
				}{r.score, ap})
			}
		case events.ProblemMulticlass:
			if !r.labeled || !r.hasLabel || r.predLabel == "" {
				continue
			}
			support[r.label]++
			predicted[r.predLabel]++
			if r.label == r.predLabel {
				correct[r.label]++
			}
			sum := 0.0
			for _, p := range r.probs {
				sum += p
			}
			if len(r.probs) > 0 && math.Abs(sum-1) <= 0.01 {
				llSum -= math.Log(math.Min(math.Max(r.probs[r.label], 1e-15), 1-1e-15))
				llN++
			}
		case events.ProblemRegression:
			if !r.labeled || !r.hasY || !r.hasValue {
				continue
			}
			e := r.value - r.y
			rn++
			es += e
			as += math.Abs(e)
			ss += e * e
			if r.y != 0 {
				ape += math.Abs(e) / math.Abs(r.y)
				apen++
			}
			yvals = append(yvals, r.y)
		}
	}
	t["prediction_count"] = n
	t["error_count"] = errs
	t["error_rate"] = errs / n
	t["latency_avg_ms"] = latSum / n
	t["latency_max_ms"] = latMax
	t["throughput_per_s"] = n / g.Seconds()
	t["labeled_count"] = labeled
	t["label_coverage"] = labeled / ok
	t["label_delay_avg_s"] = delaySum / labeled
	maps.Copy(t, quantileTruth(lats, delays))
	switch pt {
	case events.ProblemBinary:
		t["tp"], t["fp"], t["tn"], t["fn"] = tp, fp, tn, fn
		t["precision"] = tp / (tp + fp)
		t["recall"] = tp / (tp + fn)
		t["tpr"] = tp / (tp + fn)
		t["f1"] = 2 * tp / (2*tp + fp + fn)
		t["accuracy"] = (tp + tn) / (tp + fp + tn + fn)
		t["fpr"] = fp / (fp + tn)
		t["tnr"] = tn / (fp + tn)
		t["fnr"] = fn / (tp + fn)
		t["base_rate"] = (tp + fn) / (tp + fp + tn + fn)
		t["predicted_positive_rate"] = predPos / predN
		t["log_loss"] = llSum / llN
		t["roc_auc"] = exactAUC(scores)
	case events.ProblemMulticlass:
		var classes []string
		for c := range support {
			classes = append(classes, c)
		}
		for c := range predicted {
			if _, ok := support[c]; !ok {
				classes = append(classes, c)
			}
		}
		var total, corr, mp, mr, mf, wp, wr, wf float64
		for _, c := range classes {
			p, rc := 0.0, 0.0
			if predicted[c] > 0 {
				p = correct[c] / predicted[c]
			}
			if support[c] > 0 {
				rc = correct[c] / support[c]
			}
			f := 0.0
			if p+rc > 0 {
				f = 2 * p * rc / (p + rc)
			}
			t["class_precision."+c], t["class_recall."+c], t["class_f1."+c] = p, rc, f
			mp += p / float64(len(classes))
			mr += rc / float64(len(classes))
			mf += f / float64(len(classes))
			wp += p * support[c]
			wr += rc * support[c]
			wf += f * support[c]
			total += support[c]
			corr += correct[c]
		}
		t["accuracy"] = corr / total
		t["macro_precision"], t["macro_recall"], t["macro_f1"] = mp, mr, mf
		t["weighted_precision"], t["weighted_recall"], t["weighted_f1"] = wp/total, wr/total, wf/total
		t["log_loss"] = llSum / llN
	case events.ProblemRegression:
		t["me"], t["mae"], t["rmse"], t["mape"] = es/rn, as/rn, math.Sqrt(ss/rn), ape/apen
		var mean, sst float64
		for _, y := range yvals {
			mean += y / rn
		}
		for _, y := range yvals {
			sst += (y - mean) * (y - mean)
		}
		t["r2"] = 1 - ss/sst
	}
	return t
}

// exactAUC is the Mann-Whitney statistic: P(score of a positive > score of
// a negative), ties counting one half.
func exactAUC(s []struct {
	s   float64
	pos bool
}) float64 {
	sort.Slice(s, func(i, j int) bool { return s[i].s < s[j].s })
	var pos, neg, rankSum float64
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j].s == s[i].s {
			j++
		}
		avg := float64(i+j+1) / 2 // 1-based average rank
		for k := i; k < j; k++ {
			if s[k].pos {
				rankSum += avg
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// quantileTruth is what performance_metrics must hold for the latency and
// label-delay quantiles of a key with these latencies (ms) and label
// delays (s).
func quantileTruth(lats, delays []float64) perfTruth {
	t := perfTruth{}
	for _, q := range []struct {
		metric string
		vals   []float64
		q      float64
	}{{"latency_p50_ms", lats, 0.5}, {"latency_p90_ms", lats, 0.9}, {"latency_p95_ms", lats, 0.95},
		{"latency_p99_ms", lats, 0.99}, {"label_delay_p50_s", delays, 0.5}, {"label_delay_p95_s", delays, 0.95}} {
		t[q.metric] = rankQuantile(q.vals, q.q)
	}
	return t
}

// rankQuantile is the value at rank floor(q * (n - 1)) of vals sorted
// (0-based), the one quantilesDD's 1 % relative accuracy refers to.
func rankQuantile(vals []float64, q float64) float64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	return s[int(math.Floor(q*float64(len(s)-1)))]
}

// tolerance per metric: exact ones to 1e-9 (relative, or absolute below
// 1), log loss 1e-6, AUC 1e-3, quantiles 1 % of the value (the sketch's
// guarantee; relative however small the value).
func tolerance(metric string) (tol float64, relative bool) {
	switch {
	case metric == "log_loss":
		return 1e-6, false
	case metric == "roc_auc":
		return 1e-3, false
	case strings.HasPrefix(metric, "latency_p") || strings.HasPrefix(metric, "label_delay_p"):
		return 0.01 * (1 + 1e-9), true
	}
	return 1e-9, false
}

func checkTruth(t *testing.T, what string, row map[string]any, want perfTruth) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var got float64
		if m, c, ok := cut(k); ok {
			mm, _ := row[m].(map[string]any)
			if mm == nil || mm[c] == nil {
				t.Errorf("%s: %s missing in %v", what, k, row[m])
				continue
			}
			got = num(t, mm, c)
		} else {
			got = num(t, row, k)
		}
		w := want[k]
		tol, relative := tolerance(k)
		scale := math.Max(1, math.Abs(w))
		if relative {
			scale = math.Abs(w)
		}
		if diff := math.Abs(got - w); diff > tol*scale {
			t.Errorf("%s: %s = %v, want %v (diff %g)", what, k, got, w, diff)
		}
	}
}

func cut(k string) (string, string, bool) {
	for i := range k {
		if k[i] == '.' {
			return k[:i], k[i+1:], true
		}
	}
	return "", "", false
}

// TestPerformanceMetrics generates binary, multiclass and regression
// traffic with known truth, runs one cycle and compares every metric of the
// hourly, daily and per-minute windows, per version and all versions, and
// the region slices.
func TestPerformanceMetrics(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	// An hour of yesterday (or the day before, just after midnight), so
	// that its day has closed too; a 72h horizon keeps it from being final.
	day := floorTo(now.Add(-time.Hour), 24*time.Hour).Add(-24 * time.Hour)
	h := day.Add(20 * time.Hour)
	ds := genDataset(1, h, now.Add(-time.Minute))
	for k, s := range ds.specs {
		if k[0] != "nometa" {
			e.insertModel(k[0], k[1], s.pt, s.threshold, s.positive)
		}
	}
	e.insertPredictions(ds.preds)
	e.insertOutcomes(ds.outs)

	cfg := e.config()
	cfg.SliceKeys, cfg.TopN = []string{"region"}, 2
	cfg.LabelHorizon = 72 * time.Hour
	a := e.aggregator(cfg)
	rep, err := a.RunOnce(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cycle: %+v", rep)

	spec := func(m, v string) modelSpec { return ds.specs[[2]string{m, v}] }
	models := map[string][]string{"bin": {"v1", "v2"}, "nometa": {"v1"}, "mc": {"v1"}, "reg": {"v1"}}
	for model, versions := range models {
		for _, version := range append(slices.Clone(versions), "*") {
			var sel []truthRow
			for _, r := range ds.rows {
				if r.model == model && (version == "*" || r.version == version) {
					sel = append(sel, r)
				}
			}
			for _, gr := range []struct {
				name string
				d    time.Duration
			}{{"1h", time.Hour}, {"1d", 24 * time.Hour}} {
				want := computeTruth(sel, spec, gr.d)
				got := e.rows(`SELECT * FROM performance_metrics FINAL
					WHERE model_id = '%s' AND model_version = '%s' AND granularity = '%s' AND slice_key = ''
					  AND window_start = toStartOfInterval(toDateTime('%s', 'UTC'), INTERVAL %d SECOND)`,
					model, version, gr.name, chTime(h), int(gr.d.Seconds()))
				if len(got) != 1 {
					t.Fatalf("%s/%s %s: %d rows", model, version, gr.name, len(got))
				}
				checkTruth(t, fmt.Sprintf("%s/%s %s", model, version, gr.name), got[0], want)
				if got[0]["final"] != false {
					t.Errorf("%s/%s %s: final = %v", model, version, gr.name, got[0]["final"])
				}
			}
		}
	}

	// Per-minute windows: the counts add up and one window matches its rows.
	tot := e.rows(`SELECT sum(prediction_count) AS n, count() AS windows FROM performance_metrics FINAL
		WHERE granularity = '1m' AND model_version = '*' AND slice_key = ''`)
	if got := num(t, tot[0], "n"); got != float64(len(ds.rows)) {
		t.Errorf("1m windows hold %v predictions, want %d", got, len(ds.rows))
	}
	w := h.Add(17 * time.Minute)
	var sel []truthRow
	for _, r := range ds.rows {
		if r.model == "bin" && r.version == "v1" && floorTo(r.at, time.Minute).Equal(w) {
			sel = append(sel, r)
		}
	}
	want := computeTruth(sel, spec, time.Minute)
	delete(want, "roc_auc") // a few dozen scores: binning may matter more than 1e-3
	got := e.rows(`SELECT * FROM performance_metrics FINAL WHERE model_id = 'bin' AND model_version = 'v1'
		AND granularity = '1m' AND slice_key = '' AND window_start = '%s'`, chTime(w))
	if len(got) != 1 {
		t.Fatalf("1m window %v: %d rows", w, len(got))
	}
	checkTruth(t, "bin/v1 1m", got[0], want)

	// Slices: top 2 regions by volume, the rest as other.
	for _, sv := range []struct {
		value   string
		regions []string
	}{{"r1", []string{"r1"}}, {"r2", []string{"r2"}}, {"other", []string{"r3", "r4"}}} {
		var sel []truthRow
		for _, r := range ds.rows {
			if r.model == "bin" && slices.Contains(sv.regions, r.region) {
				sel = append(sel, r)
			}
		}
		want := computeTruth(sel, spec, time.Hour)
		got := e.rows(`SELECT * FROM performance_metrics FINAL WHERE model_id = 'bin' AND model_version = '*'
			AND granularity = '1h' AND slice_key = 'region' AND slice_value = '%s' AND window_start = '%s'`, sv.value, chTime(h))
		if len(got) != 1 {
			t.Fatalf("slice region=%s: %d rows", sv.value, len(got))
		}
		checkTruth(t, "bin/* region="+sv.value, got[0], want)
	}
	if got := e.rows(`SELECT DISTINCT slice_value FROM performance_metrics FINAL WHERE slice_key = 'region' AND granularity = '1h' ORDER BY slice_value`); len(got) != 3 {
		t.Errorf("slice values: %v, want other, r1, r2", got)
	}
}
