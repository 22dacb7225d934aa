package loadgen

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// ProblemType is a model's task, as in the model metadata event.
type ProblemType string

const (
	Binary     ProblemType = "binary"
	Multiclass ProblemType = "multiclass"
	Regression ProblemType = "regression"
)

// numericFeature is lognormal: exp(mu + sigma·N(0,1)), rounded to 2 digits.
type numericFeature struct {
	name      string
	mu, sigma float64
	nullRate  float64
}

// quantile returns the value below which a share p of the (pre-drift)
// distribution lies.
func (f numericFeature) quantile(p float64) float64 {
	return math.Exp(f.mu + f.sigma*math.Sqrt2*math.Erfinv(2*p-1))
}

// categoricalFeature draws from values with fixed probabilities.
type categoricalFeature struct {
	name   string
	values []string
	probs  []float64 // sum to 1
	cum    []float64 // cumulative, for sampling
}

func (f *categoricalFeature) sample(r *rand.Rand) int {
	u := r.Float64()
	for i, c := range f.cum {
		if u < c {
			return i
		}
	}
	return len(f.values) - 1
}

// version is one served version of a model. Noise is the standard deviation
// added to the true latent score: the lower, the better the model.
type version struct {
	name    string
	noise   float64
	variant string // A/B variant; empty outside the experiment
}

// model is a simulated model: its features, hidden truth and versions.
type model struct {
	id         string
	problem    ProblemType
	numeric    []numericFeature
	cats       []categoricalFeature
	classes    []string    // multiclass: class names; binary: "0","1"
	weights    [][]float64 // per output (1 for binary/regression, one per class), per feature (numeric, then categorical values flattened)
	catOffset  []int       // index into a weights row of each categorical feature's first value
	bias       []float64
	threshold  float64 // binary decision threshold
	versions   []version
	experiment string // experiment id when the model runs the A/B test
	split      float64
}

var modelNames = map[ProblemType][]string{
	Binary:     {"fraud-detector", "churn-predictor", "spam-filter"},
	Multiclass: {"intent-classifier", "ticket-router", "product-categorizer"},
	Regression: {"eta-regressor", "demand-forecaster", "price-estimator"},
}

var numericNames = []string{
	"amount", "amount_avg_7d", "txn_count_1h", "txn_count_24h", "account_age_days",
	"days_since_last_txn", "distance_from_home_km", "ip_risk_score", "device_age_days",
	"failed_logins_24h", "basket_size", "discount_pct", "session_length_s", "pages_viewed",
	"velocity_score", "chargeback_ratio",
}

var categoricalSpecs = []struct {
	name   string
	values []string
}{
	{"country", []string{"DE", "US", "FR", "GB", "BR", "IN", "JP"}},
	{"device_type", []string{"ios", "android", "web", "pos"}},
	{"channel", []string{"web", "app", "store", "phone"}},
	{"merchant_category", []string{"5411", "5812", "5999", "4111", "7995"}},
	{"plan", []string{"free", "basic", "pro", "enterprise"}},
}

// newModels builds n models, cycling binary, multiclass and regression; the
// first one runs the A/B experiment between two versions.
func newModels(r *rand.Rand, cfg Config) []*model {
	types := []ProblemType{Binary, Multiclass, Regression}
	ms := make([]*model, cfg.Models)
	for i := range ms {
		pt := types[i%len(types)]
		names := modelNames[pt]
		k := i / len(types)
		id := names[k%len(names)]
		if k >= len(names) {
			id += "-" + strconv.Itoa(k/len(names)+1)
		}
		m := &model{id: id, problem: pt, threshold: 0.5}
		for j := range cfg.NumericFeatures {
			name := "f_num_" + strconv.Itoa(j)
			if j < len(numericNames) {
				name = numericNames[j]
			}
			m.numeric = append(m.numeric, numericFeature{
				name:     name,
				mu:       1 + 3*r.Float64(),
				sigma:    0.3 + 0.7*r.Float64(),
				nullRate: cfg.NullRate,
			})
		}
		for j := range cfg.CategoricalFeatures {
			spec := categoricalSpecs[j%len(categoricalSpecs)]
			name := spec.name
			if j >= len(categoricalSpecs) {
				name = "f_cat_" + strconv.Itoa(j)
			}
			m.cats = append(m.cats, newCategorical(r, name, spec.values))
		}
		outputs := 1
		switch pt {
		case Binary:
			m.classes = []string{"0", "1"}
		case Multiclass:
			for c := range 3 + i%2 {
				m.classes = append(m.classes, "class_"+string(rune('a'+c)))
			}
			outputs = len(m.classes)
		}
		width := len(m.numeric)
		for _, c := range m.cats {
			m.catOffset = append(m.catOffset, width)
			width += len(c.values)
		}
		for range outputs {
			w := make([]float64, width)
			for j := range w {
				// A few strong features, many weak ones.
				w[j] = r.NormFloat64() * 0.4
				if j < len(m.numeric) && j < 3 {
					w[j] = (1.0 + r.Float64()) * sign(r)
				}
			}
			// Scale so the latent has a standard deviation of about 2 (the
			// categorical terms add a little): noise of 1 then costs a
			// noticeable but not ruinous share of accuracy.
			var ss float64
			for _, x := range w {
				ss += x * x
			}
			if ss > 0 {
				for j := range w {
					w[j] *= 2 / math.Sqrt(ss)
				}
			}
			m.weights = append(m.weights, w)
			m.bias = append(m.bias, r.NormFloat64()*0.3)
		}
		if pt == Binary {
			m.bias[0] = -2 // a minority positive class (~20%)
		}
		if pt == Regression {
			m.bias[0] = 30 // e.g. minutes
		}
		m.versions = []version{{name: "v" + strconv.Itoa(3+i%3) + ".0.0", noise: 1}}
		if i == 0 {
			// The experiment: the champion (A) against a better challenger (B).
			m.versions[0].variant = "A"
			m.versions = append(m.versions, version{name: "v" + strconv.Itoa(4+i%3) + ".0.0", noise: 0.5, variant: "B"})
			m.experiment = "exp-" + m.id + "-challenger"
			m.split = cfg.ExperimentSplit
		}
		ms[i] = m
	}
	return ms
}

func newCategorical(r *rand.Rand, name string, values []string) categoricalFeature {
	f := categoricalFeature{name: name, values: values}
	// Zipf-like weights, shuffled so the first value is not always the commonest.
	ws := make([]float64, len(values))
	var sum float64
	for i := range ws {
		ws[i] = 1 / float64(i+1)
		sum += ws[i]
	}
	r.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
	var c float64
	for _, w := range ws {
		p := round(w/sum, 4)
		f.probs = append(f.probs, p)
		c += p
	}
	// Rounding: the last value takes what is left, so they sum to 1.
	f.probs[len(f.probs)-1] = round(1-(c-f.probs[len(f.probs)-1]), 4)
	c = 0
	for _, p := range f.probs {
		c += p
		f.cum = append(f.cum, c)
	}
	return f
}

func sign(r *rand.Rand) float64 {
	if r.IntN(2) == 0 {
		return -1
	}
	return 1
}

func round(f float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(f*p) / p
}
