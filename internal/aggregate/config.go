package aggregate

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/predlog/predlog/internal/config"
)

// Config configures an Aggregator. FromConfig builds it from the daemon's
// configuration; the zero values of the optional fields take the defaults
// documented on them.
type Config struct {
	// Database holds the predlog tables (config clickhouse.database).
	Database string
	// Interval between scheduled cycles (schedule.interval).
	Interval time.Duration
	// Granularities are the window sizes, strictly ascending; each a whole
	// number of seconds and a multiple of the first (windows.granularities).
	// The first is the base window every other is rolled up from.
	Granularities []time.Duration
	// AllowedLateness: a window is first computed once end+AllowedLateness
	// has passed (windows.allowed_lateness).
	AllowedLateness time.Duration
	// LabelHorizon: windows are recomputed for late predictions and outcomes
	// until end+LabelHorizon, then computed a last time and marked final;
	// outcomes later than that do not count (windows.label_horizon).
	LabelHorizon time.Duration
	// IngestDelay (windows.ingest_delay) is how far behind now the
	// ingest_time scans stop, so that inserts the ingester stamped but has
	// not finished are not skipped. Default 30s. The ingester stamps each insert attempt, so after an
	// outage rows carry the time of the attempt that landed, and a row is
	// visible as soon as that one insert is (well under a second normally;
	// the ingester gives up waiting after clickhouse.read_timeout, 1m, but
	// ClickHouse may still finish it). Rows visible later than this after
	// their ingest_time (an insert slower than the delay) are missed by the
	// late-data scan and the outcome copies; a Backfill of the range
	// repairs what the windows lack.
	IngestDelay time.Duration
	// MaxSpan bounds the prediction time range one states query covers
	// (memory); longer ranges are cut. Default 6h.
	MaxSpan time.Duration
	// RecomputePerCycle (windows.recompute_per_cycle) bounds the base
	// windows one cycle recomputes because a models record or a baseline
	// changed what they were computed with: that many windows' worth of
	// time (at least one window), newest first; the next cycles take the
	// older ones. Default MaxSpan.
	RecomputePerCycle time.Duration

	// Drift thresholds (drift.*): PSI and Jensen-Shannon distance above which
	// a feature is flagged, and the significance level of the KS and
	// chi-squared tests after Benjamini-Hochberg correction.
	PSIThreshold, JSThreshold, PValue float64
	// MinSamples (drift.min_samples): windows with fewer non-null values
	// are flagged by the tests only, not by PSI or JS, which at small n are
	// mostly sampling noise (an undrifted window of n values in k bins
	// scores PSI ≈ (k-1)/n; JS distance ≈ sqrt((k-1)/(2n·ln 2))).
	MinSamples int
	// MinEffect (drift.min_effect): a significant KS or chi-squared test
	// flags a feature only if its KS statistic or L∞ distance is at least
	// this; with many values every test is significant.
	MinEffect float64
	// NullRateThreshold (drift.null_rate_threshold): a rise in a feature's
	// share of missing values beyond it flags the feature, in windows of at
	// least MinSamples predictions or when the feature is missing from all
	// of them. Default 0.1.
	NullRateThreshold float64
	// InsertTimeBins (drift.insert_time_bins): create feature_bins_1m_mv and
	// feature_values_1m_mv if they are missing. The aggregator uses what the
	// views counted wherever it covers a window, whoever created them.
	InsertTimeBins bool
	// AutoBaseline (drift.auto_baseline): a version without any baseline
	// gets its first AutoBaseline of serving frozen as one; 0 is off.
	AutoBaseline time.Duration
	// DriftModels (drift.models) overrides the thresholds per model id.
	DriftModels map[string]DriftModel
	// RequestScan: find the windows late outcomes touch by scanning the
	// request ids of prediction_logs within the label horizon instead of
	// looking them up in prediction_requests, which the aggregator fills
	// each cycle: on a cluster, where that node-local table cannot serve.
	RequestScan bool
	// Sharded: the tables are Distributed over a cluster's shards, so FINAL
	// collapses rows only within each shard.
	Sharded bool

	// SliceKeys are the metadata keys performance metrics are sliced by, and
	// TopN the values kept per key (slices.*).
	SliceKeys []string
	TopN      int

	// LabelCap bounds the model ids exported as Prometheus label values
	// (metrics.label_cap); GaugeGranularity is the granularity whose latest
	// window the per-model gauges show. Default: the first granularity of
	// at least one hour, else the largest.
	LabelCap         int
	GaugeGranularity time.Duration
	// GaugeMinLabeled (metrics.min_labeled): the quality gauges show the
	// latest window with at least this many labelled predictions.
	GaugeMinLabeled int

	// ABControl names the control variant per experiment; default the
	// lexicographically first variant. ABSplit gives the planned traffic
	// share per experiment and variant for the sample-ratio-mismatch test;
	// default equal shares. ABConfidence is the confidence level of the lift
	// intervals (default 0.95).
	ABControl    map[string]string
	ABSplit      map[string]map[string]float64
	ABConfidence float64
}

// FromConfig returns the aggregator configuration of the daemon config c.
func FromConfig(c config.AggregatorConfig) Config {
	return Config{
		Database:          c.ClickHouse.Database,
		Interval:          c.Schedule.Interval,
		Granularities:     slices.Clone(c.Windows.Granularities),
		AllowedLateness:   c.Windows.AllowedLateness,
		LabelHorizon:      c.Windows.LabelHorizon,
		IngestDelay:       c.Windows.IngestDelay,
		RecomputePerCycle: c.Windows.RecomputePerCycle,
		PSIThreshold:      c.Drift.PSIThreshold,
		JSThreshold:       c.Drift.JSThreshold,
		PValue:            c.Drift.PValue,
		MinSamples:        c.Drift.MinSamples,
		MinEffect:         c.Drift.MinEffect,
		NullRateThreshold: c.Drift.NullRateThreshold,
		InsertTimeBins:    c.Drift.InsertTimeBins,
		AutoBaseline:      c.Drift.AutoBaseline,
		DriftModels:       driftModels(c.Drift.Models),
		RequestScan:       c.ClickHouse.Cluster != "",
		Sharded:           c.ClickHouse.Cluster != "",
		SliceKeys:         slices.Clone(c.Slices.MetadataKeys),
		TopN:              c.Slices.TopN,
		LabelCap:          c.Metrics.LabelCap,
		GaugeMinLabeled:   c.Metrics.MinLabeled,
		GaugeGranularity:  c.Metrics.Granularity,
		ABConfidence:      c.AB.Confidence,
		ABControl:         abControl(c.AB.Experiments),
		ABSplit:           abSplit(c.AB.Experiments),
	}
}

// DriftModel overrides the drift thresholds of one model; a zero
// threshold keeps the global one. Ignored features are measured but never
// flagged, and left out of the Benjamini-Hochberg correction and of the
// max-PSI gauge.
type DriftModel struct {
	Thresholds
	Features map[string]Thresholds // per feature, over the model's
	Ignore   map[string]bool
}

// Thresholds are drift thresholds; zero keeps the one they override.
type Thresholds struct {
	PSI, JS, NullRate float64
}

// or returns t, with o's threshold where t has none.
func (t Thresholds) or(o Thresholds) Thresholds {
	return Thresholds{PSI: cmp.Or(t.PSI, o.PSI), JS: cmp.Or(t.JS, o.JS), NullRate: cmp.Or(t.NullRate, o.NullRate)}
}

func driftModels(ms map[string]config.DriftModel) map[string]DriftModel {
	thresholds := func(d config.DriftThresholds) Thresholds {
		return Thresholds{PSI: d.PSIThreshold, JS: d.JSThreshold, NullRate: d.NullRateThreshold}
	}
	out := map[string]DriftModel{}
	for id, m := range ms {
		d := DriftModel{Thresholds: thresholds(m.DriftThresholds), Features: map[string]Thresholds{}, Ignore: map[string]bool{}}
		for f, t := range m.Features {
			d.Features[f] = thresholds(t)
		}
		for _, f := range m.IgnoreFeatures {
			d.Ignore[f] = true
		}
		out[id] = d
	}
	return out
}

// driftThresholds returns the thresholds of one feature of model: the
// feature's overrides, else the model's, else the global ones.
func (c Config) driftThresholds(model, feature string) Thresholds {
	global := Thresholds{PSI: c.PSIThreshold, JS: c.JSThreshold, NullRate: c.NullRateThreshold}
	m, ok := c.DriftModels[model]
	if !ok {
		return global
	}
	return m.Features[feature].or(m.Thresholds.or(global))
}

func abControl(exps map[string]config.Experiment) map[string]string {
	out := map[string]string{}
	for id, e := range exps {
		if e.Control != "" {
			out[id] = e.Control
		}
	}
	return out
}

func abSplit(exps map[string]config.Experiment) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for id, e := range exps {
		if len(e.Split) > 0 {
			out[id] = maps.Clone(e.Split)
		}
	}
	return out
}

// withDefaults fills the optional fields.
func (c Config) withDefaults() Config {
	if c.IngestDelay == 0 {
		c.IngestDelay = 30 * time.Second
	}
	if c.MaxSpan == 0 {
		c.MaxSpan = 6 * time.Hour
		if len(c.Granularities) > 0 {
			// A span holds at least one base window.
			c.MaxSpan = max(c.MaxSpan, c.Granularities[0])
		}
	}
	if c.RecomputePerCycle == 0 {
		c.RecomputePerCycle = c.MaxSpan
	}
	if c.NullRateThreshold == 0 {
		c.NullRateThreshold = 0.1
	}
	if c.ABConfidence == 0 {
		c.ABConfidence = 0.95
	}
	if c.GaugeGranularity == 0 && len(c.Granularities) > 0 {
		c.GaugeGranularity = c.Granularities[len(c.Granularities)-1]
		for _, g := range c.Granularities {
			if g >= time.Hour {
				c.GaugeGranularity = g
				break
			}
		}
	}
	return c
}

// validate reports the first invalid setting, named by its config key.
func (c Config) validate() error {
	if c.Database == "" {
		return errors.New("invalid clickhouse.database: must be set")
	}
	if c.Interval <= 0 {
		return fmt.Errorf("invalid schedule.interval (%v): must be > 0", c.Interval)
	}
	if err := config.CheckGranularities(c.Granularities); err != nil {
		return fmt.Errorf("invalid windows.granularities: %w", err)
	}
	if c.AllowedLateness < 0 {
		return fmt.Errorf("invalid windows.allowed_lateness (%v): must be >= 0", c.AllowedLateness)
	}
	if c.LabelHorizon < c.AllowedLateness {
		return fmt.Errorf("invalid windows.label_horizon (%v): must be >= windows.allowed_lateness", c.LabelHorizon)
	}
	if c.IngestDelay < 0 {
		return fmt.Errorf("invalid ingest delay (%v): must be >= 0", c.IngestDelay)
	}
	if c.MaxSpan < c.Granularities[0] {
		return fmt.Errorf("invalid max span (%v): must be >= the base window %v", c.MaxSpan, c.Granularities[0])
	}
	if c.RecomputePerCycle < 0 {
		return fmt.Errorf("invalid windows.recompute_per_cycle (%v): must be > 0", c.RecomputePerCycle)
	}
	if c.PSIThreshold <= 0 {
		return fmt.Errorf("invalid drift.psi_threshold (%v): must be > 0", c.PSIThreshold)
	}
	if c.NullRateThreshold <= 0 || c.NullRateThreshold >= 1 {
		return fmt.Errorf("invalid drift.null_rate_threshold (%v): must be in (0, 1)", c.NullRateThreshold)
	}
	if c.JSThreshold <= 0 || c.JSThreshold > 1 {
		return fmt.Errorf("invalid drift.js_threshold (%v): must be in (0, 1]", c.JSThreshold)
	}
	if c.PValue <= 0 || c.PValue >= 1 {
		return fmt.Errorf("invalid drift.p_value (%v): must be in (0, 1)", c.PValue)
	}
	if len(c.SliceKeys) > 0 && c.TopN <= 0 {
		return fmt.Errorf("invalid slices.top_n (%d): must be > 0", c.TopN)
	}
	for i, k := range c.SliceKeys {
		if k == "" {
			return fmt.Errorf("invalid slices.metadata_keys[%d]: empty key", i)
		}
		if strings.HasPrefix(k, abSlicePrefix) {
			return fmt.Errorf("invalid slices.metadata_keys[%d] (%q): keys starting with %q are the A/B rows' own", i, k, abSlicePrefix)
		}
	}
	if c.GaugeMinLabeled < 0 {
		return fmt.Errorf("invalid metrics.min_labeled (%d): must be >= 0", c.GaugeMinLabeled)
	}
	if c.LabelCap < 0 {
		return fmt.Errorf("invalid metrics.label_cap (%d): must be >= 0", c.LabelCap)
	}
	if !slices.Contains(c.Granularities, c.GaugeGranularity) {
		return fmt.Errorf("invalid gauge granularity (%v): not one of windows.granularities", c.GaugeGranularity)
	}
	if c.ABConfidence <= 0 || c.ABConfidence >= 1 {
		return fmt.Errorf("invalid A/B confidence level (%v): must be in (0, 1)", c.ABConfidence)
	}
	return nil
}

// GranularityName is the granularity string stored in the output tables:
// "1m", "1h", "1d", "90s", ... (days, else hours, else minutes, else seconds).
func GranularityName(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}
