package config

import (
	"time"
)

// Ports of the HTTP listeners (ops endpoints; the aggregator's API too).
// 9464 and 9465 collide with none of the stack's other services: Kafka 9092,
// ClickHouse 8123/9000, Prometheus 9090, Grafana 3000.
const (
	DefaultIngesterListen   = ":9464"
	DefaultAggregatorListen = ":9465"
)

// Defaults that reach the devstack / docker-compose stack on a laptop.
const (
	DefaultKafkaBroker   = "127.0.0.1:9092"
	DefaultClickHouseDSN = "http://127.0.0.1:8123"
	DefaultDatabase      = "predlog"
)

// IngesterConfig is the ingester daemon's configuration.
type IngesterConfig struct {
	Kafka      Kafka      `yaml:"kafka" json:"kafka"`
	ClickHouse ClickHouse `yaml:"clickhouse" json:"clickhouse"`
	Batch      Batch      `yaml:"batch" json:"batch"`
	Retry      Retry      `yaml:"retry" json:"retry"`
	HTTP       HTTP       `yaml:"http" json:"http"`
	Log        Log        `yaml:"log" json:"log"`
	Shutdown   Shutdown   `yaml:"shutdown" json:"shutdown"`
}

// AggregatorConfig is the aggregator daemon's configuration.
type AggregatorConfig struct {
	ClickHouse ClickHouse `yaml:"clickhouse" json:"clickhouse"`
	Schedule   Schedule   `yaml:"schedule" json:"schedule"`
	Windows    Windows    `yaml:"windows" json:"windows"`
	Drift      Drift      `yaml:"drift" json:"drift"`
	Slices     Slices     `yaml:"slices" json:"slices"`
	Metrics    Metrics    `yaml:"metrics" json:"metrics"`
	AB         AB         `yaml:"ab" json:"ab"`
	// HTTP serves both the JSON query API and the ops endpoints.
	HTTP     HTTP     `yaml:"http" json:"http"`
	Log      Log      `yaml:"log" json:"log"`
	Shutdown Shutdown `yaml:"shutdown" json:"shutdown"`
}

// Kafka is the consumer side of the ingester.
type Kafka struct {
	Brokers []string `yaml:"brokers" json:"brokers"`
	GroupID string   `yaml:"group_id" json:"group_id"`
	// SessionTimeout is how long the group waits for a silent member (a
	// crashed ingester) before giving its partitions to the others.
	SessionTimeout time.Duration `yaml:"session_timeout" json:"session_timeout"`
	// MaxMessageBytes: longer messages go to the DLQ as oversized (their
	// value dropped there when the DLQ message would pass
	// DLQMaxMessageBytes). Raising it only helps if the brokers'
	// message.max.bytes allows such messages.
	MaxMessageBytes ByteSize `yaml:"max_message_bytes" json:"max_message_bytes"`
	// DLQMaxMessageBytes bounds one message written to the DLQ: a bigger one
	// loses its value (header predlog.dlq.value_dropped), then its original
	// headers and key if still too big, rather than being refused by the
	// broker and blocking its partition. At most the DLQ topic's
	// max.message.bytes.
	DLQMaxMessageBytes ByteSize `yaml:"dlq_max_message_bytes" json:"dlq_max_message_bytes"`
	// MaxDecompressedBatchBytes bounds what one compressed record batch
	// may decompress to: kafka-go unpacks a batch whole, and a few KB of
	// zstd can unpack to GBs. A batch over it stops its partition (an
	// error says how to skip it). Each partition may briefly hold up to
	// twice this while decompressing. Default (0):
	// max(64MiB, 32 x MaxMessageBytes).
	MaxDecompressedBatchBytes ByteSize `yaml:"max_decompressed_batch_bytes" json:"max_decompressed_batch_bytes"`
	Topics                    Topics   `yaml:"topics" json:"topics"`
	TLS                       TLS      `yaml:"tls" json:"tls"`
	SASL                      SASL     `yaml:"sasl" json:"sasl"`
}

// Topics names the Kafka topics, one per event type, plus the dead-letter topic.
type Topics struct {
	Predictions       string `yaml:"predictions" json:"predictions"`
	Outcomes          string `yaml:"outcomes" json:"outcomes"`
	Models            string `yaml:"models" json:"models"`
	TrainingJobs      string `yaml:"training_jobs" json:"training_jobs"`
	FeatureImportance string `yaml:"feature_importance" json:"feature_importance"`
	FeatureBaselines  string `yaml:"feature_baselines" json:"feature_baselines"`
	DLQ               string `yaml:"dlq" json:"dlq"`
}

// Inputs returns the topics the ingester consumes (all but the DLQ).
func (t Topics) Inputs() []string {
	return []string{t.Predictions, t.Outcomes, t.Models, t.TrainingJobs, t.FeatureImportance, t.FeatureBaselines}
}

// TLS configures a client TLS connection. TLS is on when Enabled is true or
// any of CAFile/CertFile is set; see TLS.Config.
type TLS struct {
	Enabled            bool   `yaml:"enabled" json:"enabled"`
	CAFile             string `yaml:"ca_file" json:"ca_file"`
	CertFile           string `yaml:"cert_file" json:"cert_file"`
	KeyFile            string `yaml:"key_file" json:"key_file"`
	ServerName         string `yaml:"server_name" json:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
}

// SASL mechanisms accepted in Kafka.SASL.Mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASL configures Kafka authentication. An empty Mechanism means none.
type SASL struct {
	Mechanism string `yaml:"mechanism" json:"mechanism"`
	Username  string `yaml:"username" json:"username"`
	Password  Secret `yaml:"password" json:"password"`
	// PasswordFile is read at load time into Password (trailing newline trimmed).
	PasswordFile string `yaml:"password_file" json:"password_file"`
}

// ClickHouse configures the ClickHouse client. See ClickHouse.Options.
type ClickHouse struct {
	// DSN picks the protocol by scheme: clickhouse:// or tcp:// native (port 9000),
	// http:// or https:// HTTP (port 8123/8443). Several hosts: "host1:9000,host2:9000".
	DSN DSN `yaml:"dsn" json:"dsn"`
	// User and Password override the DSN's; User defaults to "default".
	User         string `yaml:"user" json:"user"`
	Password     Secret `yaml:"password" json:"password"`
	PasswordFile string `yaml:"password_file" json:"password_file"`
	// Database: empty takes the DSN path, else "predlog". After Load it is
	// always set.
	Database    string        `yaml:"database" json:"database"`
	TLS         TLS           `yaml:"tls" json:"tls"`
	DialTimeout time.Duration `yaml:"dial_timeout" json:"dial_timeout"`
	ReadTimeout time.Duration `yaml:"read_timeout" json:"read_timeout"`
	// Cluster is the ON CLUSTER name for DDL and Distributed tables; empty means single node.
	Cluster string `yaml:"cluster" json:"cluster"`
	// PredictionTTLDays is how long prediction logs and outcomes are kept. It
	// is rendered into the tables' TTL by `migrate`, so changing it later
	// needs a new migration.
	PredictionTTLDays int `yaml:"prediction_ttl_days" json:"prediction_ttl_days"`
}

// Batch bounds one ClickHouse insert: flush on rows, bytes or age, whichever first.
type Batch struct {
	MaxRows  int           `yaml:"max_rows" json:"max_rows"`
	MaxBytes ByteSize      `yaml:"max_bytes" json:"max_bytes"`
	MaxAge   time.Duration `yaml:"max_age" json:"max_age"`
	// MaxBufferedBytes bounds all bytes held in memory (batches being built
	// and in flight); fetching pauses above it.
	MaxBufferedBytes ByteSize `yaml:"max_buffered_bytes" json:"max_buffered_bytes"`
}

// Retry is the exponential backoff for ClickHouse inserts and Kafka commits.
type Retry struct {
	Initial time.Duration `yaml:"initial" json:"initial"`
	Max     time.Duration `yaml:"max" json:"max"`
}

// HTTP is the listener for /metrics, /healthz, /readyz (and the aggregator's API).
type HTTP struct {
	Listen string `yaml:"listen" json:"listen"`
	// Pprof serves net/http/pprof under /debug/pprof/ on the same listener.
	Pprof bool `yaml:"pprof" json:"pprof"`
}

// Log formats.
const (
	LogFormatJSON    = "json"
	LogFormatConsole = "console"
	LogFormatAuto    = "auto" // console when stderr is a terminal, else json
)

// Log configures the zap logger.
type Log struct {
	Level  string `yaml:"level" json:"level"`   // debug, info, warn, error
	Format string `yaml:"format" json:"format"` // json, console, auto
}

// Shutdown bounds a graceful stop; past it the process exits non-zero.
type Shutdown struct {
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

// Schedule is how often the aggregator runs its jobs.
type Schedule struct {
	Interval time.Duration `yaml:"interval" json:"interval"`
}

// Windows sets the aggregation windows.
type Windows struct {
	// Granularities are the window sizes metrics are rolled up into:
	// strictly ascending whole seconds, each a multiple of the first, at most
	// 366 days.
	Granularities []time.Duration `yaml:"granularities" json:"granularities"`
	// AllowedLateness is how long after its end a window is first computed;
	// later predictions and outcomes recompute it until LabelHorizon.
	AllowedLateness time.Duration `yaml:"allowed_lateness" json:"allowed_lateness"`
	// LabelHorizon is how long after a prediction an outcome (label) may still join it.
	LabelHorizon time.Duration `yaml:"label_horizon" json:"label_horizon"`
	// IngestDelay is how far behind now a cycle looks for rows ingested
	// since the last one; an insert slower than this is missed.
	IngestDelay time.Duration `yaml:"ingest_delay" json:"ingest_delay"`
	// RecomputePerCycle bounds how much of the label horizon one cycle
	// recomputes because a models record or a baseline changed what its
	// windows were computed with: the newest windows first, the rest in
	// the next cycles, so that fresh windows keep closing on time. At
	// least one base window a cycle.
	RecomputePerCycle time.Duration `yaml:"recompute_per_cycle" json:"recompute_per_cycle"`
}

// Drift holds the thresholds above which a feature is flagged as drifted.
type Drift struct {
	PSIThreshold float64 `yaml:"psi_threshold" json:"psi_threshold"`
	JSThreshold  float64 `yaml:"js_threshold" json:"js_threshold"`
	PValue       float64 `yaml:"p_value" json:"p_value"`
	// MinSamples: below it, PSI and JS are mostly sampling noise (with n
	// values in k bins an undrifted window still scores PSI ≈ (k-1)/n), so
	// only the tests, whose p-values account for n, may flag a feature.
	MinSamples int `yaml:"min_samples" json:"min_samples"`
	// MinEffect is the KS statistic (numeric) or L∞ distance (categorical)
	// a feature needs before its test's p-value may flag it: with enough
	// values every test is significant (at 10^6 predictions a window a KS
	// statistic of 0.005 is), so the p-value alone would flag every feature
	// of a busy model; 0 lets the p-value flag alone.
	MinEffect float64 `yaml:"min_effect" json:"min_effect"`
	// NullRateThreshold flags a feature whose share of predictions without
	// it rose by more than this over the reference's (in windows of at
	// least MinSamples predictions, or when the feature is missing from
	// every prediction).
	NullRateThreshold float64 `yaml:"null_rate_threshold" json:"null_rate_threshold"`
	// InsertTimeBins has the aggregator create feature_bins_1m_mv, which
	// bins numeric features against their baselines as predictions are
	// inserted, and feature_values_1m_mv, which counts categorical values,
	// predicted labels and rounded scores: cycles sum those counts instead
	// of reading the raw values (about half the engine CPU of a full hour's
	// cycle), at a cost to every insert.
	InsertTimeBins bool `yaml:"insert_time_bins" json:"insert_time_bins"`
	// AutoBaseline: a model version without any baseline gets its first
	// AutoBaseline of serving frozen as one (as `aggregator baseline`
	// would), once that window has closed; 0 turns it off.
	AutoBaseline time.Duration `yaml:"auto_baseline" json:"auto_baseline"`
	// Models holds per-model overrides of the thresholds above (YAML
	// only), keyed by model_id.
	Models map[string]DriftModel `yaml:"models" json:"models"`
}

// Slices configures metric slicing by prediction metadata.
type Slices struct {
	// MetadataKeys are the metadata keys metrics are sliced by (none by default).
	MetadataKeys []string `yaml:"metadata_keys" json:"metadata_keys"`
	// TopN keeps the N most frequent values of each key; the rest fold into "other".
	TopN int `yaml:"top_n" json:"top_n"`
}

// AB configures the A/B verdicts of experiments.
type AB struct {
	// Confidence is the confidence level of the lift intervals.
	Confidence float64 `yaml:"confidence" json:"confidence"`
	// Experiments holds per-experiment settings (YAML only). An experiment
	// not listed takes the lexicographically first variant as control and
	// expects equal traffic shares.
	Experiments map[string]Experiment `yaml:"experiments" json:"experiments"`
}

// DriftThresholds overrides drift thresholds: a zero threshold keeps the
// one it overrides.
type DriftThresholds struct {
	PSIThreshold      float64 `yaml:"psi_threshold" json:"psi_threshold"`
	JSThreshold       float64 `yaml:"js_threshold" json:"js_threshold"`
	NullRateThreshold float64 `yaml:"null_rate_threshold" json:"null_rate_threshold"`
}

// DriftModel overrides the drift thresholds for one model, and for some
// of its features (which override the model's).
type DriftModel struct {
	DriftThresholds `yaml:",inline" json:",inline"`
	Features        map[string]DriftThresholds `yaml:"features" json:"features"`
	// IgnoreFeatures are measured but never flagged (an id, a timestamp,
	// a feature known to move), and left out of the Benjamini-Hochberg
	// correction and the max-PSI gauge.
	IgnoreFeatures []string `yaml:"ignore_features" json:"ignore_features"`
}

// Experiment is the plan of one A/B experiment.
type Experiment struct {
	// Control is the variant the others are compared with.
	Control string `yaml:"control" json:"control"`
	// Split is the planned traffic share per variant, for the
	// sample-ratio-mismatch test: weights, e.g. {control: 90, treatment:
	// 10}. Every variant with a positive weight is expected in every
	// window: one without traffic is a mismatch. Weight 0 marks a stopped
	// variant: its traffic (late labels, a drain) is left out of the test;
	// traffic to a variant not listed is a mismatch.
	Split map[string]float64 `yaml:"split" json:"split"`
}

// Metrics bounds the aggregator's own Prometheus output.
type Metrics struct {
	// LabelCap is the most distinct model ids exported as label values; 0
	// turns the per-model gauges off.
	LabelCap int `yaml:"label_cap" json:"label_cap"`
	// MinLabeled: the precision, recall and F1 gauges show the latest window
	// with at least this many labelled predictions.
	MinLabeled int `yaml:"min_labeled" json:"min_labeled"`
	// Granularity is the windows.granularities size whose latest window
	// the per-model gauges show; 0: the first of at least an hour (else the
	// largest). Finer alerts sooner on fewer labels.
	Granularity time.Duration `yaml:"granularity" json:"granularity"`
}

func defaultTopics() Topics {
	return Topics{
		Predictions:       "predlog.predictions",
		Outcomes:          "predlog.outcomes",
		Models:            "predlog.models",
		TrainingJobs:      "predlog.training-jobs",
		FeatureImportance: "predlog.feature-importance",
		FeatureBaselines:  "predlog.feature-baselines",
		DLQ:               "predlog.dlq",
	}
}

func defaultClickHouse() ClickHouse {
	return ClickHouse{
		DSN:               DefaultClickHouseDSN,
		DialTimeout:       10 * time.Second,
		ReadTimeout:       60 * time.Second,
		PredictionTTLDays: 90, // schema.DefaultPredictionTTLDays
	}
}

func defaultLog() Log { return Log{Level: "info", Format: LogFormatAuto} }

// DefaultIngester returns the ingester defaults (what Load starts from).
func DefaultIngester() IngesterConfig {
	return IngesterConfig{
		Kafka: Kafka{
			Brokers: []string{DefaultKafkaBroker},
			GroupID: "predlog-ingester",
			// Kafka's own default is 45s; a crashed instance's partitions
			// would stall that long.
			SessionTimeout:            10 * time.Second,
			MaxMessageBytes:           MiB,
			DLQMaxMessageBytes:        MiB,
			MaxDecompressedBatchBytes: 0, // max(64MiB, 32 x MaxMessageBytes), in finish
			Topics:                    defaultTopics(),
		},
		ClickHouse: defaultClickHouse(),
		Batch: Batch{
			MaxRows:          100_000,
			MaxBytes:         16 * MiB,
			MaxAge:           500 * time.Millisecond,
			MaxBufferedBytes: 256 * MiB,
		},
		Retry:    Retry{Initial: 100 * time.Millisecond, Max: 10 * time.Second},
		HTTP:     HTTP{Listen: DefaultIngesterListen},
		Log:      defaultLog(),
		Shutdown: Shutdown{Timeout: 30 * time.Second},
	}
}

// DefaultAggregator returns the aggregator defaults (what Load starts from).
func DefaultAggregator() AggregatorConfig {
	return AggregatorConfig{
		ClickHouse: defaultClickHouse(),
		Schedule:   Schedule{Interval: 30 * time.Second},
		Windows: Windows{
			Granularities:   []time.Duration{time.Minute, time.Hour, 24 * time.Hour},
			AllowedLateness: time.Minute,
			LabelHorizon:    168 * time.Hour,
			IngestDelay:     30 * time.Second,
			// A states query's span (aggregate.Config.MaxSpan).
			RecomputePerCycle: 6 * time.Hour,
		},
		Drift: Drift{PSIThreshold: 0.2, JSThreshold: 0.1, PValue: 0.05, MinSamples: 1000, MinEffect: 0.05, NullRateThreshold: 0.1,
			AutoBaseline: 24 * time.Hour, Models: map[string]DriftModel{}},
		Slices:   Slices{MetadataKeys: []string{}, TopN: 10},
		Metrics:  Metrics{LabelCap: 100, MinLabeled: 100},
		AB:       AB{Confidence: 0.95, Experiments: map[string]Experiment{}},
		HTTP:     HTTP{Listen: DefaultAggregatorListen},
		Log:      defaultLog(),
		Shutdown: Shutdown{Timeout: 30 * time.Second},
	}
}
