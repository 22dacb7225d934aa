package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// validator collects every invalid field so one run reports them all.
type validator struct {
	b    *binder
	errs []error
}

func (v *validator) fail(key, format string, args ...any) {
	f, ok := v.b.byKey[key]
	if !ok {
		panic("config: validate unknown key " + key) // programming error
	}
	v.errs = append(v.errs, &FieldError{Key: key, Source: f.describe(), Reason: fmt.Sprintf(format, args...)})
}

func (v *validator) check(ok bool, key, format string, args ...any) {
	if !ok {
		v.fail(key, format, args...)
	}
}

func (v *validator) err() error { return errors.Join(v.errs...) }

// fileOnly returns the reporter of problems with key, a setting only the
// YAML file sets.
func (v *validator) fileOnly(key string) func(format string, args ...any) {
	return func(format string, args ...any) {
		v.errs = append(v.errs, &FieldError{Key: key, Source: "config file", Reason: fmt.Sprintf(format, args...)})
	}
}

// driftModels checks drift.models, which only the YAML file sets.
func (v *validator) driftModels(models map[string]DriftModel) {
	for _, id := range slices.Sorted(maps.Keys(models)) {
		m := models[id]
		bad := v.fileOnly("drift.models." + id)
		if id == "" {
			bad("empty model id")
		}
		thresholds := func(prefix string, d DriftThresholds, fallback string) {
			if d.PSIThreshold < 0 || math.IsNaN(d.PSIThreshold) {
				bad("%spsi_threshold (%v): want > 0, or 0 for %s", prefix, d.PSIThreshold, fallback)
			}
			if d.JSThreshold < 0 || d.JSThreshold > 1 || math.IsNaN(d.JSThreshold) {
				bad("%sjs_threshold (%v): want it in (0, 1], or 0 for %s", prefix, d.JSThreshold, fallback)
			}
			if d.NullRateThreshold < 0 || d.NullRateThreshold >= 1 || math.IsNaN(d.NullRateThreshold) {
				bad("%snull_rate_threshold (%v): want it in (0, 1), or 0 for %s", prefix, d.NullRateThreshold, fallback)
			}
		}
		thresholds("", m.DriftThresholds, "drift.*")
		for _, f := range slices.Sorted(maps.Keys(m.Features)) {
			if f == "" {
				bad("features: empty feature name")
			}
			thresholds("features."+f+".", m.Features[f], "the model's")
		}
		for i, f := range m.IgnoreFeatures {
			if f == "" || slices.Index(m.IgnoreFeatures, f) != i {
				bad("ignore_features: want distinct non-empty names, got %q twice or empty", f)
			}
		}
	}
}

// experiments checks ab.experiments, which only the YAML file sets.
func (v *validator) experiments(exps map[string]Experiment) {
	for _, id := range slices.Sorted(maps.Keys(exps)) {
		e := exps[id]
		bad := v.fileOnly("ab.experiments." + id)
		if id == "" {
			bad("empty experiment id")
		}
		live := 0
		for _, variant := range slices.Sorted(maps.Keys(e.Split)) {
			w := e.Split[variant]
			if !(w >= 0) || math.IsInf(w, 0) {
				bad("split.%s (%v): want a weight >= 0 (0: a stopped variant, its traffic allowed but not expected)", variant, w)
			}
			if w > 0 {
				live++
			}
		}
		if len(e.Split) == 1 {
			bad("split: want two or more variants, got only %v", slices.Collect(maps.Keys(e.Split)))
		} else if len(e.Split) > 1 && live == 0 {
			bad("split: want a positive weight for at least one variant")
		}
		if _, ok := e.Split[e.Control]; e.Control != "" && len(e.Split) > 0 && !ok {
			bad("control %q: not one of the variants of split %v", e.Control, slices.Sorted(maps.Keys(e.Split)))
		}
	}
}

func (v *validator) positiveDur(key string, d time.Duration) { v.check(d > 0, key, "must be > 0") }

func (v *validator) hostPort(key, addr string) {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		v.fail(key, "want host:port (host may be empty), got %q", addr)
	}
}

// readSecretFile loads a *_file secret into its Secret, after all sources applied.
func (v *validator) readSecretFile(secretKey string, s *Secret, fileKey, path string) {
	if path == "" {
		return
	}
	if *s != "" {
		v.fail(fileKey, "set together with %s; set only one", secretKey)
		return
	}
	secret, err := ReadSecretFile(path)
	if err != nil {
		v.fail(fileKey, "%v", err)
		return
	}
	*s = secret
}

// ReadSecretFile reads a secret from path: its content without trailing
// line breaks, which must not be empty. predlog-report reads the daemons'
// password file with it.
func ReadSecretFile(path string) (Secret, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := Secret(strings.TrimRight(string(data), "\r\n"))
	if s == "" {
		return "", fmt.Errorf("file %s is empty", path)
	}
	return s, nil
}

func (v *validator) tls(prefix string, t TLS) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.fail(prefix+".cert_file", "cert_file and key_file must be set together")
	}
	for _, k := range []struct{ key, path string }{
		{prefix + ".ca_file", t.CAFile}, {prefix + ".cert_file", t.CertFile}, {prefix + ".key_file", t.KeyFile},
	} {
		if k.path == "" {
			continue
		}
		if _, err := os.Stat(k.path); err != nil {
			v.fail(k.key, "%v", err)
		}
	}
}

func (v *validator) clickhouse(c *ClickHouse) {
	v.readSecretFile("clickhouse.password", &c.Password, "clickhouse.password_file", c.PasswordFile)
	p, err := c.DSN.Parse()
	if err != nil {
		v.fail("clickhouse.dsn", "%v", err)
	} else {
		switch {
		case c.Database == "" && p.Database != "":
			c.Database = p.Database
		case c.Database == "":
			c.Database = DefaultDatabase
		case p.Database != "" && p.Database != c.Database:
			v.fail("clickhouse.database", "%q differs from database %q in clickhouse.dsn; set only one", c.Database, p.Database)
		}
	}
	v.check(c.Database == "" || validIdent(c.Database), "clickhouse.database", "want letters, digits and _ only")
	v.check(c.Cluster == "" || validIdent(c.Cluster), "clickhouse.cluster", "want letters, digits and _ only")
	v.check(c.PredictionTTLDays > 0, "clickhouse.prediction_ttl_days", "must be > 0")
	v.tls("clickhouse.tls", c.TLS)
	v.positiveDur("clickhouse.dial_timeout", c.DialTimeout)
	v.positiveDur("clickhouse.read_timeout", c.ReadTimeout)
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (v *validator) kafka(k *Kafka) {
	v.check(len(k.Brokers) > 0, "kafka.brokers", "must not be empty")
	for _, br := range k.Brokers {
		_, port, err := net.SplitHostPort(br)
		if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n == 0 {
			v.fail("kafka.brokers", "want host:port with a port from 1 to 65535, got %q", br)
			break
		}
	}
	v.check(k.GroupID != "", "kafka.group_id", "must not be empty")
	v.check(k.SessionTimeout >= 6*time.Second && k.SessionTimeout <= 5*time.Minute, "kafka.session_timeout", "must be between 6s and 5m (the broker's group.min/max.session.timeout.ms defaults)")

	seen := map[string]string{}
	for _, t := range []struct{ key, name string }{
		{"kafka.topics.predictions", k.Topics.Predictions},
		{"kafka.topics.outcomes", k.Topics.Outcomes},
		{"kafka.topics.models", k.Topics.Models},
		{"kafka.topics.training_jobs", k.Topics.TrainingJobs},
		{"kafka.topics.feature_importance", k.Topics.FeatureImportance},
		{"kafka.topics.feature_baselines", k.Topics.FeatureBaselines},
		{"kafka.topics.dlq", k.Topics.DLQ},
	} {
		switch {
		case !validTopic(t.name):
			v.fail(t.key, "want 1-249 characters of [a-zA-Z0-9._-]")
		case seen[t.name] != "":
			v.fail(t.key, "same topic as %s", seen[t.name])
		default:
			seen[t.name] = t.key
		}
	}
	v.tls("kafka.tls", k.TLS)

	s := &k.SASL
	v.readSecretFile("kafka.sasl.password", &s.Password, "kafka.sasl.password_file", s.PasswordFile)
	s.Mechanism = strings.ToUpper(s.Mechanism)
	switch s.Mechanism {
	case "":
		v.check(s.Username == "", "kafka.sasl.username", "set without kafka.sasl.mechanism")
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		v.check(s.Username != "", "kafka.sasl.username", "required with kafka.sasl.mechanism %s", s.Mechanism)
		v.check(s.Password != "", "kafka.sasl.password", "required with kafka.sasl.mechanism %s (or kafka.sasl.password_file)", s.Mechanism)
	default:
		v.fail("kafka.sasl.mechanism", "want %s, %s or %s", SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
}

func validTopic(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (v *validator) common(h HTTP, l *Log, s Shutdown) {
	v.hostPort("http.listen", h.Listen)
	l.Level = strings.ToLower(l.Level)
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		v.fail("log.level", "want debug, info, warn or error")
	}
	l.Format = strings.ToLower(l.Format)
	v.check(slices.Contains([]string{LogFormatJSON, LogFormatConsole, LogFormatAuto}, l.Format),
		"log.format", "want json, console or auto")
	v.positiveDur("shutdown.timeout", s.Timeout)
}

// finish reads password files, fills derived defaults and validates.
func (c *IngesterConfig) finish(b *binder) error {
	v := &validator{b: b}
	v.kafka(&c.Kafka)
	v.clickhouse(&c.ClickHouse)
	v.check(c.Batch.MaxRows > 0, "batch.max_rows", "must be > 0")
	v.check(c.Batch.MaxBytes > 0, "batch.max_bytes", "must be > 0")
	v.positiveDur("batch.max_age", c.Batch.MaxAge)
	v.check(c.Batch.MaxBufferedBytes >= c.Batch.MaxBytes, "batch.max_buffered_bytes",
		"must be >= batch.max_bytes (%s)", c.Batch.MaxBytes)
	v.check(c.Kafka.MaxMessageBytes > 0 && c.Kafka.MaxMessageBytes <= c.Batch.MaxBytes, "kafka.max_message_bytes",
		"must be > 0 and <= batch.max_bytes (%s)", c.Batch.MaxBytes)
	v.check(c.Kafka.DLQMaxMessageBytes >= 16*KiB, "kafka.dlq_max_message_bytes", "must be at least 16KiB (headers and reason)")
	if c.Kafka.MaxDecompressedBatchBytes == 0 {
		// Derived: room for far more than a broker-sized batch of JSON.
		c.Kafka.MaxDecompressedBatchBytes = max(64*MiB, 32*c.Kafka.MaxMessageBytes)
	}
	v.check(c.Kafka.MaxDecompressedBatchBytes >= 4*c.Kafka.MaxMessageBytes, "kafka.max_decompressed_batch_bytes",
		"must be at least 4 x kafka.max_message_bytes (%s)", 4*c.Kafka.MaxMessageBytes)
	v.positiveDur("retry.initial", c.Retry.Initial)
	v.positiveDur("retry.max", c.Retry.Max)
	v.check(c.Retry.Initial <= c.Retry.Max, "retry.initial", "must be <= retry.max (%s)", c.Retry.Max)
	v.common(c.HTTP, &c.Log, c.Shutdown)
	return v.err()
}

// finish reads password files, fills derived defaults and validates.
func (c *AggregatorConfig) finish(b *binder) error {
	v := &validator{b: b}
	v.clickhouse(&c.ClickHouse)
	// Below a second, cycles would run back to back and keep ClickHouse
	// busy for windows that close once a minute.
	v.check(c.Schedule.Interval >= time.Second, "schedule.interval", "must be at least 1s")
	if err := CheckGranularities(c.Windows.Granularities); err != nil {
		v.fail("windows.granularities", "%s", err)
	}
	v.check(c.Windows.AllowedLateness >= 0, "windows.allowed_lateness", "must be >= 0")
	v.check(c.Windows.IngestDelay > 0, "windows.ingest_delay", "must be > 0")
	v.positiveDur("windows.recompute_per_cycle", c.Windows.RecomputePerCycle)
	v.positiveDur("windows.label_horizon", c.Windows.LabelHorizon)
	// Cycles look this far back, and pass it to ClickHouse in seconds as a
	// UInt32 (a horizon past 136 years would wrap).
	v.check(c.Windows.LabelHorizon <= 3650*24*time.Hour, "windows.label_horizon", "must be at most 3650d (ten years)")
	v.check(c.Windows.LabelHorizon >= c.Windows.AllowedLateness, "windows.label_horizon",
		"must be >= windows.allowed_lateness (%s)", formatDuration(c.Windows.AllowedLateness))
	v.check(c.Drift.PSIThreshold > 0, "drift.psi_threshold", "must be > 0")
	v.check(c.Drift.JSThreshold > 0 && c.Drift.JSThreshold <= 1, "drift.js_threshold", "must be in (0, 1]")
	v.check(c.Drift.PValue > 0 && c.Drift.PValue < 1, "drift.p_value", "must be in (0, 1)")
	v.check(c.Drift.MinSamples >= 0, "drift.min_samples", "must be >= 0")
	v.check(c.Drift.MinEffect >= 0 && c.Drift.MinEffect < 1, "drift.min_effect", "must be in [0, 1)")
	v.check(c.Drift.NullRateThreshold > 0 && c.Drift.NullRateThreshold < 1, "drift.null_rate_threshold", "must be in (0, 1)")
	v.check(c.Drift.AutoBaseline == 0 || c.Drift.AutoBaseline >= time.Minute, "drift.auto_baseline", "must be 0 (off) or at least 1m")
	v.check(!c.Drift.InsertTimeBins || c.ClickHouse.Cluster == "", "drift.insert_time_bins",
		"cannot create the views on a cluster: create feature_bins_1m_mv and feature_values_1m_mv ON CLUSTER from clickhouse/queries/feature_bins_view.sql and feature_values_view.sql (the aggregator uses them whenever they exist) and leave this off")
	seen := map[string]bool{}
	for _, k := range c.Slices.MetadataKeys {
		if k == "" || seen[k] {
			v.fail("slices.metadata_keys", "want distinct non-empty keys, got %q twice or empty", k)
			break
		}
		seen[k] = true
	}
	v.check(c.Slices.TopN > 0, "slices.top_n", "must be > 0")
	v.check(c.Metrics.LabelCap >= 0, "metrics.label_cap", "must be >= 0 (0 turns the per-model gauges off)")
	v.check(c.Metrics.MinLabeled >= 0, "metrics.min_labeled", "must be >= 0")
	if c.Metrics.Granularity != 0 && !slices.Contains(c.Windows.Granularities, c.Metrics.Granularity) {
		names := make([]string, len(c.Windows.Granularities))
		for i, g := range c.Windows.Granularities {
			names[i] = formatDuration(g)
		}
		v.fail("metrics.granularity", "must be 0 or one of windows.granularities (%s)", strings.Join(names, ", "))
	}
	v.check(c.AB.Confidence > 0 && c.AB.Confidence < 1, "ab.confidence", "must be in (0, 1)")
	v.experiments(c.AB.Experiments)
	v.driftModels(c.Drift.Models)
	v.common(c.HTTP, &c.Log, c.Shutdown)
	return v.err()
}

// CheckGranularities checks window sizes: at least one, whole seconds,
// strictly ascending, each a multiple of the first (coarser windows are
// rolled up from the finest one's states) and at most 366 days. The error
// says what is wrong without the key; the aggregator checks its own Config
// with it too.
func CheckGranularities(g []time.Duration) error {
	if len(g) == 0 {
		return errors.New("must not be empty")
	}
	for i, d := range g {
		switch {
		case d <= 0 || d%time.Second != 0:
			return fmt.Errorf("%s: want a positive whole number of seconds", formatDuration(d))
		case i > 0 && d <= g[i-1]:
			return fmt.Errorf("want strictly ascending, got %s after %s", formatDuration(d), formatDuration(g[i-1]))
		case d%g[0] != 0:
			return fmt.Errorf("%s: want a multiple of the first, %s", formatDuration(d), formatDuration(g[0]))
		case d > 366*24*time.Hour:
			return fmt.Errorf("%s: want at most 366 days", formatDuration(d))
		}
	}
	return nil
}
