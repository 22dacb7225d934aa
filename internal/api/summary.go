package api

import (
	"fmt"
	"math"
	"reflect"
)

// DefaultTrendTolerance is the change in mean F1 below which a trend is
// "stable".
const DefaultTrendTolerance = 0.02

// DefaultTrendMinLabeled is how many labelled predictions each end of a
// trend needs (as metrics.min_labeled for the aggregator's gauges): an F1
// over a few dozen labels moves by more than the tolerance by chance.
const DefaultTrendMinLabeled = 100

// TrendRule is how Summarize tells a trend: the tolerance, and the
// labelled predictions each compared end needs.
type TrendRule struct {
	Tolerance  float64
	MinLabeled int
}

// Summarize aggregates windows (oldest first) of one model version and
// granularity:
//
//   - total_predictions, labeled_predictions: sums over the windows.
//   - error_rate: Σ error_count / Σ prediction_count.
//   - avg_precision, avg_recall: micro averages over the period,
//     Σtp / Σ(tp+fp) and Σtp / Σ(tp+fn) (binary models; null when the
//     denominator is 0, e.g. multiclass or regression models); avg_f1 is
//     2Σtp / (2Σtp + Σfp + Σfn), their harmonic mean where both are
//     defined and 0 where tp = 0 but fp + fn > 0, as f1 in the windows.
//   - avg_latency_ms: mean of latency_avg_ms weighted by prediction_count.
//   - avg_accuracy: binary models Σ(tp+tn) / Σ(tp+fp+tn+fn); otherwise
//     (multiclass) the windows' accuracy weighted by labeled_count, like
//     avg_macro_f1 and avg_mae (regression); avg_rmse is the root of the
//     windows' squared rmse weighted the same way. Weighting by
//     labeled_count is exact where every labeled prediction counts for the
//     metric (it does not for labels without a class or value).
//   - trend: take the windows that have an F1 (f1; macro_f1 when no window
//     has f1; for regression models mae), n of them. With n < 2 the trend
//     is null. Otherwise let k = max(1, n/4): start is the mean of the
//     first k windows, end the mean of the last k, each window weighted by
//     its labeled_count (so that the newest windows, whose outcomes are
//     still arriving, count for the labels they have), change = end -
//     start; change > tolerance is "improving", change < -tolerance
//     "declining", anything else (a change of exactly ±tolerance included)
//     "stable". For mae, lower is better and the tolerance is relative:
//     change < -tolerance·start is "improving", > tolerance·start
//     "declining". When either end's windows hold fewer than
//     rule.MinLabeled labelled predictions the trend is null (too few to
//     tell a change from chance); trend_detail still says start, end and
//     change, and how many labels each end had.
//   - warnings: empty; the performance history adds labelWarnings.
func Summarize(windows []PerformanceWindow, rule TrendRule) PerformanceSummary {
	s := PerformanceSummary{Windows: len(windows), Warnings: []Warning{}}
	var errs, tp, fp, tn, fn uint64
	var latSum, latWeight float64
	for _, w := range windows {
		s.TotalPredictions += w.PredictionCount
		s.LabeledPredictions += w.LabeledCount
		errs += w.ErrorCount
		tp, fp, tn, fn = tp+w.TP, fp+w.FP, tn+w.TN, fn+w.FN
		if w.LatencyAvgMs != nil && w.PredictionCount > 0 {
			latSum += *w.LatencyAvgMs * float64(w.PredictionCount)
			latWeight += float64(w.PredictionCount)
		}
	}
	s.ErrorRate = ratio(float64(errs), float64(s.TotalPredictions))
	s.AvgPrecision = ratio(float64(tp), float64(tp+fp))
	s.AvgRecall = ratio(float64(tp), float64(tp+fn))
	// As the windows' f1: 0 when nothing was found but mistakes were made
	// (precision or recall undefined or 0), null only without any.
	s.AvgF1 = ratio(float64(2*tp), float64(2*tp+fp+fn))
	s.AvgLatencyMs = ratio(latSum, latWeight)
	s.AvgAccuracy = ratio(float64(tp+tn), float64(tp+fp+tn+fn))
	if s.AvgAccuracy == nil {
		s.AvgAccuracy = labelWeighted(windows, func(w PerformanceWindow) *float64 { return w.Accuracy })
	}
	s.AvgMacroF1 = labelWeighted(windows, func(w PerformanceWindow) *float64 { return w.MacroF1 })
	s.AvgMAE = labelWeighted(windows, func(w PerformanceWindow) *float64 { return w.MAE })
	if ms := labelWeighted(windows, func(w PerformanceWindow) *float64 {
		if w.RMSE == nil {
			return nil
		}
		sq := *w.RMSE * *w.RMSE
		return &sq
	}); ms != nil {
		s.AvgRMSE = finite(math.Sqrt(*ms))
	}
	s.Trend, s.TrendDetail = trend(windows, rule)
	return s
}

// minLabelsNoPositive is how many labelled predictions of a binary model
// without a positive label make labelWarnings warn: fewer may just be a
// quiet period of a model whose positives are rare (at 0.5 % positives,
// 1,000 labels hold none with probability 0.7 %).
const minLabelsNoPositive = 1000

// labelWarnings warns (no_positive_labels) when the binary windows hold at
// least minLabelsNoPositive labelled predictions and none has the positive
// class as label (tp + fn = 0): labels such as true/false against positive
// class "1", or the classes of a multiclass model without a metadata
// record, score every prediction a true or false negative without any
// error. The model's whole history only: a slice's may be small.
func labelWarnings(windows []PerformanceWindow) []Warning {
	var n, pos uint64
	for _, w := range windows {
		n += w.TP + w.FP + w.TN + w.FN
		pos += w.TP + w.FN
	}
	if n < minLabelsNoPositive || pos > 0 {
		return nil
	}
	return []Warning{{Code: WarnNoPositiveLabels, Message: fmt.Sprintf(
		"none of the period's %d labelled predictions of a binary model has its positive class as label, so recall is undefined and precision counts no hit. "+
			"Unless positives are that rare, the labels are not this model's binary classes (true/false against positive_class \"1\", or the classes of a multiclass model): "+
			"send a models record with its problem_type and positive_class (docs/events.md)", n)}}
}

// labelWeighted is the mean of a metric over the windows that have it,
// each weighted by its labeled_count; nil when none has it.
func labelWeighted(windows []PerformanceWindow, get func(PerformanceWindow) *float64) *float64 {
	vals := metricValues(windows, get)
	if len(vals) == 0 {
		return nil
	}
	return finite(weightedMean(vals))
}

// trendMetrics are the metrics a trend can follow, in order of preference;
// lowerBetter marks the error metric, whose tolerance is relative.
var trendMetrics = []struct {
	name        string
	get         func(PerformanceWindow) *float64
	lowerBetter bool
}{
	{"f1", func(w PerformanceWindow) *float64 { return w.F1 }, false},
	{"macro_f1", func(w PerformanceWindow) *float64 { return w.MacroF1 }, false},
	{"mae", func(w PerformanceWindow) *float64 { return w.MAE }, true},
}

func trend(windows []PerformanceWindow, rule TrendRule) (*string, TrendDetail) {
	tolerance := rule.Tolerance
	d := TrendDetail{Metric: trendMetrics[0].name, Tolerance: tolerance, MinLabeled: rule.MinLabeled}
	var vals []weighted
	lowerBetter := false
	for _, m := range trendMetrics {
		if vals = metricValues(windows, m.get); len(vals) > 0 {
			d.Metric, lowerBetter = m.name, m.lowerBetter
			break
		}
	}
	d.Windows = len(vals)
	if len(vals) < 2 {
		return nil, d
	}
	k := max(1, len(vals)/4)
	start, end := weightedMean(vals[:k]), weightedMean(vals[len(vals)-k:])
	change := end - start
	d.Compared, d.Start, d.End, d.Change = k, finite(start), finite(end), finite(change)
	d.StartLabeled, d.EndLabeled = labeled(vals[:k]), labeled(vals[len(vals)-k:])
	if d.Change == nil || min(d.StartLabeled, d.EndLabeled) < uint64(max(rule.MinLabeled, 0)) {
		return nil, d
	}
	// The slack keeps a change of exactly the tolerance "stable" despite
	// rounding (0.52 - 0.50 is 0.020000000000000018).
	const slack = 1e-9
	limit := tolerance + slack
	if lowerBetter {
		limit, change = limit*math.Abs(start), -change
	}
	dir := TrendStable
	switch {
	case change > limit:
		dir = TrendImproving
	case change < -limit:
		dir = TrendDeclining
	}
	return &dir, d
}

// weighted is a window's metric value, its weight (its labeled_count, 1
// when the window does not say) and its labeled_count.
type weighted struct {
	v, w float64
	n    uint64
}

func labeled(vs []weighted) uint64 {
	var n uint64
	for _, v := range vs {
		n += v.n
	}
	return n
}

func metricValues(windows []PerformanceWindow, get func(PerformanceWindow) *float64) []weighted {
	var out []weighted
	for _, w := range windows {
		if v := get(w); v != nil && !math.IsNaN(*v) && !math.IsInf(*v, 0) {
			out = append(out, weighted{*v, float64(max(w.LabeledCount, 1)), w.LabeledCount})
		}
	}
	return out
}

func weightedMean(vs []weighted) float64 {
	var sum, ws float64
	for _, v := range vs {
		sum += v.v * v.w
		ws += v.w
	}
	return sum / ws
}

// ratio is num/den, or nil when undefined.
func ratio(num, den float64) *float64 {
	if den == 0 {
		return nil
	}
	return finite(num / den)
}

// scrubNonFinite sets every *float64 holding NaN or ±Inf reachable from v
// to nil and drops such map values, in place. The store already returns
// finite values; this keeps a future field or fake from turning an answer
// into a 500 (encoding/json refuses NaN).
func scrubNonFinite(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if f, ok := v.Interface().(*float64); ok {
			if math.IsNaN(*f) || math.IsInf(*f, 0) {
				if v.CanSet() {
					v.Set(reflect.Zero(v.Type()))
				}
			}
			return
		}
		scrubNonFinite(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				scrubNonFinite(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			scrubNonFinite(v.Index(i))
		}
	case reflect.Map:
		if v.Type().Elem().Kind() == reflect.Float64 {
			for _, k := range v.MapKeys() {
				if f := v.MapIndex(k).Float(); math.IsNaN(f) || math.IsInf(f, 0) {
					v.SetMapIndex(k, reflect.Value{})
				}
			}
		}
	}
}

// scrubbed returns body with non-finite floats removed (see scrubNonFinite).
func scrubbed(body any) any {
	if body == nil {
		return nil
	}
	rv := reflect.New(reflect.TypeOf(body)).Elem()
	rv.Set(reflect.ValueOf(body))
	scrubNonFinite(rv)
	return rv.Interface()
}
