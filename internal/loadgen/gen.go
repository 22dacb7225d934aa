// Package loadgen simulates model servers: it generates prediction logs,
// delayed outcomes and the model metadata they belong to, and produces them
// to Kafka at a target rate (Runner). Generation is deterministic for a
// given Config and sequence of event times.
//
// The simulation has a hidden truth. Every model computes a latent score from
// its features with fixed weights; the true label is drawn from that latent
// (so some positives look negative, as in life), and the served model sees the
// latent plus version-specific noise. Scores are therefore informative but
// imperfect, and precision, recall and the A/B verdict computed from logged
// predictions and outcomes mean something: the challenger version (variant B)
// has less noise than the champion (A).
//
// Drift: from Start+DriftAfter, one numeric feature arrives shifted (as after
// an upstream unit change). The truth still depends on the unshifted value,
// so the drift shows in the feature's distribution and costs the models
// accuracy.
package loadgen

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Config shapes the simulation. Zero fields take the defaults noted.
type Config struct {
	Seed                uint64
	Models              int     // default 3: binary, multiclass, regression, then again
	NumericFeatures     int     // per model; default 16
	CategoricalFeatures int     // per model; default 4
	NullRate            float64 // share of missing numeric values; 0: none
	ErrorRate           float64 // share of predictions with status "error"
	UnlabeledFraction   float64 // share of predictions that never get an outcome
	// LabelDelay is the mean delay from a prediction to its outcome, in
	// simulated time; each outcome's delay is uniform in [0.5, 1.5)×. 0
	// labels at once.
	LabelDelay time.Duration
	// MaxPending bounds outcomes waiting for their delay; beyond it new
	// predictions are left unlabeled (counted in Stats.Dropped). Default 1,000,000.
	MaxPending      int
	ExperimentSplit float64   // share of the experiment model's traffic on variant B; default 0.5
	Start           time.Time // simulated start: drift and metadata times are relative to it
	// DriftAfter is when, after Start, the drift begins; 0 means no drift.
	DriftAfter   time.Duration
	DriftFeature string  // numeric feature that drifts; default the first one ("amount")
	DriftShift   float64 // shift, in standard deviations of the feature's log; default 1.5
}

func (c *Config) defaults() error {
	if c.Models <= 0 {
		c.Models = 3
	}
	if c.NumericFeatures < 0 || c.CategoricalFeatures < 0 {
		return errors.New("feature counts must be >= 0")
	}
	if c.NumericFeatures == 0 && c.CategoricalFeatures == 0 {
		c.NumericFeatures, c.CategoricalFeatures = 16, 4
	}
	for name, v := range map[string]float64{"null rate": c.NullRate, "error rate": c.ErrorRate,
		"unlabeled fraction": c.UnlabeledFraction, "experiment split": c.ExperimentSplit} {
		if v < 0 || v > 1 || math.IsNaN(v) {
			return fmt.Errorf("%s %v: must be in [0, 1]", name, v)
		}
	}
	if c.ExperimentSplit == 0 {
		c.ExperimentSplit = 0.5
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 1_000_000
	}
	if c.LabelDelay < 0 || c.DriftAfter < 0 {
		return errors.New("label delay and drift-after must be >= 0")
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2025, 11, 26, 14, 0, 0, 0, time.UTC)
	}
	if c.DriftShift == 0 {
		c.DriftShift = 1.5
	}
	return nil
}

// Truth is what the generator knows about a prediction it generated.
type Truth struct {
	RequestID string
	ModelID   string
	Version   string
	Variant   string
	Problem   ProblemType
	Error     bool    // status "error": no output
	Predicted string  // predicted label (classification)
	Score     float64 // binary: positive-class score; multiclass: confidence; regression: value
	Label     string  // true label (classification)
	Value     float64 // true value (regression)
	Labeled   bool    // an outcome is scheduled
	Drifted   bool    // generated after the drift began
}

// Stats counts what the generator produced.
type Stats struct {
	Predictions, Outcomes, Dropped int64
}

// Generator produces the simulation's messages. It is not safe for
// concurrent use.
type Generator struct {
	cfg     Config
	rng     *rand.Rand
	models  []*model
	driftAt time.Time // zero: no drift
	driftIx int       // numeric feature index that drifts
	pending outcomeHeap
	stats   Stats

	// Scratch, reused across predictions.
	z, zSeen []float64 // numeric features standardised (truth, as served)
	cat      []int
	lTrue    []float64
	lSeen    []float64
	probs    []float64
	reqID    [36]byte
}

// New returns a generator for cfg.
func New(cfg Config) (*Generator, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	g := &Generator{cfg: cfg, rng: r, models: newModels(r, cfg), driftIx: -1}
	if cfg.DriftAfter > 0 {
		if cfg.NumericFeatures == 0 {
			return nil, errors.New("drift needs a numeric feature")
		}
		g.driftIx = 0
		if cfg.DriftFeature != "" {
			g.driftIx = -1
			for i, f := range g.models[0].numeric {
				if f.name == cfg.DriftFeature {
					g.driftIx = i
				}
			}
			if g.driftIx < 0 {
				return nil, fmt.Errorf("drift feature %q is not a numeric feature", cfg.DriftFeature)
			}
		}
		g.driftAt = cfg.Start.Add(cfg.DriftAfter)
	}
	return g, nil
}

// Config returns the configuration with defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// DriftFeature returns the drifting feature's name, or "" without drift.
func (g *Generator) DriftFeature() string {
	if g.driftIx < 0 {
		return ""
	}
	return g.models[0].numeric[g.driftIx].name
}

// Stats returns the counts so far.
func (g *Generator) Stats() Stats { return g.stats }

// Pending returns the number of outcomes waiting for their time.
func (g *Generator) Pending() int { return len(g.pending) }

const hexdig = "0123456789abcdef"

// AppendPrediction appends one prediction log served at t to dst and
// schedules its outcome. It returns the extended dst and the truth behind
// it; Truth.RequestID is a fresh string (use it as the Kafka key).
func (g *Generator) AppendPrediction(dst []byte, t time.Time) ([]byte, Truth) {
	r := g.rng
	g.stats.Predictions++
	for i := range g.reqID {
		switch i {
		case 8, 13, 18, 23:
			g.reqID[i] = '-'
		case 14:
			g.reqID[i] = '4' // UUID v4
		default:
			g.reqID[i] = hexdig[r.IntN(16)]
		}
	}
	m := g.models[r.IntN(len(g.models))]
	v := m.versions[0]
	if len(m.versions) > 1 && r.Float64() < m.split {
		v = m.versions[1]
	}
	tr := Truth{RequestID: string(g.reqID[:]), ModelID: m.id, Version: v.name, Variant: v.variant, Problem: m.problem}
	drifted := !g.driftAt.IsZero() && !t.Before(g.driftAt)
	tr.Drifted = drifted

	dst = append(dst, `{"request_id":"`...)
	dst = append(dst, g.reqID[:]...)
	dst = append(dst, `","model_id":`...)
	dst = strconv.AppendQuote(dst, m.id)
	dst = append(dst, `,"model_version":`...)
	dst = strconv.AppendQuote(dst, v.name)
	dst = append(dst, `,"event_time":"`...)
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, `","features":{`...)

	// Features: standard normals per numeric feature (truth), the served
	// values (shifted for the drifting feature after the drift).
	g.z, g.zSeen = resize(g.z, len(m.numeric)), resize(g.zSeen, len(m.numeric))
	n := 0
	for i, f := range m.numeric {
		z := r.NormFloat64()
		g.z[i], g.zSeen[i] = z, z
		if f.nullRate > 0 && r.Float64() < f.nullRate {
			g.z[i], g.zSeen[i] = 0, 0 // missing: the mean
			continue
		}
		if drifted && i == g.driftIx {
			g.zSeen[i] = z + g.cfg.DriftShift
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = strconv.AppendQuote(dst, f.name)
		dst = append(dst, ':')
		dst = strconv.AppendFloat(dst, round(math.Exp(f.mu+f.sigma*g.zSeen[i]), 2), 'f', -1, 64)
	}
	g.cat = resizeInt(g.cat, len(m.cats))
	for i := range m.cats {
		f := &m.cats[i]
		g.cat[i] = f.sample(r)
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = strconv.AppendQuote(dst, f.name)
		dst = append(dst, ':')
		dst = strconv.AppendQuote(dst, f.values[g.cat[i]])
	}
	dst = append(dst, '}')

	// Hidden truth and the served model's view of it.
	outs := len(m.weights)
	g.lTrue, g.lSeen = resize(g.lTrue, outs), resize(g.lSeen, outs)
	for o, w := range m.weights {
		lt, ls := m.bias[o], m.bias[o]
		for i := range m.numeric {
			lt += w[i] * g.z[i]
			ls += w[i] * g.zSeen[i]
		}
		for i, c := range g.cat {
			lt += w[m.catOffset[i]+c]
			ls += w[m.catOffset[i]+c]
		}
		g.lTrue[o], g.lSeen[o] = lt, ls+v.noise*r.NormFloat64()
	}

	isErr := g.cfg.ErrorRate > 0 && r.Float64() < g.cfg.ErrorRate
	tr.Error = isErr
	if !isErr {
		switch m.problem {
		case Binary:
			p := sigmoid(g.lTrue[0])
			tr.Label = "0"
			if r.Float64() < p {
				tr.Label = "1"
			}
			score := round(sigmoid(g.lSeen[0]), 4)
			tr.Score, tr.Predicted = score, "0"
			if score >= m.threshold {
				tr.Predicted = "1"
			}
			dst = append(dst, `,"score":`...)
			dst = strconv.AppendFloat(dst, score, 'f', -1, 64)
			dst = append(dst, `,"label":`...)
			dst = strconv.AppendQuote(dst, tr.Predicted)
			dst = append(dst, `,"confidence":`...)
			dst = strconv.AppendFloat(dst, round(math.Max(score, 1-score), 4), 'f', -1, 64)
		case Multiclass:
			g.probs = softmax(resize(g.probs, outs), g.lTrue)
			tr.Label = m.classes[pick(r, g.probs)]
			g.probs = softmax(g.probs, g.lSeen)
			best := 0
			dst = append(dst, `,"probabilities":{`...)
			for i, p := range g.probs {
				if i > 0 {
					dst = append(dst, ',')
				}
				if p > g.probs[best] {
					best = i
				}
				dst = strconv.AppendQuote(dst, m.classes[i])
				dst = append(dst, ':')
				dst = strconv.AppendFloat(dst, round(p, 4), 'f', -1, 64)
			}
			tr.Predicted, tr.Score = m.classes[best], round(g.probs[best], 4)
			dst = append(dst, `},"label":`...)
			dst = strconv.AppendQuote(dst, tr.Predicted)
			dst = append(dst, `,"confidence":`...)
			dst = strconv.AppendFloat(dst, tr.Score, 'f', -1, 64)
		case Regression:
			const scale = 5
			tr.Value = round(m.bias[0]+scale*(g.lTrue[0]-m.bias[0])+2*r.NormFloat64(), 3)
			tr.Score = round(m.bias[0]+scale*(g.lSeen[0]-m.bias[0]), 3)
			dst = append(dst, `,"value":`...)
			dst = strconv.AppendFloat(dst, tr.Score, 'f', -1, 64)
		}
	}

	dst = append(dst, `,"latency_ms":`...)
	dst = strconv.AppendFloat(dst, g.latency(isErr), 'f', -1, 64)
	if isErr {
		dst = append(dst, `,"status":"error","error":`...)
		dst = strconv.AppendQuote(dst, errorTexts[r.IntN(len(errorTexts))])
	} else {
		dst = append(dst, `,"status":"ok"`...)
	}
	dst = append(dst, `,"metadata":{"user_id":"user-`...)
	dst = strconv.AppendInt(dst, int64(100_000+r.IntN(900_000)), 10)
	dst = append(dst, `","tenant":`...)
	dst = strconv.AppendQuote(dst, tenants[r.IntN(len(tenants))])
	dst = append(dst, `,"endpoint":`...)
	dst = strconv.AppendQuote(dst, endpoints[r.IntN(len(endpoints))])
	dst = append(dst, `,"region":`...)
	dst = strconv.AppendQuote(dst, regions[r.IntN(len(regions))])
	dst = append(dst, '}')
	if m.experiment != "" {
		dst = append(dst, `,"experiment_id":`...)
		dst = strconv.AppendQuote(dst, m.experiment)
		dst = append(dst, `,"variant":`...)
		dst = strconv.AppendQuote(dst, v.variant)
	}
	dst = append(dst, '}')

	// Outcomes: only for served predictions, never for a share of them.
	if !isErr && r.Float64() >= g.cfg.UnlabeledFraction {
		if len(g.pending) >= g.cfg.MaxPending {
			g.stats.Dropped++
		} else {
			delay := time.Duration(float64(g.cfg.LabelDelay) * (0.5 + r.Float64()))
			heap.Push(&g.pending, pendingOutcome{
				due: t.Add(delay), requestID: tr.RequestID, model: m.id,
				label: tr.Label, value: tr.Value, regression: m.problem == Regression,
			})
			tr.Labeled = true
		}
	}
	return dst, tr
}

var (
	tenants    = []string{"acme", "globex", "initech", "umbrella", "hooli"}
	endpoints  = []string{"/v1/score", "/v1/predict", "/v2/score"}
	regions    = []string{"eu-west-1", "us-east-1", "ap-southeast-1"}
	errorTexts = []string{"feature store timeout after 50ms", "model not loaded", "input validation failed: amount"}
)

// latency: lognormal around 8 ms, 1% from a Pareto tail up to seconds;
// errors are mostly timeouts.
func (g *Generator) latency(isErr bool) float64 {
	r := g.rng
	ms := 8 * math.Exp(0.45*r.NormFloat64())
	switch {
	case isErr:
		ms = 50 + r.Float64()*10
	case r.Float64() < 0.01:
		ms += math.Min(50*math.Pow(1/(1-r.Float64()), 1/1.5), 5000)
	}
	return round(ms, 3)
}

// AppendDueOutcome appends the next outcome due at or before now, if any.
// The returned key is the request id.
func (g *Generator) AppendDueOutcome(dst []byte, now time.Time) (_ []byte, key string, ok bool) {
	if len(g.pending) == 0 || g.pending[0].due.After(now) {
		return dst, "", false
	}
	o := heap.Pop(&g.pending).(pendingOutcome)
	g.stats.Outcomes++
	dst = append(dst, `{"request_id":"`...)
	dst = append(dst, o.requestID...)
	dst = append(dst, `","model_id":`...)
	dst = strconv.AppendQuote(dst, o.model)
	dst = append(dst, `,"event_time":`...)
	dst = strconv.AppendInt(dst, o.due.UnixMilli(), 10)
	if o.regression {
		dst = append(dst, `,"value":`...)
		dst = strconv.AppendFloat(dst, o.value, 'f', -1, 64)
	} else {
		dst = append(dst, `,"label":`...)
		dst = strconv.AppendQuote(dst, o.label)
	}
	return append(dst, '}'), o.requestID, true
}

type pendingOutcome struct {
	due        time.Time
	requestID  string
	model      string
	label      string
	value      float64
	regression bool
}

// outcomeHeap orders pending outcomes by due time.
type outcomeHeap []pendingOutcome

func (h outcomeHeap) Len() int           { return len(h) }
func (h outcomeHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h outcomeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *outcomeHeap) Push(x any)        { *h = append(*h, x.(pendingOutcome)) }
func (h *outcomeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = pendingOutcome{} // drop the strings for the GC
	*h = old[:len(old)-1]
	return x
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// softmax writes softmax(l) into dst (len(l)) and returns it.
func softmax(dst, l []float64) []float64 {
	mx := l[0]
	for _, v := range l {
		mx = math.Max(mx, v)
	}
	var sum float64
	for i, v := range l {
		dst[i] = math.Exp(v - mx)
		sum += dst[i]
	}
	for i := range dst {
		dst[i] /= sum
	}
	return dst
}

func pick(r *rand.Rand, probs []float64) int {
	u := r.Float64()
	for i, p := range probs {
		if u < p {
			return i
		}
		u -= p
	}
	return len(probs) - 1
}

func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

func resizeInt(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}
