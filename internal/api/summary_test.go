package api

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

var defaultRule = TrendRule{Tolerance: DefaultTrendTolerance, MinLabeled: DefaultTrendMinLabeled}

// TestTrendFewLabels: a change between ends with fewer than MinLabeled
// labels each is no trend, however large; the detail still shows it.
func TestTrendFewLabels(t *testing.T) {
	tests := []struct {
		name     string
		labels   uint64 // per window; 8 windows, 2 compared at each end
		rule     TrendRule
		want     any
		wantEnds uint64
	}{
		{"too few", 30, defaultRule, nil, 60},
		{"just enough", 50, defaultRule, TrendImproving, 100},
		{"rule off", 1, TrendRule{Tolerance: DefaultTrendTolerance, MinLabeled: -1}, TrendImproving, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := windowsF1(0.2, 0.2, 0.5, 0.5, 0.5, 0.5, 0.9, 0.9)
			for i := range ws {
				ws[i].LabeledCount = tt.labels
			}
			s := Summarize(ws, tt.rule)
			if tt.want == nil {
				assert.Nil(t, s.Trend)
			} else if assert.NotNil(t, s.Trend) {
				assert.Equal(t, tt.want, *s.Trend)
			}
			assert.Equal(t, tt.wantEnds, s.TrendDetail.StartLabeled)
			assert.Equal(t, tt.wantEnds, s.TrendDetail.EndLabeled)
			if assert.NotNil(t, s.TrendDetail.Change) {
				assert.InDelta(t, 0.7, *s.TrendDetail.Change, 1e-12)
			}
		})
	}
}

func windowsF1(f1s ...float64) []PerformanceWindow {
	ws := make([]PerformanceWindow, len(f1s))
	for i, v := range f1s {
		ws[i] = PerformanceWindow{F1: f64(v), LabeledCount: 1000}
		if math.IsNaN(v) {
			ws[i].F1 = nil
		}
	}
	return ws
}

func TestTrend(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name         string
		give         []PerformanceWindow
		want         any // string or nil
		wantCompared int
		wantChange   float64
	}{
		{name: "no windows", give: nil, want: nil},
		{name: "one window", give: windowsF1(0.5), want: nil},
		{name: "only nulls", give: windowsF1(nan, nan, nan), want: nil},
		{name: "two windows up", give: windowsF1(0.5, 0.6), want: TrendImproving, wantCompared: 1, wantChange: 0.1},
		{name: "two windows down", give: windowsF1(0.6, 0.5), want: TrendDeclining, wantCompared: 1, wantChange: -0.1},
		{name: "within tolerance", give: windowsF1(0.80, 0.81), want: TrendStable, wantCompared: 1, wantChange: 0.01},
		{name: "exactly tolerance is stable", give: windowsF1(0.5, 0.5+DefaultTrendTolerance/2, 0.5+DefaultTrendTolerance), want: TrendStable, wantCompared: 1, wantChange: 0.02},
		{name: "quarters averaged", give: windowsF1(0.5, 0.7, 0.1, 0.1, 0.1, 0.1, 0.7, 0.7), want: TrendImproving, wantCompared: 2, wantChange: 0.1},
		{name: "nulls skipped", give: windowsF1(0.7, nan, 0.7, nan, 0.6), want: TrendDeclining, wantCompared: 1, wantChange: -0.1},
		{name: "spike in the middle ignored", give: windowsF1(0.7, 0.7, 0.7, 0.7, 0.1, 0.7, 0.7, 0.7), want: TrendStable, wantCompared: 2, wantChange: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(tt.give, defaultRule)
			if tt.want == nil {
				assert.Nil(t, s.Trend)
				assert.Nil(t, s.TrendDetail.Change)
				return
			}
			if assert.NotNil(t, s.Trend) {
				assert.Equal(t, tt.want, *s.Trend)
			}
			assert.Equal(t, tt.wantCompared, s.TrendDetail.Compared)
			assert.InDelta(t, tt.wantChange, *s.TrendDetail.Change, 1e-9)
			assert.Equal(t, "f1", s.TrendDetail.Metric)
		})
	}
}

func TestTrendMacroF1(t *testing.T) {
	ws := []PerformanceWindow{{MacroF1: f64(0.9), LabeledCount: 200}, {MacroF1: f64(0.5), LabeledCount: 200}}
	s := Summarize(ws, defaultRule)
	assert.Equal(t, "macro_f1", s.TrendDetail.Metric)
	assert.Equal(t, TrendDeclining, *s.Trend)
}

func TestSummarize(t *testing.T) {
	ws := []PerformanceWindow{
		{PredictionCount: 100, ErrorCount: 10, LabeledCount: 50, TP: 30, FP: 10, FN: 20, LatencyAvgMs: f64(10)},
		{PredictionCount: 300, ErrorCount: 0, LabeledCount: 0, LatencyAvgMs: f64(20)},
		{PredictionCount: 0, LatencyAvgMs: nil},
	}
	s := Summarize(ws, defaultRule)
	assert.Equal(t, 3, s.Windows)
	assert.Equal(t, uint64(400), s.TotalPredictions)
	assert.Equal(t, uint64(50), s.LabeledPredictions)
	assert.InDelta(t, 0.025, *s.ErrorRate, 1e-12)
	assert.InDelta(t, 0.75, *s.AvgPrecision, 1e-12)
	assert.InDelta(t, 0.6, *s.AvgRecall, 1e-12)
	assert.InDelta(t, 2*0.75*0.6/1.35, *s.AvgF1, 1e-12)
	assert.InDelta(t, 17.5, *s.AvgLatencyMs, 1e-12, "weighted by prediction_count")
	assert.InDelta(t, 0.5, *s.AvgAccuracy, 1e-12, "binary: (tp + tn) of the counts")
	assert.Nil(t, s.AvgMacroF1)
	assert.Nil(t, s.AvgMAE)
	assert.Nil(t, s.AvgRMSE)

	// Nothing defined: nulls, not zeros or NaN.
	s = Summarize([]PerformanceWindow{{}}, defaultRule)
	assert.Nil(t, s.ErrorRate)
	assert.Nil(t, s.AvgPrecision)
	assert.Nil(t, s.AvgRecall)
	assert.Nil(t, s.AvgF1)
	assert.Nil(t, s.AvgLatencyMs)
	assert.Nil(t, s.AvgAccuracy)

	// tp = 0 with mistakes: F1 0 as in the windows (2tp / (2tp + fp +
	// fn)), also where precision or recall is undefined.
	tests := []struct {
		name    string
		w       PerformanceWindow
		p, r, f *float64
	}{
		{"wrong both ways", PerformanceWindow{FP: 3, FN: 2}, f64(0), f64(0), f64(0)},
		{"never predicts positive", PerformanceWindow{FN: 2, TN: 5}, nil, f64(0), f64(0)},
		{"no actual positive", PerformanceWindow{FP: 2, TN: 5}, f64(0), nil, f64(0)},
		{"only negatives, all right", PerformanceWindow{TN: 5}, nil, nil, nil},
	}
	for _, tt := range tests {
		s := Summarize([]PerformanceWindow{tt.w}, defaultRule)
		assert.Equal(t, tt.p, s.AvgPrecision, "%s: precision", tt.name)
		assert.Equal(t, tt.r, s.AvgRecall, "%s: recall", tt.name)
		assert.Equal(t, tt.f, s.AvgF1, "%s: f1", tt.name)
	}
}

// TestSummarizeOtherProblems: multiclass and regression windows are
// averaged by their labels.
func TestSummarizeOtherProblems(t *testing.T) {
	mc := Summarize([]PerformanceWindow{
		{LabeledCount: 30, Accuracy: f64(0.9), MacroF1: f64(0.8)},
		{LabeledCount: 10, Accuracy: f64(0.5), MacroF1: f64(0.4)},
		{LabeledCount: 0},
	}, defaultRule)
	assert.InDelta(t, 0.8, *mc.AvgAccuracy, 1e-12)
	assert.InDelta(t, 0.7, *mc.AvgMacroF1, 1e-12)
	assert.Nil(t, mc.AvgMAE)

	reg := Summarize([]PerformanceWindow{
		{LabeledCount: 1, MAE: f64(2), RMSE: f64(3)},
		{LabeledCount: 3, MAE: f64(6), RMSE: f64(1)},
	}, defaultRule)
	assert.InDelta(t, 5, *reg.AvgMAE, 1e-12)
	assert.InDelta(t, math.Sqrt((9+3)/4.0), *reg.AvgRMSE, 1e-12, "root of the weighted mean square")
	assert.Nil(t, reg.AvgAccuracy)
}

// TestTrendWeighted: windows count for their labels, so a barely labelled
// newest window does not turn the trend.
func TestTrendWeighted(t *testing.T) {
	ws := []PerformanceWindow{
		{F1: f64(0.8), LabeledCount: 1000}, {F1: f64(0.8), LabeledCount: 1000}, {F1: f64(0.8), LabeledCount: 1000},
		{F1: f64(0.8), LabeledCount: 1000}, {F1: f64(0.8), LabeledCount: 1000}, {F1: f64(0.8), LabeledCount: 1000},
		{F1: f64(0.81), LabeledCount: 990}, {F1: f64(0.0), LabeledCount: 10}, // the newest: 10 labels so far
	}
	s := Summarize(ws, defaultRule)
	if assert.NotNil(t, s.Trend) {
		assert.Equal(t, TrendStable, *s.Trend)
	}
	assert.InDelta(t, (0.81*990+0)/1000-0.8, *s.TrendDetail.Change, 1e-12)

	// Unweighted (equal labels), the same windows would read as declining.
	for i := range ws {
		ws[i].LabeledCount = 500
	}
	s = Summarize(ws, defaultRule)
	if assert.NotNil(t, s.Trend) {
		assert.Equal(t, TrendDeclining, *s.Trend)
	}
}

// TestTrendRegression: without F1, MAE decides, lower being better, with a
// tolerance relative to its start.
func TestTrendRegression(t *testing.T) {
	tests := []struct {
		name string
		maes []float64
		want string
	}{
		{"error falls", []float64{10, 10, 9, 8}, TrendImproving},
		{"error rises", []float64{10, 10, 11, 12}, TrendDeclining},
		{"within 2% of start", []float64{100, 100, 101, 101.5}, TrendStable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := make([]PerformanceWindow, len(tt.maes))
			for i, v := range tt.maes {
				ws[i] = PerformanceWindow{MAE: f64(v), LabeledCount: 100}
			}
			s := Summarize(ws, defaultRule)
			assert.Equal(t, "mae", s.TrendDetail.Metric)
			if assert.NotNil(t, s.Trend) {
				assert.Equal(t, tt.want, *s.Trend)
			}
		})
	}
}

// TestLabelWarnings: binary windows whose labels never match the positive
// class (class names of a multiclass model scored as binary) are warned
// about once they hold minLabelsNoPositive labelled predictions; a single
// positive label, or fewer labels, is not.
func TestLabelWarnings(t *testing.T) {
	tests := []struct {
		name       string
		tn, tp, fp uint64 // per window, 2 windows
		warn       bool
	}{
		{"classes against positive class 1", 500, 0, 0, true},
		{"predicted positive, never actual", 400, 0, 100, true},
		{"one positive label", 500, 1, 0, false},
		{"too few labels: positives may be rare", 499, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := []PerformanceWindow{
				{ProblemType: "binary", PredictionCount: 600, LabeledCount: tt.tn + tt.tp + tt.fp, TN: tt.tn, TP: tt.tp, FP: tt.fp},
				{ProblemType: "binary", PredictionCount: 600, LabeledCount: tt.tn + tt.fp, TN: tt.tn, FP: tt.fp},
			}
			got := labelWarnings(ws)
			if !tt.warn {
				assert.Empty(t, got)
				return
			}
			if assert.Len(t, got, 1) {
				assert.Equal(t, WarnNoPositiveLabels, got[0].Code)
				assert.Contains(t, got[0].Message, "positive_class")
			}
		})
	}
	s := Summarize([]PerformanceWindow{{ProblemType: "binary", LabeledCount: 5000, TN: 5000}}, defaultRule)
	assert.NotNil(t, s.Warnings, "an empty list, not null")
	assert.Empty(t, s.Warnings, "slices' summaries do not warn")
}
