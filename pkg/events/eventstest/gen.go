// Package eventstest generates realistic event messages for tests, benchmarks
// and the load generator. Output is deterministic for a given seed and Config.
package eventstest

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Config shapes generated prediction logs. Zero fields take the defaults noted,
// which produce the 824-byte message the decoder benchmarks use.
type Config struct {
	Models        int           // distinct model ids; default 4
	NumFeatures   int           // numeric features per message; default 16
	CatFeatures   int           // categorical features per message; default 4
	MetadataKeys  int           // metadata entries (user_id, tenant, endpoint, then meta_N); default 3
	Classes       int           // < 3: binary (score + label); >= 3: multiclass probabilities
	SparseRate    float64       // probability that a feature is left out; default 0
	ErrorRate     float64       // probability of status "error"; default 0
	EpochMillis   bool          // event_time as epoch ms instead of RFC 3339
	NoExperiment  bool          // leave out experiment_id and variant
	Contributions bool          // add per-feature contributions
	Start         time.Time     // first event time; default 2025-11-26T14:00:00Z
	Step          time.Duration // event time increment; default 1ms
}

var numNames = []string{
	"amount", "amount_avg_7d", "txn_count_1h", "txn_count_24h", "account_age_days",
	"days_since_last_txn", "distance_from_home_km", "ip_risk_score", "device_age_days",
	"failed_logins_24h", "basket_size", "discount_pct", "hour_of_day", "day_of_week",
	"velocity_score", "chargeback_ratio",
}

var catNames = []string{"country", "device_type", "channel", "merchant_category"}

var catValues = [][]string{
	{"DE", "US", "FR", "GB", "BR", "IN", "JP"},
	{"ios", "android", "web", "pos"},
	{"web", "app", "store", "phone"},
	{"5411", "5812", "5999", "4111", "7995"},
}

var tenants = []string{"acme", "globex", "initech", "umbrella"}
var endpoints = []string{"/v1/score", "/v1/predict", "/v2/score"}

// Generator produces messages. It is not safe for concurrent use.
type Generator struct {
	cfg       Config
	rng       *rand.Rand
	seq       int64
	numNames  []string
	catNames  []string
	metaNames []string
	models    []string
	classes   []string

	// Last prediction, for AppendOutcome.
	reqID  [36]byte
	model  string
	timeMs int64
	label  string
}

// New returns a Generator for cfg, seeded with seed.
func New(seed uint64, cfg Config) *Generator {
	if cfg.Models <= 0 {
		cfg.Models = 4
	}
	if cfg.NumFeatures <= 0 {
		cfg.NumFeatures = 16
	}
	if cfg.CatFeatures <= 0 {
		cfg.CatFeatures = 4
	}
	if cfg.MetadataKeys <= 0 {
		cfg.MetadataKeys = 3
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2025, 11, 26, 14, 0, 0, 0, time.UTC)
	}
	if cfg.Step <= 0 {
		cfg.Step = time.Millisecond
	}
	g := &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for i := range cfg.NumFeatures {
		if i < len(numNames) {
			g.numNames = append(g.numNames, numNames[i])
		} else {
			g.numNames = append(g.numNames, "f_num_"+strconv.Itoa(i))
		}
	}
	for i := range cfg.CatFeatures {
		if i < len(catNames) {
			g.catNames = append(g.catNames, catNames[i])
		} else {
			g.catNames = append(g.catNames, "f_cat_"+strconv.Itoa(i))
		}
	}
	for i, n := range []string{"user_id", "tenant", "endpoint"} {
		if i < cfg.MetadataKeys {
			g.metaNames = append(g.metaNames, n)
		}
	}
	for i := 3; i < cfg.MetadataKeys; i++ {
		g.metaNames = append(g.metaNames, "meta_"+strconv.Itoa(i))
	}
	for i := range cfg.Models {
		g.models = append(g.models, "fraud-detector-"+strconv.Itoa(i))
	}
	for i := range cfg.Classes {
		g.classes = append(g.classes, "class_"+string(rune('a'+i%26))+strconv.Itoa(i/26))
	}
	return g
}

// Prediction returns the canonical benchmark message: the first message of
// New(1, Config{}) (824 bytes: 20 features, 16 numeric and 4 categorical, 3 metadata keys).
func Prediction() []byte {
	return New(1, Config{}).AppendPrediction(nil)
}

// AppendPrediction appends one prediction log message to dst.
func (g *Generator) AppendPrediction(dst []byte) []byte {
	r := g.rng
	g.seq++
	const hexdig = "0123456789abcdef"
	for i := range g.reqID {
		switch i {
		case 8, 13, 18, 23:
			g.reqID[i] = '-'
		default:
			g.reqID[i] = hexdig[r.IntN(16)]
		}
	}
	g.model = g.models[r.IntN(len(g.models))]
	g.timeMs = g.cfg.Start.UnixMilli() + (g.seq-1)*g.cfg.Step.Milliseconds()

	dst = append(dst, `{"request_id":"`...)
	dst = append(dst, g.reqID[:]...)
	dst = append(dst, `","model_id":"`...)
	dst = append(dst, g.model...)
	dst = append(dst, `","model_version":"v`...)
	dst = strconv.AppendInt(dst, int64(3+r.IntN(2)), 10)
	dst = append(dst, `.1.0","event_time":`...)
	if g.cfg.EpochMillis {
		dst = strconv.AppendInt(dst, g.timeMs, 10)
	} else {
		dst = append(dst, '"')
		dst = time.UnixMilli(g.timeMs).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		dst = append(dst, '"')
	}
	dst = append(dst, `,"features":{`...)
	n := 0
	for _, name := range g.numNames {
		if g.cfg.SparseRate > 0 && r.Float64() < g.cfg.SparseRate {
			continue
		}
		dst = g.sep(dst, n)
		n++
		dst = appendString(dst, name)
		dst = append(dst, ':')
		dst = strconv.AppendFloat(dst, round(r.ExpFloat64()*50, 2), 'f', -1, 64)
	}
	for i, name := range g.catNames {
		if g.cfg.SparseRate > 0 && r.Float64() < g.cfg.SparseRate {
			continue
		}
		dst = g.sep(dst, n)
		n++
		dst = appendString(dst, name)
		dst = append(dst, ':')
		vals := catValues[i%len(catValues)]
		dst = appendString(dst, vals[r.IntN(len(vals))])
	}
	dst = append(dst, '}')

	isErr := g.cfg.ErrorRate > 0 && r.Float64() < g.cfg.ErrorRate
	if !isErr {
		if len(g.classes) >= 3 {
			dst = append(dst, `,"probabilities":{`...)
			ps := make([]float64, len(g.classes)) // low-volume path only in multiclass mode
			var sum float64
			for i := range ps {
				ps[i] = r.Float64() + 0.01
				sum += ps[i]
			}
			best := 0
			for i := range ps {
				ps[i] = round(ps[i]/sum, 4)
				if ps[i] > ps[best] {
					best = i
				}
				dst = g.sep(dst, i)
				dst = appendString(dst, g.classes[i])
				dst = append(dst, ':')
				dst = strconv.AppendFloat(dst, ps[i], 'f', -1, 64)
			}
			dst = append(dst, '}')
			g.label = g.classes[best]
			dst = append(dst, `,"label":`...)
			dst = appendString(dst, g.label)
			dst = append(dst, `,"confidence":`...)
			dst = strconv.AppendFloat(dst, ps[best], 'f', -1, 64)
		} else {
			score := round(r.Float64(), 4)
			g.label = "0"
			if score >= 0.5 {
				g.label = "1"
			}
			dst = append(dst, `,"score":`...)
			dst = strconv.AppendFloat(dst, score, 'f', -1, 64)
			dst = append(dst, `,"label":`...)
			dst = appendString(dst, g.label)
			dst = append(dst, `,"confidence":`...)
			dst = strconv.AppendFloat(dst, round(math.Max(score, 1-score), 4), 'f', -1, 64)
		}
	}
	dst = append(dst, `,"latency_ms":`...)
	dst = strconv.AppendFloat(dst, round(2+r.ExpFloat64()*8, 3), 'f', -1, 64)
	if isErr {
		dst = append(dst, `,"status":"error","error":"feature store timeout after 50ms"`...)
	} else {
		dst = append(dst, `,"status":"ok"`...)
	}
	dst = append(dst, `,"metadata":{`...)
	for i, name := range g.metaNames {
		dst = g.sep(dst, i)
		dst = appendString(dst, name)
		dst = append(dst, ':')
		switch name {
		case "user_id":
			dst = append(dst, `"user-`...)
			dst = strconv.AppendInt(dst, int64(100_000+r.IntN(900_000)), 10)
			dst = append(dst, '"')
		case "tenant":
			dst = appendString(dst, tenants[r.IntN(len(tenants))])
		case "endpoint":
			dst = appendString(dst, endpoints[r.IntN(len(endpoints))])
		default:
			dst = append(dst, `"value-`...)
			dst = strconv.AppendInt(dst, int64(r.IntN(100)), 10)
			dst = append(dst, '"')
		}
	}
	dst = append(dst, '}')
	if !g.cfg.NoExperiment {
		dst = append(dst, `,"experiment_id":"exp-checkout-threshold-042","variant":"`...)
		dst = append(dst, "AB"[r.IntN(2)])
		dst = append(dst, '"')
	}
	if g.cfg.Contributions {
		dst = append(dst, `,"contributions":{`...)
		for i, name := range g.numNames {
			dst = g.sep(dst, i)
			dst = appendString(dst, name)
			dst = append(dst, ':')
			dst = strconv.AppendFloat(dst, round(r.NormFloat64()*0.1, 4), 'f', -1, 64)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// AppendOutcome appends the ground truth for the last generated prediction,
// delay after it; the label agrees with the predicted one 80% of the time.
func (g *Generator) AppendOutcome(dst []byte, delay time.Duration) []byte {
	label := g.label
	if g.rng.Float64() < 0.2 {
		switch {
		case len(g.classes) >= 3:
			label = g.classes[g.rng.IntN(len(g.classes))]
		case label == "1":
			label = "0"
		default:
			label = "1"
		}
	}
	dst = append(dst, `{"request_id":"`...)
	dst = append(dst, g.reqID[:]...)
	dst = append(dst, `","model_id":`...)
	dst = appendString(dst, g.model)
	dst = append(dst, `,"event_time":`...)
	dst = strconv.AppendInt(dst, g.timeMs+delay.Milliseconds(), 10)
	dst = append(dst, `,"label":`...)
	dst = appendString(dst, label)
	return append(dst, '}')
}

func (g *Generator) sep(dst []byte, i int) []byte {
	if i > 0 {
		return append(dst, ',')
	}
	return dst
}

func round(f float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(f*p) / p
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	const hexdig = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexdig[c>>4], hexdig[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
