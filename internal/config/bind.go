package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every environment variable: key "kafka.topics.dlq" is
// read from PREDLOG_KAFKA_TOPICS_DLQ.
const EnvPrefix = "PREDLOG_"

// EnvName returns the environment variable for a config key:
// PREDLOG_ + the key upper-cased with dots turned into underscores.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// FlagName returns the flag (without dashes) for a config key: the key with
// underscores turned into dashes, e.g. "batch.max-bytes".
func FlagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// value is a typed pointer into a config struct that parses and prints the
// form used on the command line and in the environment.
type value interface {
	Set(string) error
	String() string
}

type srcKind int

const (
	srcDefault srcKind = iota
	srcYAML
	srcEnv
	srcFlag
)

// source records where a field's current value came from, for error messages.
type source struct {
	kind srcKind
	at   string // file:line, env var name or flag name
	raw  string // the text as given (env and flag only)
}

type field struct {
	key    string
	usage  string
	val    value
	secret bool
	src    source
}

// binder maps every config key to its field in one config struct.
type binder struct {
	fields []*field
	byKey  map[string]*field
}

func newBinder() *binder { return &binder{byKey: map[string]*field{}} }

// isSection reports whether key holds other keys (e.g. "kafka.topics").
func (b *binder) isSection(key string) bool {
	for _, f := range b.fields {
		if strings.HasPrefix(f.key, key+".") {
			return true
		}
	}
	return false
}

// holdsSecret reports whether key is a secret or a section holding one:
// an error never quotes its value.
func (b *binder) holdsSecret(key string) bool {
	for _, f := range b.fields {
		if f.secret && (f.key == key || strings.HasPrefix(f.key, key+".")) {
			return true
		}
	}
	return false
}

func (b *binder) add(key, usage string, v value) *field {
	if _, dup := b.byKey[key]; dup {
		panic("config: duplicate key " + key) // programming error, caught by tests
	}
	f := &field{key: key, usage: usage, val: v}
	b.fields = append(b.fields, f)
	b.byKey[key] = f
	return f
}

func (b *binder) str(key, usage string, p *string) { b.add(key, usage, (*stringValue)(p)) }
func (b *binder) secret(key, usage string, p *Secret) {
	b.add(key, usage, (*secretValue)(p)).secret = true
}
func (b *binder) dsn(key, usage string, p *DSN) {
	b.add(key, usage, (*dsnValue)(p)).secret = true // may hold a password
}
func (b *binder) strs(key, usage string, p *[]string)        { b.add(key, usage, (*stringsValue)(p)) }
func (b *binder) integer(key, usage string, p *int)          { b.add(key, usage, (*intValue)(p)) }
func (b *binder) float(key, usage string, p *float64)        { b.add(key, usage, (*floatValue)(p)) }
func (b *binder) boolean(key, usage string, p *bool)         { b.add(key, usage, (*boolValue)(p)) }
func (b *binder) bytes(key, usage string, p *ByteSize)       { b.add(key, usage, (*byteSizeValue)(p)) }
func (b *binder) dur(key, usage string, p *time.Duration)    { b.add(key, usage, (*durationValue)(p)) }
func (b *binder) durs(key, usage string, p *[]time.Duration) { b.add(key, usage, (*durationsValue)(p)) }

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

type secretValue Secret

func (v *secretValue) Set(s string) error { *v = secretValue(s); return nil }
func (v *secretValue) String() string     { return Secret(*v).String() }

type dsnValue DSN

func (v *dsnValue) Set(s string) error { *v = dsnValue(s); return nil }
func (v *dsnValue) String() string     { return DSN(*v).String() }

// stringsValue is a comma-separated list; each Set replaces the whole list.
type stringsValue []string

func (v *stringsValue) Set(s string) error {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	*v = out
	return nil
}
func (v *stringsValue) String() string { return strings.Join(*v, ",") }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return wantErr("int", s, err)
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

type floatValue float64

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return wantErr("float64", s, err)
	}
	*v = floatValue(f)
	return nil
}
func (v *floatValue) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return wantErr("bool", s, err)
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }

type byteSizeValue ByteSize

func (v *byteSizeValue) Set(s string) error {
	n, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*v = byteSizeValue(n)
	return nil
}
func (v *byteSizeValue) String() string { return ByteSize(*v).String() }

type durationValue time.Duration

// parseDuration is time.ParseDuration plus whole days ("1d", "7d"): the
// unit the API names granularities in, and label horizons are thought in.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 && days <= 100_000 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
		return 0, errDays(s)
	}
	d, err := time.ParseDuration(s)
	if err != nil && strings.Contains(s, "d") {
		return 0, errDays(s) // "1d12h"
	}
	if err != nil {
		return 0, wantErr("time.Duration", s, err)
	}
	return d, nil
}

// wantErr says what a flag or environment variable of Go type goType
// takes, in the words of the config file's errors (wantKind), instead of
// strconv's `strconv.Atoi: parsing "abc": invalid syntax`.
func wantErr(goType, s string, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("want %s, got %s: out of range", wantKind(goType), strconv.Quote(shown(s)))
	}
	return fmt.Errorf("want %s, got %s", wantKind(goType), strconv.Quote(shown(s)))
}

func errDays(s string) error {
	return fmt.Errorf("invalid duration %q: days (d) must be a whole number from 0 to 100000, not combined with other units (write 36h, not 1.5d or 1d12h)", s)
}

func (v *durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return formatDuration(time.Duration(*v)) }

// formatDuration writes d as the config files do: whole days as "7d",
// else without zero minutes and seconds ("1h", "1m30s").
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// durationsValue is a comma-separated list of durations.
type durationsValue []time.Duration

func (v *durationsValue) Set(s string) error {
	out := []time.Duration{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		d, err := parseDuration(p)
		if err != nil {
			return err
		}
		out = append(out, d)
	}
	*v = out
	return nil
}

func (v *durationsValue) String() string {
	parts := make([]string, len(*v))
	for i, d := range *v {
		parts[i] = formatDuration(d)
	}
	return strings.Join(parts, ",")
}

// Key registration, one function per section so both daemons share them.

func (k *Kafka) bind(b *binder) {
	b.strs("kafka.brokers", "Kafka bootstrap brokers, comma-separated host:port", &k.Brokers)
	b.str("kafka.group_id", "Kafka consumer group id", &k.GroupID)
	b.dur("kafka.session_timeout", "how long the group waits for a silent member before reassigning its partitions (6s-5m)", &k.SessionTimeout)
	b.bytes("kafka.max_message_bytes", "longer messages go to the DLQ as oversized (e.g. 1MiB)", &k.MaxMessageBytes)
	b.bytes("kafka.dlq_max_message_bytes", "DLQ messages above it lose their value (then their original headers and key); at most the DLQ topic's max.message.bytes", &k.DLQMaxMessageBytes)
	b.bytes("kafka.max_decompressed_batch_bytes", "a compressed record batch decompressing past it stops its partition (a decompression bomb); default max(64MiB, 32 x max_message_bytes), at least 4 x max_message_bytes", &k.MaxDecompressedBatchBytes)
	t := &k.Topics
	b.str("kafka.topics.predictions", "topic of prediction events", &t.Predictions)
	b.str("kafka.topics.outcomes", "topic of outcome (label) events", &t.Outcomes)
	b.str("kafka.topics.models", "topic of model registration events", &t.Models)
	b.str("kafka.topics.training_jobs", "topic of training job events", &t.TrainingJobs)
	b.str("kafka.topics.feature_importance", "topic of feature importance events", &t.FeatureImportance)
	b.str("kafka.topics.feature_baselines", "topic of feature baseline events", &t.FeatureBaselines)
	b.str("kafka.topics.dlq", "dead-letter topic for messages that fail decoding or validation", &t.DLQ)
	k.TLS.bind(b, "kafka.tls")
	b.str("kafka.sasl.mechanism", "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (empty: none)", &k.SASL.Mechanism)
	b.str("kafka.sasl.username", "SASL username", &k.SASL.Username)
	b.secret("kafka.sasl.password", "SASL password (prefer the env var or password_file)", &k.SASL.Password)
	b.str("kafka.sasl.password_file", "file holding the SASL password", &k.SASL.PasswordFile)
}

func (t *TLS) bind(b *binder, prefix string) {
	b.boolean(prefix+".enabled", "use TLS (implied by ca_file or cert_file)", &t.Enabled)
	b.str(prefix+".ca_file", "PEM CA bundle to verify the server (default: system roots)", &t.CAFile)
	b.str(prefix+".cert_file", "PEM client certificate (with key_file)", &t.CertFile)
	b.str(prefix+".key_file", "PEM client key (with cert_file)", &t.KeyFile)
	b.str(prefix+".server_name", "server name to verify (default: from the address)", &t.ServerName)
	b.boolean(prefix+".insecure_skip_verify", "do not verify the server certificate (testing only)", &t.InsecureSkipVerify)
}

func (c *ClickHouse) bind(b *binder) {
	b.dsn("clickhouse.dsn", "ClickHouse DSN: clickhouse://host:9000/db (native) or http://host:8123/db (HTTP)", &c.DSN)
	b.str("clickhouse.user", "ClickHouse user (overrides the DSN's; default \"default\")", &c.User)
	b.secret("clickhouse.password", "ClickHouse password (prefer the env var or password_file)", &c.Password)
	b.str("clickhouse.password_file", "file holding the ClickHouse password", &c.PasswordFile)
	b.str("clickhouse.database", "ClickHouse database (empty: the DSN's, else predlog)", &c.Database)
	c.TLS.bind(b, "clickhouse.tls")
	b.dur("clickhouse.dial_timeout", "ClickHouse connect timeout", &c.DialTimeout)
	b.dur("clickhouse.read_timeout", "ClickHouse query/insert read timeout", &c.ReadTimeout)
	b.str("clickhouse.cluster", "ClickHouse cluster name for ON CLUSTER (empty: single node)", &c.Cluster)
	b.integer("clickhouse.prediction_ttl_days", "days to keep prediction logs and outcomes (applied by migrate)", &c.PredictionTTLDays)
}

func (h *HTTP) bind(b *binder) {
	b.str("http.listen", "listen address of the HTTP server (/metrics, /healthz, /readyz)", &h.Listen)
	b.boolean("http.pprof", "serve Go profiles under /debug/pprof/ (for benchmarks and debugging)", &h.Pprof)
}

func (l *Log) bind(b *binder) {
	b.str("log.level", "log level: debug, info, warn, error", &l.Level)
	b.str("log.format", "log format: json, console, auto (console when stderr is a terminal)", &l.Format)
}

func (s *Shutdown) bind(b *binder) {
	b.dur("shutdown.timeout", "graceful shutdown budget; past it the process exits non-zero", &s.Timeout)
}

func (c *IngesterConfig) bind(b *binder) {
	c.Kafka.bind(b)
	c.ClickHouse.bind(b)
	b.integer("batch.max_rows", "flush a batch at this many rows", &c.Batch.MaxRows)
	b.bytes("batch.max_bytes", "flush a batch at this many bytes (e.g. 16MiB)", &c.Batch.MaxBytes)
	b.dur("batch.max_age", "flush a batch this long after its first row", &c.Batch.MaxAge)
	b.bytes("batch.max_buffered_bytes", "pause fetching above this many buffered bytes", &c.Batch.MaxBufferedBytes)
	b.dur("retry.initial", "first retry backoff", &c.Retry.Initial)
	b.dur("retry.max", "largest retry backoff", &c.Retry.Max)
	c.HTTP.bind(b)
	c.Log.bind(b)
	c.Shutdown.bind(b)
}

func (c *AggregatorConfig) bind(b *binder) {
	c.ClickHouse.bind(b)
	b.dur("schedule.interval", "how often aggregation jobs run", &c.Schedule.Interval)
	b.durs("windows.granularities", "window sizes, ascending, comma-separated (e.g. 1m,1h,1d)", &c.Windows.Granularities)
	b.dur("windows.allowed_lateness", "how long after its end a window is first computed", &c.Windows.AllowedLateness)
	b.dur("windows.label_horizon", "how long after a prediction its outcome may still arrive", &c.Windows.LabelHorizon)
	b.dur("windows.ingest_delay", "how far behind now a cycle looks for late rows (longer than the ingester's slowest insert)", &c.Windows.IngestDelay)
	b.dur("windows.recompute_per_cycle", "how much of the label horizon a cycle recomputes after a models record or baseline changed (newest first; the rest in later cycles)", &c.Windows.RecomputePerCycle)
	b.float("drift.psi_threshold", "PSI above which a feature is drifted", &c.Drift.PSIThreshold)
	b.float("drift.js_threshold", "Jensen-Shannon distance above which a feature is drifted", &c.Drift.JSThreshold)
	b.float("drift.p_value", "p-value below which a drift test is significant", &c.Drift.PValue)
	b.integer("drift.min_samples", "values a window needs before PSI or JS alone may flag a feature", &c.Drift.MinSamples)
	b.float("drift.min_effect", "KS statistic or L-infinity distance a feature needs before its test's p-value may flag it (0: the p-value alone)", &c.Drift.MinEffect)
	b.float("drift.null_rate_threshold", "rise in a feature's share of missing values that flags it", &c.Drift.NullRateThreshold)
	b.dur("drift.auto_baseline", "freeze a version's first this long of serving as its drift baseline when it has none (0: off)", &c.Drift.AutoBaseline)
	b.boolean("drift.insert_time_bins", "create the views that count drift histograms at insert time (faster cycles, costlier inserts)", &c.Drift.InsertTimeBins)
	b.strs("slices.metadata_keys", "metadata keys to slice metrics by, comma-separated", &c.Slices.MetadataKeys)
	b.integer("slices.top_n", "values kept per slice key; the rest fold into \"other\"", &c.Slices.TopN)
	b.integer("metrics.label_cap", "most distinct model ids exported as Prometheus label values", &c.Metrics.LabelCap)
	b.integer("metrics.min_labeled", "labelled predictions a window needs to feed the quality gauges", &c.Metrics.MinLabeled)
	b.dur("metrics.granularity", "window size the per-model gauges show, one of windows.granularities (0: the first of at least 1h)", &c.Metrics.Granularity)
	b.float("ab.confidence", "confidence level of the A/B lift intervals", &c.AB.Confidence)
	c.HTTP.bind(b)
	c.Log.bind(b)
	c.Shutdown.bind(b)
}
