package loadgen

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/predlog/predlog/pkg/events"
)

var t0 = time.Date(2025, 11, 26, 14, 0, 0, 0, time.UTC)

func newGen(t *testing.T, cfg Config) *Generator {
	t.Helper()
	if cfg.Start.IsZero() {
		cfg.Start = t0
	}
	g, err := New(cfg)
	require.NoError(t, err)
	return g
}

// stream generates n predictions 1ms apart and the outcomes due by then.
func stream(g *Generator, n int) (preds, outs [][]byte, truths []Truth) {
	for i := range n {
		at := g.cfg.Start.Add(time.Duration(i) * time.Millisecond)
		p, tr := g.AppendPrediction(nil, at)
		preds, truths = append(preds, p), append(truths, tr)
		for {
			o, _, ok := g.AppendDueOutcome(nil, at)
			if !ok {
				break
			}
			outs = append(outs, o)
		}
	}
	return preds, outs, truths
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 7, Models: 4, ErrorRate: 0.01, UnlabeledFraction: 0.1, LabelDelay: 50 * time.Millisecond, DriftAfter: time.Second, NullRate: 0.01}
	p1, o1, _ := stream(newGen(t, cfg), 3000)
	p2, o2, _ := stream(newGen(t, cfg), 3000)
	assert.Equal(t, p1, p2)
	assert.Equal(t, o1, o2)
	m1, err := newGen(t, cfg).Metadata()
	require.NoError(t, err)
	m2, err := newGen(t, cfg).Metadata()
	require.NoError(t, err)
	assert.Equal(t, m1, m2)

	cfg.Seed = 8
	p3, _, _ := stream(newGen(t, cfg), 10)
	assert.NotEqual(t, p1[:10], p3)
}

// Everything generated passes the ingester's decoder.
func TestEventsDecode(t *testing.T) {
	g := newGen(t, Config{Seed: 1, Models: 6, ErrorRate: 0.05, NullRate: 0.05, LabelDelay: 10 * time.Millisecond, DriftAfter: time.Second})
	preds, outs, _ := stream(g, 5000)
	require.NotEmpty(t, outs)
	d := events.NewDecoder(events.Options{})
	var p events.PredictionLog
	for _, m := range preds {
		require.NoError(t, d.DecodePrediction(&p, m), "%s", m)
		require.Zero(t, d.UnknownFields(), "%s", m)
	}
	var o events.Outcome
	for _, m := range outs {
		require.NoError(t, d.DecodeOutcome(&o, m), "%s", m)
	}
	meta, err := g.Metadata()
	require.NoError(t, err)
	kinds := map[string]int{}
	for _, ev := range meta {
		kinds[ev.Kind]++
		var err error
		switch ev.Kind {
		case KindModel:
			err = d.DecodeModel(new(events.Model), ev.Value)
		case KindTrainingJob:
			err = d.DecodeTrainingJob(new(events.TrainingJob), ev.Value)
		case KindFeatureImportance:
			err = d.DecodeFeatureImportance(new(events.FeatureImportance), ev.Value)
		case KindFeatureBaseline:
			err = d.DecodeFeatureBaseline(new(events.FeatureBaseline), ev.Value)
		}
		require.NoError(t, err, "%s: %s", ev.Kind, ev.Value)
		require.Zero(t, d.UnknownFields(), "%s: %s", ev.Kind, ev.Value)
	}
	// 6 models, the first with two versions.
	assert.Equal(t, map[string]int{KindModel: 7, KindTrainingJob: 7, KindFeatureImportance: 7, KindFeatureBaseline: 7}, kinds)
}

func TestScoresMatchLabels(t *testing.T) {
	g := newGen(t, Config{Seed: 3, Models: 3})
	_, _, truths := stream(g, 60000)
	type conf struct{ tp, fp, fn, tn int }
	var bin conf
	var mcRight, mcAll int
	var xs, ys []float64
	var scorePos, scoreNeg []float64
	perVariant := map[string][2]int{} // variant → right, all
	for _, tr := range truths {
		switch tr.Problem {
		case Binary:
			pos, predPos := tr.Label == "1", tr.Predicted == "1"
			switch {
			case pos && predPos:
				bin.tp++
			case !pos && predPos:
				bin.fp++
			case pos:
				bin.fn++
			default:
				bin.tn++
			}
			if pos {
				scorePos = append(scorePos, tr.Score)
			} else {
				scoreNeg = append(scoreNeg, tr.Score)
			}
			c := perVariant[tr.Variant]
			c[1]++
			if pos == predPos {
				c[0]++
			}
			perVariant[tr.Variant] = c
		case Multiclass:
			mcAll++
			if tr.Label == tr.Predicted {
				mcRight++
			}
		case Regression:
			xs, ys = append(xs, tr.Score), append(ys, tr.Value)
		}
	}
	n := bin.tp + bin.fp + bin.fn + bin.tn
	base := float64(bin.tp+bin.fn) / float64(n)
	precision := float64(bin.tp) / float64(bin.tp+bin.fp)
	recall := float64(bin.tp) / float64(bin.tp+bin.fn)
	t.Logf("binary: base rate %.3f precision %.3f recall %.3f; multiclass accuracy %.3f; regression r %.3f; A/B %v",
		base, precision, recall, float64(mcRight)/float64(mcAll), corr(xs, ys), perVariant)
	assert.InDelta(t, 0.25, base, 0.15, "a minority positive class")
	assert.Greater(t, precision, base+0.3, "scores carry information")
	assert.Greater(t, recall, 0.4)
	assert.Less(t, precision, 0.99, "but are not perfect")
	assert.Greater(t, mean(scorePos), mean(scoreNeg)+0.2)
	assert.Greater(t, float64(mcRight)/float64(mcAll), 0.5)
	assert.Greater(t, corr(xs, ys), 0.8)
	a, b := perVariant["A"], perVariant["B"]
	assert.InDelta(t, 0.5, float64(b[1])/float64(a[1]+b[1]), 0.03, "even split")
	assert.Greater(t, float64(b[0])/float64(b[1]), float64(a[0])/float64(a[1]), "the challenger is better")
}

func TestOutcomes(t *testing.T) {
	const delay = 200 * time.Millisecond
	g := newGen(t, Config{Seed: 5, Models: 3, ErrorRate: 0.02, UnlabeledFraction: 0.25, LabelDelay: delay})
	d := events.NewDecoder(events.Options{})
	truth := map[string]Truth{}
	served := map[string]time.Time{}
	var last time.Time
	labeled, outcomes := 0, 0
	for i := range 20000 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		_, tr := g.AppendPrediction(nil, at)
		truth[tr.RequestID], served[tr.RequestID] = tr, at
		if tr.Labeled {
			labeled++
			assert.False(t, tr.Error, "errors are never labeled")
		}
		for {
			b, key, ok := g.AppendDueOutcome(nil, at)
			if !ok {
				break
			}
			outcomes++
			var o events.Outcome
			require.NoError(t, d.DecodeOutcome(&o, b))
			tr := truth[key]
			require.Equal(t, key, o.RequestID)
			require.True(t, tr.Labeled)
			if tr.Problem == Regression {
				assert.Equal(t, tr.Value, o.Value)
			} else {
				assert.Equal(t, tr.Label, o.Label)
			}
			lag := time.UnixMilli(o.EventTime).Sub(served[key])
			assert.True(t, lag >= delay/2 && lag < delay*3/2, "label delay %s", lag)
			ev := time.UnixMilli(o.EventTime)
			assert.False(t, ev.Before(last), "outcomes in time order")
			assert.False(t, ev.After(at), "not before due")
			last = ev
		}
	}
	share := float64(labeled) / 20000
	assert.InDelta(t, 0.75*0.98, share, 0.02)
	assert.Equal(t, labeled, outcomes+g.Pending())
	assert.Equal(t, int64(outcomes), g.Stats().Outcomes)
}

func TestMaxPending(t *testing.T) {
	g := newGen(t, Config{Seed: 1, LabelDelay: time.Hour, MaxPending: 10})
	stream(g, 100)
	assert.Equal(t, 10, g.Pending())
	assert.Positive(t, g.Stats().Dropped)
}

// numericValues extracts feature name's values from prediction messages.
func numericValues(t *testing.T, msgs [][]byte, name string) []float64 {
	t.Helper()
	d := events.NewDecoder(events.Options{})
	var p events.PredictionLog
	var vs []float64
	for _, m := range msgs {
		require.NoError(t, d.DecodePrediction(&p, m))
		if i := slices.Index(p.NumFeatures.Keys, name); i >= 0 {
			vs = append(vs, p.NumFeatures.Values[i])
		}
	}
	return vs
}

func TestDriftAndBaseline(t *testing.T) {
	g := newGen(t, Config{Seed: 2, Models: 1, NumericFeatures: 4, CategoricalFeatures: 2, DriftAfter: 20 * time.Second})
	require.Equal(t, "amount", g.DriftFeature())
	meta, err := g.Metadata()
	require.NoError(t, err)
	var base events.FeatureBaseline
	for _, ev := range meta {
		if ev.Kind == KindFeatureBaseline {
			require.NoError(t, events.NewDecoder(events.Options{}).DecodeFeatureBaseline(&base, ev.Value))
			break
		}
	}
	require.Len(t, base.Features, 6)
	proportions := func(vs []float64, edges []float64) []float64 {
		ps := make([]float64, len(edges)+1)
		for _, v := range vs {
			i, _ := slices.BinarySearch(edges, v)
			if i < len(edges) && edges[i] == v {
				i++ // [e_i, e_i+1)
			}
			ps[i] += 1 / float64(len(vs))
		}
		return ps
	}

	// 20000 predictions 1ms apart: the first 20 s are before the drift.
	var before, after [][]byte
	for i := range 40000 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		p, tr := g.AppendPrediction(nil, at)
		if at.Before(t0.Add(20 * time.Second)) {
			require.False(t, tr.Drifted)
			before = append(before, p)
		} else {
			require.True(t, tr.Drifted)
			after = append(after, p)
		}
	}
	for _, f := range base.Features {
		if f.Type != events.FeatureNumeric {
			continue
		}
		pre := proportions(numericValues(t, before, f.Feature), f.BinEdges)
		post := proportions(numericValues(t, after, f.Feature), f.BinEdges)
		for i, p := range pre {
			assert.InDelta(t, f.BinProportions[i], p, 0.015, "%s bin %d before the drift matches the baseline", f.Feature, i)
		}
		if f.Feature == "amount" {
			// Shifted 1.5 sd up: most values now in the top bins.
			assert.Greater(t, post[len(post)-1], 0.4, "%s top bin after the drift: %v", f.Feature, post)
			assert.Less(t, post[0], 0.01)
		} else {
			for i, p := range post {
				assert.InDelta(t, f.BinProportions[i], p, 0.015, "%s bin %d does not drift", f.Feature, i)
			}
		}
	}
	// Categorical frequencies match the baseline too.
	d := events.NewDecoder(events.Options{})
	var p events.PredictionLog
	counts := map[string]map[string]int{}
	for _, m := range before {
		require.NoError(t, d.DecodePrediction(&p, m))
		for i, k := range p.CatFeatures.Keys {
			k = strings.Clone(k) // borrowed until the next Decode
			if counts[k] == nil {
				counts[k] = map[string]int{}
			}
			counts[k][strings.Clone(p.CatFeatures.Values[i])]++
		}
	}
	for _, f := range base.Features {
		if f.Type != events.FeatureCategorical {
			continue
		}
		var sum float64
		for i, v := range f.Categories.Keys {
			share := float64(counts[f.Feature][v]) / float64(len(before))
			assert.InDelta(t, f.Categories.Values[i], share, 0.015, "%s=%s", f.Feature, v)
			sum += f.Categories.Values[i]
		}
		assert.InDelta(t, 1, sum, 0.001)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		give Config
		want string
	}{
		{name: "unknown drift feature", give: Config{DriftAfter: time.Minute, DriftFeature: "nope"}, want: `drift feature "nope"`},
		{name: "drift without numeric features", give: Config{DriftAfter: time.Minute, CategoricalFeatures: 3}, want: "numeric feature"},
		{name: "rate out of range", give: Config{ErrorRate: 2}, want: "error rate 2"},
		{name: "negative delay", give: Config{LabelDelay: -time.Second}, want: "label delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.give)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestMessageShape(t *testing.T) {
	g := newGen(t, Config{Seed: 1, Models: 1})
	m, tr := g.AppendPrediction(nil, t0)
	assert.True(t, bytes.HasPrefix(m, []byte(`{"request_id":"`+tr.RequestID+`","model_id":"fraud-detector"`)), "%s", m)
	assert.Contains(t, string(m), `"event_time":"2025-11-26T14:00:00.000Z"`)
	assert.Contains(t, string(m), `"experiment_id":"exp-fraud-detector-challenger","variant":"`+tr.Variant+`"`)
	assert.Equal(t, byte('4'), tr.RequestID[14])
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func corr(xs, ys []float64) float64 {
	mx, my := mean(xs), mean(ys)
	var sxy, sxx, syy float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
		syy += (ys[i] - my) * (ys[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}
