package aggregate

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metrics are the aggregator's Prometheus metrics. Model gauges carry at
// most labelCap model ids (the most recently serving, then the busiest; see
// latest_perf.sql); the rest are counted in
// predlog_aggregator_model_gauges_dropped.
type metrics struct {
	cycles        *prometheus.CounterVec
	cycleDuration prometheus.Histogram
	windows       *prometheus.CounterVec
	queryDuration *prometheus.HistogramVec
	queryErrors   *prometheus.CounterVec
	marks         *watermarkMetrics
	driftPairs    *prometheus.CounterVec
	routed        *prometheus.CounterVec
	backlog       *prometheus.GaugeVec
	autoBaselines prometheus.Counter
	pastHorizon   prometheus.Counter

	precision, recall, f1, mae, rmse *prometheus.GaugeVec
	latencyP99, maxPSI, drifted      *prometheus.GaugeVec
	unmatched                        *prometheus.GaugeVec // set in labels.go, not by refreshGauges
	dropped                          prometheus.Gauge
	labelCap                         int
	// gauged holds the models each per-model gauge has a value for, so
	// that a refresh deletes only those it no longer has: a Reset before
	// setting them again would let a scrape see no value, which restarts
	// the "for" timer of every alert on them. Used by the cycle only.
	gauged map[*prometheus.GaugeVec]map[string]bool
}

func newMetrics(reg prometheus.Registerer, labelCap int) (*metrics, error) {
	const ns, sub = "predlog", "aggregator"
	model := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, []string{"model"})
	}
	m := &metrics{
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "cycles_total",
			Help: "Aggregation cycles run, by result (ok, error; not those a shutdown cut short)."}, []string{"result"}),
		cycleDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "cycle_duration_seconds",
			Help: "Wall time of one aggregation cycle.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}),
		windows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "windows_computed_total",
			Help: "Windows computed, by granularity and reason: closed (first time), late (recomputed for late predictions or outcomes), final, backfill."},
			[]string{"granularity", "reason"}),
		queryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "query_duration_seconds",
			Help: "Duration of the aggregator's ClickHouse statements, by query template.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)},
			[]string{"query"}),
		queryErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "query_errors_total",
			Help: "Failed ClickHouse statements, by query template (not those canceled: by a shutdown, or because a statement running beside them failed)."}, []string{"query"}),
		marks: newWatermarkMetrics(ns, sub, time.Now),
		driftPairs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "drift_version_windows_total",
			Help: "Drift states computed per (base window, model version), by states (numeric or categorical) and source: insert (counted at insert time: numeric histograms in feature_bins_1m, categorical values in feature_values_1m) or raw (counted from prediction_logs: the view off or created after the rows, view counts that disagree with the table, base windows that are not whole minutes; numeric also: no baseline or one newer than the rows, a feature without one)."},
			[]string{"states", "source"}),
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "outcomes_routed_total",
			Help: "Outcomes routed to their windows, by result: matched (copied to window_outcomes for a window not final, their prediction indexed, on arrival or after waiting), pending (no prediction indexed yet; a steady rate means outcomes whose request ids match no prediction) or past_horizon (left out, kept in late_outcomes: they came after their prediction's label horizon)."},
			[]string{"result"}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "recompute_backlog_windows",
			Help: "Base windows still to recompute because a models record (source models) or a baseline (source baselines) changed what they were computed with; a cycle recomputes windows.recompute_per_cycle of them, newest first."},
			[]string{"source"}),
		pastHorizon: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "predictions_past_horizon_total",
			Help: "Predictions ingested after their window's label horizon (windows.label_horizon): stored, but in no window's metrics until aggregator backfill recomputes their range (counted every 10 minutes)."}),
		autoBaselines: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "auto_baselines_total",
			Help: "Baselines frozen by drift.auto_baseline: a model version's first drift.auto_baseline of serving, for versions without any baseline."}),
		precision:  model("model_precision", "Precision of the model's latest window with metrics.min_labeled labels (all versions, gauge granularity)."),
		recall:     model("model_recall", "Recall of the model's latest window with metrics.min_labeled labels (all versions, gauge granularity)."),
		f1:         model("model_f1", "F1 (macro F1 for multiclass) of the model's latest window with metrics.min_labeled labels (all versions, gauge granularity)."),
		mae:        model("model_mae", "Mean absolute error of a regression model's latest window with metrics.min_labeled labels (all versions, gauge granularity)."),
		rmse:       model("model_rmse", "Root mean squared error of a regression model's latest window with metrics.min_labeled labels (all versions, gauge granularity)."),
		latencyP99: model("model_latency_p99_seconds", "99th percentile latency of the model's latest window (within 1 %, DDSketch)."),
		maxPSI:     model("model_max_psi", "Largest feature PSI over the model's versions in its latest drift window, of features with drift.min_samples values or more."),
		drifted:    model("model_drifted_features", "Features flagged as drifted over the model's versions in its latest drift window."),
		unmatched: model("model_unmatched_labels", "Distinct label values (up to 3) that are no positive class among a binary model's outcomes since its last positive-class label: "+
			"present while 2 or more (labels such as true/false against positive_class 1, or a model that is not binary: it counts no positive), for at most metrics.label_cap models."),
		dropped: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "model_gauges_dropped",
			Help: "Models left out of the per-model gauges by metrics.label_cap."}),
		labelCap: labelCap,
		gauged:   map[*prometheus.GaugeVec]map[string]bool{},
	}
	// Both results exist from the start, so that "no success yet" is a
	// series at 0 rather than no series (alerts compare it).
	m.cycles.WithLabelValues("ok")
	m.cycles.WithLabelValues("error")
	for _, states := range []string{"numeric", "categorical"} {
		m.driftPairs.WithLabelValues(states, "insert")
		m.driftPairs.WithLabelValues(states, "raw")
	}
	m.routed.WithLabelValues("matched")
	m.routed.WithLabelValues("pending")
	m.routed.WithLabelValues("past_horizon")
	for _, src := range []string{"models", "baselines"} {
		m.backlog.WithLabelValues(src)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.cycles, m.cycleDuration, m.windows, m.queryDuration, m.queryErrors, m.marks, m.driftPairs, m.routed, m.backlog, m.autoBaselines, m.pastHorizon,
		m.precision, m.recall, m.f1, m.mae, m.rmse, m.latencyP99, m.maxPSI, m.drifted, m.unmatched, m.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// driftPairCounts returns drift_version_windows_total by "states/source".
func (m *metrics) driftPairCounts() map[string]int {
	out := map[string]int{}
	for _, states := range []string{"numeric", "categorical"} {
		for _, source := range []string{"insert", "raw"} {
			var d dto.Metric
			if err := m.driftPairs.WithLabelValues(states, source).Write(&d); err == nil {
				out[states+"/"+source] = int(d.GetCounter().GetValue())
			}
		}
	}
	return out
}

// refreshGauges reloads the per-model gauges from the latest windows of the
// gauge granularity.
func (a *Aggregator) refreshGauges(ctx context.Context, now time.Time) error {
	if a.m.labelCap == 0 {
		return nil
	}
	g := GranularityName(a.cfg.GaugeGranularity)
	params := clickhouse.Parameters{
		"granularity": g,
		"since":       chTime(now.Add(-2 * a.cfg.LabelHorizon)),
		"cap":         fmt.Sprint(a.m.labelCap),
		"min_labeled": fmt.Sprint(a.cfg.GaugeMinLabeled),
		"min_samples": fmt.Sprint(a.cfg.MinSamples),
	}
	type perf struct{ p, r, f, mae, rmse, lat *float64 }
	perfs := map[string]perf{}
	var order []string
	var models uint64
	rows, err := a.query(ctx, "latest_perf", params)
	if err != nil {
		return err
	}
	for rows.Next() {
		var model string
		var v perf
		if err := rows.Scan(&model, &v.p, &v.r, &v.f, &v.mae, &v.rmse, &v.lat, &models); err != nil {
			rows.Close()
			return fmt.Errorf("latest_perf: %w", err)
		}
		perfs[model] = v
		order = append(order, model)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("latest_perf: %w", err)
	}
	type drift struct {
		psi     float64
		drifted uint64
	}
	drifts := map[string]drift{}
	params["models"] = chStrings(order)
	var ignoredModels, ignoredFeatures []string
	for _, id := range slices.Sorted(maps.Keys(a.cfg.DriftModels)) {
		for _, f := range slices.Sorted(maps.Keys(a.cfg.DriftModels[id].Ignore)) {
			ignoredModels, ignoredFeatures = append(ignoredModels, id), append(ignoredFeatures, f)
		}
	}
	params["ignored_models"], params["ignored_features"] = chStrings(ignoredModels), chStrings(ignoredFeatures)
	rows, err = a.query(ctx, "latest_drift", params)
	if err != nil {
		return err
	}
	for rows.Next() {
		var model string
		var d drift
		if err := rows.Scan(&model, &d.psi, &d.drifted); err != nil {
			rows.Close()
			return fmt.Errorf("latest_drift: %w", err)
		}
		drifts[model] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("latest_drift: %w", err)
	}

	current := map[*prometheus.GaugeVec]map[string]bool{}
	set := func(v *prometheus.GaugeVec, model string, x *float64, scale float64) {
		if x != nil && !math.IsNaN(*x) {
			v.WithLabelValues(model).Set(*x * scale)
			if current[v] == nil {
				current[v] = map[string]bool{}
			}
			current[v][model] = true
		}
	}
	for _, model := range order {
		p := perfs[model]
		set(a.m.precision, model, p.p, 1)
		set(a.m.recall, model, p.r, 1)
		set(a.m.f1, model, p.f, 1)
		set(a.m.mae, model, p.mae, 1)
		set(a.m.rmse, model, p.rmse, 1)
		set(a.m.latencyP99, model, p.lat, 1e-3)
		if d, ok := drifts[model]; ok {
			psi, drifted := d.psi, float64(d.drifted)
			set(a.m.maxPSI, model, &psi, 1)
			set(a.m.drifted, model, &drifted, 1)
		}
	}
	for v, models := range a.m.gauged {
		for model := range models {
			if !current[v][model] {
				v.DeleteLabelValues(model)
			}
		}
	}
	a.m.gauged = current
	a.m.dropped.Set(float64(models - uint64(len(order))))
	return nil
}
