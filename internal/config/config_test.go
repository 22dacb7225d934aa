package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/yaml.v3"
)

func envMap(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// writeFile writes content to name in a fresh temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func loadIngester(t *testing.T, yml string, env map[string]string, args ...string) (*IngesterConfig, error) {
	t.Helper()
	if yml != "" {
		args = append([]string{"--config", writeFile(t, "ingester.yaml", yml)}, args...)
	}
	return LoadIngester(args, envMap(env), &bytes.Buffer{})
}

func loadAggregator(t *testing.T, yml string, env map[string]string, args ...string) (*AggregatorConfig, error) {
	t.Helper()
	if yml != "" {
		args = append([]string{"--config", writeFile(t, "aggregator.yaml", yml)}, args...)
	}
	return LoadAggregator(args, envMap(env), &bytes.Buffer{})
}

func TestDefaultsAreValid(t *testing.T) {
	ing, err := LoadIngester(nil, envMap(nil), nil)
	require.NoError(t, err)
	want := DefaultIngester()
	want.ClickHouse.Database = DefaultDatabase      // resolved by Load
	want.Kafka.MaxDecompressedBatchBytes = 64 * MiB // derived by Load
	assert.Equal(t, want, *ing)

	// Derived from the message size when not set; validated when set.
	big, err := LoadIngester([]string{"--kafka.max-message-bytes=8MiB", "--batch.max-bytes=64MiB", "--batch.max-buffered-bytes=256MiB"}, envMap(nil), nil)
	require.NoError(t, err)
	assert.Equal(t, 256*MiB, big.Kafka.MaxDecompressedBatchBytes, "32 x max_message_bytes")

	agg, err := LoadAggregator(nil, envMap(nil), nil)
	require.NoError(t, err)
	wantAgg := DefaultAggregator()
	wantAgg.ClickHouse.Database = DefaultDatabase
	assert.Equal(t, wantAgg, *agg)
}

// The example files in configs/ document the defaults: loading them must give
// exactly the defaults, also beside a DSN that names another database.
func TestExampleConfigsMatchDefaults(t *testing.T) {
	for _, env := range []map[string]string{nil, {"PREDLOG_CLICKHOUSE_DSN": "http://127.0.0.1:8123/analytics"}} {
		ing, err := LoadIngester([]string{"--config", "../../configs/ingester.yaml"}, envMap(env), nil)
		require.NoError(t, err)
		def, err := LoadIngester(nil, envMap(env), nil)
		require.NoError(t, err)
		assert.Equal(t, def, ing)

		agg, err := LoadAggregator([]string{"--config", "../../configs/aggregator.yaml"}, envMap(env), nil)
		require.NoError(t, err)
		defAgg, err := LoadAggregator(nil, envMap(env), nil)
		require.NoError(t, err)
		assert.Equal(t, defAgg, agg)
	}
}

func TestPrecedence(t *testing.T) {
	const yml = `
kafka:
  brokers: [yaml:9092]
  topics:
    dlq: yaml.dlq
batch:
  max_bytes: 1MiB
  max_age: 1s
`
	tests := []struct {
		name string
		yml  string
		env  map[string]string
		args []string
		want func(*IngesterConfig) any
		give any
	}{
		{
			name: "default",
			want: func(c *IngesterConfig) any { return c.Kafka.Brokers },
			give: []string{"127.0.0.1:9092"},
		},
		{
			name: "yaml over default",
			yml:  yml,
			want: func(c *IngesterConfig) any { return c.Kafka.Brokers },
			give: []string{"yaml:9092"},
		},
		{
			name: "env over yaml",
			yml:  yml,
			env:  map[string]string{"PREDLOG_KAFKA_BROKERS": "env1:9092, env2:9092"},
			want: func(c *IngesterConfig) any { return c.Kafka.Brokers },
			give: []string{"env1:9092", "env2:9092"},
		},
		{
			name: "flag over env over yaml",
			yml:  yml,
			env:  map[string]string{"PREDLOG_KAFKA_BROKERS": "env:9092"},
			args: []string{"--kafka.brokers=flag:9092"},
			want: func(c *IngesterConfig) any { return c.Kafka.Brokers },
			give: []string{"flag:9092"},
		},
		{
			name: "empty env is unset",
			yml:  yml,
			env:  map[string]string{"PREDLOG_KAFKA_BROKERS": ""},
			want: func(c *IngesterConfig) any { return c.Kafka.Brokers },
			give: []string{"yaml:9092"},
		},
		{
			name: "nested key from yaml, others keep defaults",
			yml:  yml,
			want: func(c *IngesterConfig) any { return c.Kafka.Topics },
			give: func() Topics { t := defaultTopics(); t.DLQ = "yaml.dlq"; return t }(),
		},
		{
			name: "nested key env name",
			env:  map[string]string{"PREDLOG_KAFKA_TOPICS_TRAINING_JOBS": "env.jobs"},
			want: func(c *IngesterConfig) any { return c.Kafka.Topics.TrainingJobs },
			give: "env.jobs",
		},
		{
			name: "nested key flag name uses dashes",
			args: []string{"--kafka.topics.training-jobs", "flag.jobs"},
			want: func(c *IngesterConfig) any { return c.Kafka.Topics.TrainingJobs },
			give: "flag.jobs",
		},
		{
			name: "byte size from yaml",
			yml:  yml,
			want: func(c *IngesterConfig) any { return c.Batch.MaxBytes },
			give: MiB,
		},
		{
			name: "byte size from env",
			env:  map[string]string{"PREDLOG_BATCH_MAX_BYTES": "2MiB"},
			want: func(c *IngesterConfig) any { return c.Batch.MaxBytes },
			give: 2 * MiB,
		},
		{
			name: "duration: flag over yaml",
			yml:  yml,
			args: []string{"--batch.max-age", "250ms"},
			want: func(c *IngesterConfig) any { return c.Batch.MaxAge },
			give: 250 * time.Millisecond,
		},
		{
			name: "bool flag without value",
			args: []string{"--clickhouse.tls.insecure-skip-verify"},
			want: func(c *IngesterConfig) any { return c.ClickHouse.TLS.InsecureSkipVerify },
			give: true,
		},
		{
			name: "config path from env",
			env:  map[string]string{"PREDLOG_CONFIG": writeFile(t, "c.yaml", "http:\n  listen: 127.0.0.1:1\n")},
			want: func(c *IngesterConfig) any { return c.HTTP.Listen },
			give: "127.0.0.1:1",
		},
		{
			name: "password from env, database from dsn",
			env: map[string]string{
				"PREDLOG_CLICKHOUSE_PASSWORD": "pw",
				"PREDLOG_CLICKHOUSE_DSN":      "clickhouse://ch:9000/metrics",
			},
			want: func(c *IngesterConfig) any { return []string{c.ClickHouse.Password.Reveal(), c.ClickHouse.Database} },
			give: []string{"pw", "metrics"},
		},
		{
			name: "password from file, trailing newline trimmed",
			args: []string{"--clickhouse.password-file", writeFile(t, "pw", "s3cret\n")},
			want: func(c *IngesterConfig) any { return c.ClickHouse.Password.Reveal() },
			give: "s3cret",
		},
		{
			name: "empty yaml file",
			yml:  "# nothing\n",
			want: func(c *IngesterConfig) any { return c.Batch.MaxRows },
			give: 100_000,
		},
		{
			name: "sasl mechanism case-insensitive",
			env: map[string]string{
				"PREDLOG_KAFKA_SASL_MECHANISM": "scram-sha-512",
				"PREDLOG_KAFKA_SASL_USERNAME":  "u",
				"PREDLOG_KAFKA_SASL_PASSWORD":  "p",
			},
			want: func(c *IngesterConfig) any { return c.Kafka.SASL.Mechanism },
			give: SASLScramSHA512,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadIngester(t, tt.yml, tt.env, tt.args...)
			require.NoError(t, err)
			assert.Equal(t, tt.give, tt.want(c))
		})
	}
}

func TestAggregatorPrecedence(t *testing.T) {
	c, err := loadAggregator(t,
		"windows:\n  granularities: [5m, 1h]\nslices:\n  metadata_keys: [region]\n",
		map[string]string{"PREDLOG_SLICES_TOP_N": "5", "PREDLOG_DRIFT_PSI_THRESHOLD": "0.3"},
		"--slices.metadata-keys=region,tenant", "--windows.label-horizon=24h")
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{5 * time.Minute, time.Hour}, c.Windows.Granularities)
	assert.Equal(t, []string{"region", "tenant"}, c.Slices.MetadataKeys)
	assert.Equal(t, 5, c.Slices.TopN)
	assert.Equal(t, 0.3, c.Drift.PSIThreshold)
	assert.Equal(t, 24*time.Hour, c.Windows.LabelHorizon)
	assert.Equal(t, ":9465", c.HTTP.Listen)
}

func TestIngesterErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	cert := writeFile(t, "cert.pem", "x")
	tests := []struct {
		name    string
		yml     string
		env     map[string]string
		args    []string
		wantErr string
	}{
		// Sources named in the message.
		{name: "flag source", args: []string{"--batch.max-bytes=0"},
			wantErr: "invalid batch.max_bytes (--batch.max-bytes=0): must be > 0"},
		{name: "env source", env: map[string]string{"PREDLOG_BATCH_MAX_BYTES": "0"},
			wantErr: "invalid batch.max_bytes (PREDLOG_BATCH_MAX_BYTES=0): must be > 0"},
		{name: "message above batch", args: []string{"--kafka.max-message-bytes=32MiB"},
			wantErr: "invalid kafka.max_message_bytes (--kafka.max-message-bytes=32MiB): must be > 0 and <= batch.max_bytes (16MiB)"},
		{name: "yaml source", yml: "batch:\n  max_bytes: 0\n",
			wantErr: `invalid batch.max_bytes ("0" at `},
		{name: "yaml source names flag and env", yml: "batch:\n  max_bytes: 0\n",
			wantErr: `ingester.yaml:2; flag --batch.max-bytes, env PREDLOG_BATCH_MAX_BYTES): must be > 0`},
		{name: "default source", args: []string{"--batch.max-buffered-bytes=1MiB"},
			wantErr: `invalid batch.max_buffered_bytes (--batch.max-buffered-bytes=1MiB): must be >= batch.max_bytes (16MiB)`},
		{name: "cross-field on a default", args: []string{"--retry.max=10ms"},
			wantErr: `invalid retry.initial ("100ms" by default; flag --retry.initial, env PREDLOG_RETRY_INITIAL): must be <= retry.max (10ms)`},

		// Parse errors.
		{name: "bad int env", env: map[string]string{"PREDLOG_BATCH_MAX_ROWS": "many"},
			wantErr: `invalid batch.max_rows (PREDLOG_BATCH_MAX_ROWS=many): want an integer, got "many"`},
		{name: "bad duration flag", args: []string{"--batch.max-age=soon"},
			wantErr: `invalid batch.max_age (--batch.max-age=soon): want a duration with a unit (500ms, 30s, 1h, 1d), got "soon"`},
		{name: "bad byte size", args: []string{"--batch.max-bytes=16XB"},
			wantErr: `invalid batch.max_bytes (--batch.max-bytes=16XB): parse byte size "16XB"`},
		{name: "bad bool", args: []string{"--kafka.tls.enabled=maybe"},
			wantErr: `invalid kafka.tls.enabled (--kafka.tls.enabled=maybe): want true or false, got "maybe"`},
		{name: "bad yaml type", yml: "batch:\n  max_rows: lots\n",
			wantErr: `line 2: batch.max_rows: want an integer, got the string "lots"`},
		{name: "yaml scalar for a list", yml: "kafka:\n  brokers: 127.0.0.1:9092\n",
			wantErr: `line 2: kafka.brokers: want a list ([a, b]), got the string "127.0.0.1:9092"`},
		{name: "yaml duration without unit", yml: "batch: {max_rows: 500, max_age: 500}\n",
			wantErr: "line 1: batch.max_age: want a duration with a unit (500ms, 30s, 1h, 1d), got 500"},
		{name: "yaml values alike on one line", yml: "kafka: {group_id: 127.0.0.1-group, brokers: 127.0.0.1:9092}\n",
			wantErr: `line 1: kafka.brokers: want a list ([a, b]), got the string "127.0.0.1:9092"`},
		{name: "yaml list item of another kind", yml: "kafka: {brokers: [a:1, [b]]}\n",
			wantErr: "line 1: kafka.brokers: want a string, got a list"},
		{name: "yaml list for a section", yml: "kafka: {brokers: [a:1], topics: [x]}\n",
			wantErr: "line 1: kafka.topics: want a mapping of its keys, got a list"},
		{name: "unknown yaml key", yml: "kafka:\n  brokerz: [a:1]\n",
			wantErr: "line 2: unknown key kafka.brokerz"},
		{name: "unknown yaml section", yml: "kafkaa: {}\n",
			wantErr: "line 1: unknown key kafkaa"},
		{name: "dlq message limit too small", args: []string{"--kafka.dlq-max-message-bytes=1KiB"},
			wantErr: "invalid kafka.dlq_max_message_bytes (--kafka.dlq-max-message-bytes=1KiB): must be at least 16KiB"},
		{name: "decompressed batch limit below four messages", args: []string{"--kafka.max-decompressed-batch-bytes=2MiB"},
			wantErr: "invalid kafka.max_decompressed_batch_bytes (--kafka.max-decompressed-batch-bytes=2MiB): must be at least 4 x kafka.max_message_bytes (4MiB)"},
		{name: "unknown flag", args: []string{"--kafka.brokerz=x"},
			wantErr: "unknown flag --kafka.brokerz (did you mean --kafka.brokers?)"},
		{name: "positional argument", args: []string{"migrate"},
			wantErr: `unexpected argument "migrate"`},
		{name: "missing config file", args: []string{"--config", missing},
			wantErr: "read config: open " + missing},

		// Validation, one case per rule.
		{name: "brokers empty", args: []string{"--kafka.brokers="},
			wantErr: "invalid kafka.brokers (--kafka.brokers=): must not be empty"},
		{name: "broker without port", args: []string{"--kafka.brokers=kafka"},
			wantErr: `invalid kafka.brokers (--kafka.brokers=kafka): want host:port with a port from 1 to 65535, got "kafka"`},
		{name: "broker port out of range", args: []string{"--kafka.brokers=127.0.0.1:99999"},
			wantErr: `invalid kafka.brokers (--kafka.brokers=127.0.0.1:99999): want host:port with a port from 1 to 65535, got "127.0.0.1:99999"`},
		{name: "group id empty", yml: "kafka:\n  group_id: ''\n",
			wantErr: "invalid kafka.group_id"},
		{name: "topic invalid", args: []string{"--kafka.topics.models=a topic"},
			wantErr: "invalid kafka.topics.models (--kafka.topics.models=a topic): want 1-249 characters of [a-zA-Z0-9._-]"},
		{name: "topic empty", args: []string{"--kafka.topics.outcomes="},
			wantErr: "invalid kafka.topics.outcomes (--kafka.topics.outcomes=): want 1-249"},
		{name: "dlq same as input", args: []string{"--kafka.topics.dlq=predlog.predictions"},
			wantErr: "invalid kafka.topics.dlq (--kafka.topics.dlq=predlog.predictions): same topic as kafka.topics.predictions"},
		{name: "cert without key", args: []string{"--kafka.tls.cert-file", cert},
			wantErr: "invalid kafka.tls.cert_file (--kafka.tls.cert-file=" + cert + "): cert_file and key_file must be set together"},
		{name: "ca file missing", args: []string{"--clickhouse.tls.ca-file", missing},
			wantErr: "invalid clickhouse.tls.ca_file (--clickhouse.tls.ca-file=" + missing + "): stat " + missing},
		{name: "sasl unknown mechanism", args: []string{"--kafka.sasl.mechanism=GSSAPI"},
			wantErr: "invalid kafka.sasl.mechanism (--kafka.sasl.mechanism=GSSAPI): want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{name: "sasl without username", args: []string{"--kafka.sasl.mechanism=PLAIN", "--kafka.sasl.password=x"},
			wantErr: "invalid kafka.sasl.username (\"\" by default; flag --kafka.sasl.username, env PREDLOG_KAFKA_SASL_USERNAME): required with kafka.sasl.mechanism PLAIN"},
		{name: "sasl without password", args: []string{"--kafka.sasl.mechanism=PLAIN", "--kafka.sasl.username=u"},
			wantErr: "invalid kafka.sasl.password (\"\" by default; flag --kafka.sasl.password, env PREDLOG_KAFKA_SASL_PASSWORD): required with kafka.sasl.mechanism PLAIN (or kafka.sasl.password_file)"},
		{name: "sasl username without mechanism", args: []string{"--kafka.sasl.username=u"},
			wantErr: "invalid kafka.sasl.username (--kafka.sasl.username=u): set without kafka.sasl.mechanism"},
		{name: "password and password file", env: map[string]string{"PREDLOG_CLICKHOUSE_PASSWORD": "pw", "PREDLOG_CLICKHOUSE_PASSWORD_FILE": cert},
			wantErr: "invalid clickhouse.password_file (PREDLOG_CLICKHOUSE_PASSWORD_FILE=" + cert + "): set together with clickhouse.password; set only one"},
		{name: "password file missing", args: []string{"--kafka.sasl.password-file", missing},
			wantErr: "invalid kafka.sasl.password_file (--kafka.sasl.password-file=" + missing + "): open " + missing},
		{name: "password file empty", args: []string{"--clickhouse.password-file", writeFile(t, "empty", "\n")}, wantErr: "is empty"},
		{name: "dsn bad scheme", args: []string{"--clickhouse.dsn=mysql://h:1/db"},
			wantErr: `invalid clickhouse.dsn (--clickhouse.dsn=mysql://h:1/db): unsupported scheme "mysql": want clickhouse, tcp, http or https`},
		{name: "dsn no scheme", args: []string{"--clickhouse.dsn=127.0.0.1:9000"},
			wantErr: "invalid clickhouse.dsn (--clickhouse.dsn=127.0.0.1:9000): missing scheme: want clickhouse://host:9000/db or http://host:8123/db"},
		{name: "dsn no host", args: []string{"--clickhouse.dsn=http:///db"},
			wantErr: "invalid clickhouse.dsn (--clickhouse.dsn=http:///db): missing host"},
		{name: "dsn http with secure", args: []string{"--clickhouse.dsn=http://h/?secure=true"},
			wantErr: "secure=true with http://: use https://"},
		{name: "dsn secure not a boolean", args: []string{"--clickhouse.dsn=clickhouse://h/?secure=maybe"},
			wantErr: `secure="maybe": want true or false`},
		{name: "dsn password key not lower case", args: []string{"--clickhouse.dsn=http://h/?user=u&Password=s3cret"},
			wantErr: `invalid clickhouse.dsn (--clickhouse.dsn=http://h/?Password=xxxxx&user=u): DSN parameter "Password": write it "password" (lower case)`},
		{name: "dsn nested path", args: []string{"--clickhouse.dsn=http://h/a/b"},
			wantErr: `path "/a/b": want a single database name`},
		{name: "database conflicts with dsn", args: []string{"--clickhouse.dsn=http://h/a", "--clickhouse.database=b"},
			wantErr: `invalid clickhouse.database (--clickhouse.database=b): "b" differs from database "a" in clickhouse.dsn; set only one`},
		{name: "database bad name", args: []string{"--clickhouse.database=a-b"},
			wantErr: "invalid clickhouse.database (--clickhouse.database=a-b): want letters, digits and _ only"},
		{name: "cluster bad name", args: []string{"--clickhouse.cluster=a b"},
			wantErr: "invalid clickhouse.cluster (--clickhouse.cluster=a b): want letters, digits and _ only"},
		{name: "dial timeout", args: []string{"--clickhouse.dial-timeout=0s"},
			wantErr: "invalid clickhouse.dial_timeout (--clickhouse.dial-timeout=0s): must be > 0"},
		{name: "read timeout", args: []string{"--clickhouse.read-timeout=-1s"},
			wantErr: "invalid clickhouse.read_timeout (--clickhouse.read-timeout=-1s): must be > 0"},
		{name: "max rows", args: []string{"--batch.max-rows=0"},
			wantErr: "invalid batch.max_rows (--batch.max-rows=0): must be > 0"},
		{name: "max age", args: []string{"--batch.max-age=0s"},
			wantErr: "invalid batch.max_age (--batch.max-age=0s): must be > 0"},
		{name: "retry initial", args: []string{"--retry.initial=0s"},
			wantErr: "invalid retry.initial (--retry.initial=0s): must be > 0"},
		{name: "retry max", args: []string{"--retry.max=0s"},
			wantErr: "invalid retry.max (--retry.max=0s): must be > 0"},
		{name: "listen", args: []string{"--http.listen=9464"},
			wantErr: `invalid http.listen (--http.listen=9464): want host:port (host may be empty), got "9464"`},
		{name: "log level", args: []string{"--log.level=loud"},
			wantErr: "invalid log.level (--log.level=loud): want debug, info, warn or error"},
		{name: "log format", args: []string{"--log.format=xml"},
			wantErr: "invalid log.format (--log.format=xml): want json, console or auto"},
		{name: "shutdown timeout", args: []string{"--shutdown.timeout=0s"},
			wantErr: "invalid shutdown.timeout (--shutdown.timeout=0s): must be > 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadIngester(t, tt.yml, tt.env, tt.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// TestEnvParseErrors: an environment variable that does not parse is
// named with what it takes, as a config file's value is, not with
// strconv's message ("strconv.Atoi: parsing "abc": invalid syntax").
func TestEnvParseErrors(t *testing.T) {
	long := strings.Repeat("9", 150) + "x"
	tests := []struct {
		name, env, value, want string
	}{
		{"integer", "PREDLOG_SLICES_TOP_N", "abc", `invalid slices.top_n (PREDLOG_SLICES_TOP_N=abc): want an integer, got "abc"`},
		{"integer out of range", "PREDLOG_SLICES_TOP_N", "99999999999999999999",
			`invalid slices.top_n (PREDLOG_SLICES_TOP_N=99999999999999999999): want an integer, got "99999999999999999999": out of range`},
		{"long value whole", "PREDLOG_SLICES_TOP_N", long, `want an integer, got "` + long + `"`},
		{"number", "PREDLOG_DRIFT_PSI_THRESHOLD", "high", `invalid drift.psi_threshold (PREDLOG_DRIFT_PSI_THRESHOLD=high): want a number, got "high"`},
		{"boolean", "PREDLOG_DRIFT_INSERT_TIME_BINS", "yes", `invalid drift.insert_time_bins (PREDLOG_DRIFT_INSERT_TIME_BINS=yes): want true or false, got "yes"`},
		{"duration", "PREDLOG_WINDOWS_LABEL_HORIZON", "500", `invalid windows.label_horizon (PREDLOG_WINDOWS_LABEL_HORIZON=500): want a duration with a unit (500ms, 30s, 1h, 1d), got "500"`},
		{"durations", "PREDLOG_WINDOWS_GRANULARITIES", "1m,hourly", `invalid windows.granularities (PREDLOG_WINDOWS_GRANULARITIES=1m,hourly): want a duration with a unit (500ms, 30s, 1h, 1d), got "hourly"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadAggregator(t, "", map[string]string{tt.env: tt.value})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "strconv")
		})
	}
}

// TestYAMLTypeErrors: a value of the wrong kind is named by its key, with
// what the key takes, not by Go types.
func TestYAMLTypeErrors(t *testing.T) {
	tests := []struct{ yml, want string }{
		{"windows:\n  granularities: 1m\n", `line 2: windows.granularities: want a list of durations ([1m, 1h, 1d]), got the string "1m"`},
		{"windows:\n  label_horizon: 1w\n", `line 2: windows.label_horizon: want a duration with a unit (500ms, 30s, 1h, 1d), got the string "1w"`},
		{"drift:\n  psi_threshold: \"0.2\"\n", `line 2: drift.psi_threshold: want a number, got the string "0.2"`},
		{"ab:\n  experiments:\n    x:\n      split: [A, B]\n", `line 4: ab.experiments.x.split: want a mapping (key: value), got a list`},
		// An alias's error is reported on its anchor's line: no key named.
		{"windows:\n  label_horizon: &d lots\n  allowed_lateness: *d\n", "line 2: cannot unmarshal !!str `lots` into time.Duration"},
		// Flow mappings: several values on one line, told apart by type.
		{"windows: {granularities: [1m], label_horizon: [1h]}\n", `line 1: windows.label_horizon: want a duration with a unit (500ms, 30s, 1h, 1d), got a list`},
		// An item of a list: yaml.v3 names the item's type.
		{"windows:\n  granularities: [1m, 90s, 1w]\n", `line 2: windows.granularities: want a duration with a unit (500ms, 30s, 1h, 1d), got the string "1w"`},
		{"windows: {allowed_lateness: 500, label_horizon: 7d}\nslices: {top_n: 500, metadata_keys: 500}\n", `line 2: slices.metadata_keys: want a list ([a, b]), got 500`},
		// yaml.v3 would take 1.5 as 1.
		{"slices:\n  top_n: 1.5\n", `line 2: slices.top_n: want a whole number, got 1.5`},
		// The whole value, not yaml.v3's first 7 bytes ("127.0.0..."), up
		// to maxShown bytes.
		{"slices:\n  metadata_keys: tenant-and-region\n", `line 2: slices.metadata_keys: want a list ([a, b]), got the string "tenant-and-region"`},
		{"slices:\n  metadata_keys: " + strings.Repeat("k", 300) + "\n", `got the string "` + strings.Repeat("k", 200) + `…"`},
		{"drift:\n  insert_time_bins: 1234567890\n", `line 2: drift.insert_time_bins: want true or false, got 1234567890`},
		// Nothing of a value where a secret may be: a DSN with its
		// password given for the section.
		{"clickhouse: http://bob:hunter2@ch:8123\n", `line 1: clickhouse: want a mapping of its keys, got a value not shown (the key holds a secret)`},
	}
	for _, tt := range tests {
		_, err := loadAggregator(t, tt.yml, nil)
		if assert.Error(t, err, tt.yml) {
			assert.Contains(t, err.Error(), tt.want)
		}
	}
}

func TestAggregatorErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"interval", []string{"--schedule.interval=0s"}, "invalid schedule.interval (--schedule.interval=0s): must be at least 1s"},
		{"interval too short", []string{"--schedule.interval=1ns"}, "invalid schedule.interval (--schedule.interval=1ns): must be at least 1s"},
		{"misspelt flag", []string{"--schedule.intervl=5s"}, "parse flags: unknown flag --schedule.intervl (did you mean --schedule.interval?); -h lists the flags"},
		{"unknown flag", []string{"--bogus"}, "parse flags: unknown flag --bogus; -h lists the flags"},
		{"granularities empty", []string{"--windows.granularities="}, "invalid windows.granularities (--windows.granularities=): must not be empty"},
		{"granularities unordered", []string{"--windows.granularities=1h,1m"}, "invalid windows.granularities (--windows.granularities=1h,1m): want strictly ascending, got 1m after 1h"},
		{"log level zap accepts", []string{"--log.level=fatal"}, "invalid log.level (--log.level=fatal): want debug, info, warn or error"},
		{"granularities not multiples", []string{"--windows.granularities=2m,5m"}, "invalid windows.granularities (--windows.granularities=2m,5m): 5m: want a multiple of the first, 2m"},
		{"granularity over a year", []string{"--windows.granularities=1d,400d"}, "invalid windows.granularities (--windows.granularities=1d,400d): 400d: want at most 366 days"},
		{"horizon below lateness", []string{"--windows.label-horizon=1m", "--windows.allowed-lateness=5m"}, "invalid windows.label_horizon (--windows.label-horizon=1m): must be >= windows.allowed_lateness (5m)"},
		{"granularities sub-second", []string{"--windows.granularities=1500ms"}, "1.5s: want a positive whole number of seconds"},
		{"granularities bad", []string{"--windows.granularities=1w"}, `invalid windows.granularities (--windows.granularities=1w): want a duration with a unit (500ms, 30s, 1h, 1d), got "1w"`},
		{"lateness", []string{"--windows.allowed-lateness=-1s"}, "invalid windows.allowed_lateness (--windows.allowed-lateness=-1s): must be >= 0"},
		{"ingest delay", []string{"--windows.ingest-delay=0s"}, "invalid windows.ingest_delay (--windows.ingest-delay=0s): must be > 0"},
		{"recompute per cycle", []string{"--windows.recompute-per-cycle=0s"}, "invalid windows.recompute_per_cycle (--windows.recompute-per-cycle=0s): must be > 0"},
		{"label horizon", []string{"--windows.label-horizon=0s"}, "invalid windows.label_horizon (--windows.label-horizon=0s): must be > 0"},
		{"label horizon too long", []string{"--windows.label-horizon=3651d"}, "invalid windows.label_horizon (--windows.label-horizon=3651d): must be at most 3650d (ten years)"},
		{"auto baseline", []string{"--drift.auto-baseline=30s"}, "invalid drift.auto_baseline (--drift.auto-baseline=30s): must be 0 (off) or at least 1m"},
		{"psi", []string{"--drift.psi-threshold=0"}, "invalid drift.psi_threshold (--drift.psi-threshold=0): must be > 0"},
		{"js", []string{"--drift.js-threshold=1.5"}, "invalid drift.js_threshold (--drift.js-threshold=1.5): must be in (0, 1]"},
		{"p value", []string{"--drift.p-value=1"}, "invalid drift.p_value (--drift.p-value=1): must be in (0, 1)"},
		{"insert-time bins on a cluster", []string{"--drift.insert-time-bins", "--clickhouse.cluster=c"}, "invalid drift.insert_time_bins (--drift.insert-time-bins=true): cannot create the views on a cluster"},
		{"slice keys dup", []string{"--slices.metadata-keys=a,a"}, `invalid slices.metadata_keys (--slices.metadata-keys=a,a): want distinct non-empty keys, got "a" twice or empty`},
		{"top n", []string{"--slices.top-n=0"}, "invalid slices.top_n (--slices.top-n=0): must be > 0"},
		{"label cap", []string{"--metrics.label-cap=-1"}, "invalid metrics.label_cap (--metrics.label-cap=-1): must be >= 0 (0 turns the per-model gauges off)"},
		{"gauge granularity", []string{"--metrics.granularity=5m"}, "invalid metrics.granularity (--metrics.granularity=5m): must be 0 or one of windows.granularities (1m, 1h, 1d)"},
		{"ab confidence", []string{"--ab.confidence=1"}, "invalid ab.confidence (--ab.confidence=1): must be in (0, 1)"},
		{"no kafka keys", []string{"--kafka.brokers=a:1"}, "unknown flag --kafka.brokers; -h lists the flags"},
		{"listen", []string{"--http.listen=x"}, `invalid http.listen (--http.listen=x): want host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadAggregator(t, "", nil, tt.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestAggregatorDriftModels(t *testing.T) {
	c, err := loadAggregator(t, `
drift:
  models:
    fraud-detector:
      psi_threshold: 0.3
      features:
        amount: {psi_threshold: 0.5, js_threshold: 0.2}
      ignore_features: [session_id, ts]
`, nil)
	require.NoError(t, err)
	assert.Equal(t, map[string]DriftModel{"fraud-detector": {DriftThresholds: DriftThresholds{PSIThreshold: 0.3},
		Features:       map[string]DriftThresholds{"amount": {PSIThreshold: 0.5, JSThreshold: 0.2}},
		IgnoreFeatures: []string{"session_id", "ts"}}}, c.Drift.Models)

	tests := []struct {
		name, yml, wantErr string
	}{
		{"negative psi", "drift: {models: {m: {psi_threshold: -1}}}",
			"invalid drift.models.m (config file): psi_threshold (-1): want > 0, or 0 for drift.*"},
		{"js above 1", "drift: {models: {m: {js_threshold: 2}}}",
			"invalid drift.models.m (config file): js_threshold (2): want it in (0, 1], or 0 for drift.*"},
		{"feature js above 1", "drift: {models: {m: {features: {x: {js_threshold: 2}}}}}",
			"invalid drift.models.m (config file): features.x.js_threshold (2): want it in (0, 1], or 0 for the model's"},
		{"null rate 1", "drift: {models: {m: {null_rate_threshold: 1}}}",
			"invalid drift.models.m (config file): null_rate_threshold (1): want it in (0, 1), or 0 for drift.*"},
		{"ignored twice", "drift: {models: {m: {ignore_features: [a, a]}}}",
			`invalid drift.models.m (config file): ignore_features: want distinct non-empty names, got "a" twice or empty`},
		{"unknown key", "drift: {models: {m: {psi: 0.3}}}", "line 1: unknown key drift.models.m.psi"},
		{"unknown feature key", "drift: {models: {m: {features: {x: {psi: 0.3}}}}}", "line 1: unknown key drift.models.m.features.x.psi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadAggregator(t, tt.yml, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestAggregatorExperiments(t *testing.T) {
	c, err := loadAggregator(t, `
ab:
  confidence: 0.9
  experiments:
    checkout-v2:
      control: control
      split: {control: 90, treatment: 10}
    banner:
      control: blue
`, nil)
	require.NoError(t, err)
	assert.Equal(t, 0.9, c.AB.Confidence)
	assert.Equal(t, map[string]Experiment{
		"checkout-v2": {Control: "control", Split: map[string]float64{"control": 90, "treatment": 10}},
		"banner":      {Control: "blue"},
	}, c.AB.Experiments)

	tests := []struct {
		name, yml, wantErr string
	}{
		{"negative weight", "ab: {experiments: {e: {split: {a: 1, b: -1}}}}",
			"invalid ab.experiments.e (config file): split.b (-1): want a weight >= 0 (0: a stopped variant, its traffic allowed but not expected)"},
		{"every variant stopped", "ab: {experiments: {e: {split: {a: 0, b: 0}}}}",
			"invalid ab.experiments.e (config file): split: want a positive weight for at least one variant"},
		{"one variant", "ab: {experiments: {e: {split: {a: 1}}}}",
			"invalid ab.experiments.e (config file): split: want two or more variants, got only [a]"},
		{"control not in split", "ab: {experiments: {e: {control: c, split: {a: 1, b: 1}}}}",
			`invalid ab.experiments.e (config file): control "c": not one of the variants of split [a b]`},
		{"unknown key", "ab: {experiments: {e: {contrl: a}}}", "line 1: unknown key ab.experiments.e.contrl"},
		{"unknown key beside days", "windows:\n\n  label_horizon: 7d\n\n  granularity: [1m]\n", "line 5: unknown key windows.granularity"},
		{"unknown keys", "drift:\n  psi: 0.3\nwindows:\n  granularity: [1m]\n",
			"line 2: unknown key drift.psi (misspelt? configs/ lists every key); line 4: unknown key windows.granularity (did you mean windows.granularities?)"},
		{"typo", "drift:\n  insert_time_bin: true\n", "line 2: unknown key drift.insert_time_bin (did you mean drift.insert_time_bins?)"},
		{"typo in a section", "drfit:\n  psi_threshold: 0.3\n", "line 1: unknown key drfit (did you mean drift?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadAggregator(t, tt.yml, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, err := loadIngester(t, "", nil, "--batch.max-rows=0", "--log.level=loud")
	require.Error(t, err)
	var fe *FieldError
	require.True(t, errors.As(err, &fe))
	assert.Contains(t, err.Error(), "invalid batch.max_rows")
	assert.Contains(t, err.Error(), "invalid log.level")
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := LoadIngester([]string{"-h"}, envMap(nil), &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, out.String(), "-batch.max-bytes value")
	assert.Contains(t, out.String(), "(env PREDLOG_BATCH_MAX_BYTES) (default 16MiB)")
	assert.Contains(t, out.String(), "-config string")
	// Zero defaults are left out, as the flag package does for its types:
	// "(default 0)" read as if 0 were the limit.
	for _, zero := range []string{"(default false)", "(default 0)", "(default 0s)", "(default 0B)"} {
		assert.NotContains(t, out.String(), zero)
	}
	assert.Contains(t, out.String(), "ingester version ")
	assert.Contains(t, out.String(), "ingester dlq replay ")

	out.Reset()
	_, err = LoadAggregator([]string{"-h"}, envMap(nil), &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, cmd := range []string{"migrate", "backfill", "baseline", "version"} { // cmd/aggregator's subcommands
		assert.Contains(t, out.String(), "aggregator "+cmd+" ")
	}
	assert.NotContains(t, out.String(), "(default 0s)") // metrics.granularity
}

// Every key maps to a YAML path of the same name, and env/flag names are unique.
func TestKeysMatchYAML(t *testing.T) {
	for _, tt := range []struct {
		daemon string
		cfg    any
	}{
		{"ingester", DefaultIngester()},
		{"aggregator", DefaultAggregator()},
	} {
		t.Run(tt.daemon, func(t *testing.T) {
			var n yaml.Node
			require.NoError(t, n.Encode(tt.cfg))
			var leaves []string
			var walk func(n *yaml.Node, prefix string)
			walk = func(n *yaml.Node, prefix string) {
				for i := 0; i+1 < len(n.Content); i += 2 {
					k, v := prefix+n.Content[i].Value, n.Content[i+1]
					if v.Kind == yaml.MappingNode {
						walk(v, k+".")
						continue
					}
					leaves = append(leaves, k)
				}
			}
			walk(&n, "")
			keys := Keys(tt.daemon)
			assert.ElementsMatch(t, leaves, keys)
			envs, flags := map[string]bool{}, map[string]bool{}
			for _, k := range keys {
				assert.False(t, envs[EnvName(k)], "duplicate env %s", EnvName(k))
				assert.False(t, flags[FlagName(k)], "duplicate flag %s", FlagName(k))
				envs[EnvName(k)], flags[FlagName(k)] = true, true
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	const (
		chPass   = "ch-pa55-Zq9"
		saslPass = "sasl-pa55-Xk2"
		dsnPass  = "dsn-pa55-Wv7"
	)
	c, err := loadIngester(t, "", map[string]string{
		"PREDLOG_CLICKHOUSE_DSN":       "clickhouse://bob:" + dsnPass + "@ch:9000/predlog?password=" + dsnPass,
		"PREDLOG_KAFKA_SASL_MECHANISM": "PLAIN",
		"PREDLOG_KAFKA_SASL_USERNAME":  "alice",
	}, "--kafka.sasl.password-file", writeFile(t, "pw", saslPass+"\n"), "--clickhouse.password", chPass)
	require.NoError(t, err)
	require.Equal(t, chPass, c.ClickHouse.Password.Reveal())
	require.Equal(t, saslPass, c.Kafka.SASL.Password.Reveal())

	jsonOut, err := json.Marshal(c)
	require.NoError(t, err)
	yamlOut, err := yaml.Marshal(c)
	require.NoError(t, err)
	redJSON, err := json.Marshal(c.Redacted())
	require.NoError(t, err)

	var zapOut bytes.Buffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&zapOut), zap.DebugLevel))
	log.Info("config", zap.Any("any", c), zap.Any("value", *c), zap.Reflect("reflect", c))
	log.Info("config", c.LogFields()...)
	log.Info("secret", zap.Any("pw", c.ClickHouse.Password), zap.Stringer("s", c.Kafka.SASL.Password), zap.Any("dsn", c.ClickHouse.DSN))

	outputs := map[string]string{
		"%v":            fmt.Sprintf("%v", c),
		"%+v":           fmt.Sprintf("%+v", c),
		"%#v":           fmt.Sprintf("%#v", c),
		"%+v value":     fmt.Sprintf("%+v", *c),
		"%s secret":     fmt.Sprintf("%s %q %x", c.ClickHouse.Password, c.Kafka.SASL.Password, c.ClickHouse.Password),
		"json":          string(jsonOut),
		"yaml":          string(yamlOut),
		"redacted json": string(redJSON),
		"redacted %#v":  fmt.Sprintf("%#v", c.Redacted()),
		"zap":           zapOut.String(),
	}
	for name, out := range outputs {
		for _, secret := range []string{chPass, saslPass, dsnPass} {
			assert.NotContains(t, out, secret, "%s leaks a secret:\n%s", name, out)
		}
	}
	assert.Contains(t, outputs["%+v"], "[REDACTED]")
	assert.Contains(t, zapOut.String(), `"clickhouse.password":"[REDACTED]"`)
	assert.Contains(t, zapOut.String(), `"clickhouse.dsn":"clickhouse://bob:xxxxx@ch:9000/predlog?password=xxxxx"`)
	assert.Contains(t, zapOut.String(), `"batch.max_age":"500ms"`)
	assert.Equal(t, "[REDACTED]", c.Redacted().ClickHouse.Password.Reveal())
	assert.Equal(t, chPass, c.ClickHouse.Password.Reveal(), "Redacted must not modify the original")

	// Error messages must not leak secrets either.
	_, err = loadIngester(t, "", map[string]string{
		"PREDLOG_CLICKHOUSE_DSN":      "ftp://bob:" + dsnPass + "@ch/",
		"PREDLOG_CLICKHOUSE_PASSWORD": chPass,
	}, "--clickhouse.password-file", "/nonexistent")
	require.Error(t, err)
	for _, secret := range []string{chPass, dsnPass} {
		assert.NotContains(t, err.Error(), secret)
	}
	_, err = loadIngester(t, "", map[string]string{"PREDLOG_CLICKHOUSE_DSN": "http://bob:" + dsnPass + "@h:1:2:3/"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), dsnPass)

	// A password with an unencoded '#', '?' or '/' moves the '@' into the
	// fragment, query or path, where url.Parse sees no userinfo: the DSN
	// printed as given, in the startup log or the error.
	// Nor when the userinfo ends at an '@' of the password.
	for _, password := range []string{"12#" + dsnPass, "12?" + dsnPass, "12/" + dsnPass, "p@ss#" + dsnPass, "p@ss/" + dsnPass,
		"12?c=" + dsnPass, "p@ss?x=" + dsnPass} {
		dsn := DSN("http://bob:" + password + "@127.0.0.1:8123/predlog")
		assert.NotContains(t, dsn.String(), dsnPass, "DSN with password %q", password)
		_, err := dsn.Parse()
		if assert.Error(t, err, "DSN with password %q is taken apart wrongly", password) {
			assert.NotContains(t, err.Error(), dsnPass)
		}
		_, err = loadIngester(t, "", map[string]string{"PREDLOG_CLICKHOUSE_DSN": string(dsn)})
		if assert.Error(t, err, "config with DSN password %q", password) {
			assert.NotContains(t, err.Error(), dsnPass, "error for a DSN with password %q", password)
			assert.Contains(t, err.Error(), "percent-encode")
		}
	}
	// In the query an '@' is written %40.
	p, err := DSN("http://ch:8123/predlog?username=bob%40corp").Parse()
	if assert.NoError(t, err) {
		assert.Equal(t, "bob@corp", p.Username)
	}
}

// A DSN without "//" after its scheme has no userinfo for url.Parse: the
// user, password and host are its opaque part, which printed as given, in
// the error that says the scheme is missing.
func TestDSNWithoutSlashesNeverPrinted(t *testing.T) {
	const pass = "opq-pa55-Rt4"
	tests := []string{
		"bob:" + pass + "@ch:8123/predlog",
		"default:" + pass + "@ch",
		"http:bob:" + pass + "@ch:8123",
		"clickhouse:bob:" + pass + "@ch:9000/predlog",
	}
	for _, dsn := range tests {
		t.Run(dsn, func(t *testing.T) {
			assert.NotContains(t, DSN(dsn).String(), pass)
			_, err := loadIngester(t, "", map[string]string{"PREDLOG_CLICKHOUSE_DSN": dsn})
			if assert.Error(t, err) {
				assert.NotContains(t, err.Error(), pass)
				assert.Contains(t, err.Error(), "missing scheme")
			}
		})
	}
}

// clickhouse-go takes a proxy from the DSN (http_proxy=), whose userinfo
// holds the proxy's password: it printed as given in the startup log.
func TestDSNProxyPasswordNeverPrinted(t *testing.T) {
	const pass = "prx-pa55-Hn8"
	tests := []struct {
		dsn  string
		want string // DSN.String()
	}{
		{
			dsn:  "http://ch:8123/predlog?http_proxy=" + url.QueryEscape("http://u:"+pass+"@proxy:3128"),
			want: "http://ch:8123/predlog?http_proxy=" + url.QueryEscape("http://u:xxxxx@proxy:3128"),
		},
		{
			// A '#' in the proxy's password: its userinfo is not one.
			dsn:  "http://ch:8123/predlog?http_proxy=" + url.QueryEscape("http://u:1#"+pass+"@proxy:3128"),
			want: "http://ch:8123/predlog?http_proxy=xxxxx",
		},
		{
			dsn:  "http://ch:8123/predlog?http_proxy=" + url.QueryEscape("http://proxy:3128") + "&username=" + url.QueryEscape("bob@corp"),
			want: "http://ch:8123/predlog?http_proxy=" + url.QueryEscape("http://proxy:3128") + "&username=" + url.QueryEscape("bob@corp"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			assert.Equal(t, tt.want, DSN(tt.dsn).String())
			c, err := loadIngester(t, "", map[string]string{"PREDLOG_CLICKHOUSE_DSN": tt.dsn})
			require.NoError(t, err)
			var out bytes.Buffer
			zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&out), zap.DebugLevel)).
				Info("starting", c.LogFields()...)
			assert.NotContains(t, out.String(), pass)
		})
	}
}

func TestSecretEmpty(t *testing.T) {
	var s Secret
	assert.Equal(t, "", s.String())
	b, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Equal(t, `""`, string(b))
	assert.Equal(t, "[REDACTED]", Secret("x").String())
}

func TestDSNParse(t *testing.T) {
	tests := []struct {
		give string
		want ParsedDSN
	}{
		{
			give: "clickhouse://127.0.0.1:9000/predlog",
			want: ParsedDSN{Scheme: "clickhouse", Protocol: clickhouse.Native, Addrs: []string{"127.0.0.1:9000"}, Database: "predlog", Settings: map[string][]string{}},
		},
		{
			give: "http://127.0.0.1:8123/predlog",
			want: ParsedDSN{Scheme: "http", Protocol: clickhouse.HTTP, Addrs: []string{"127.0.0.1:8123"}, Database: "predlog", Settings: map[string][]string{}},
		},
		{
			give: "http://ch",
			want: ParsedDSN{Scheme: "http", Protocol: clickhouse.HTTP, Addrs: []string{"ch:8123"}, Settings: map[string][]string{}},
		},
		{
			give: "tcp://u:p@ch1,ch2:9001/db?compress=lz4&max_execution_time=60",
			want: ParsedDSN{Scheme: "tcp", Protocol: clickhouse.Native, Addrs: []string{"ch1:9000", "ch2:9001"}, Database: "db",
				Username: "u", Password: "p", Settings: map[string][]string{"compress": {"lz4"}, "max_execution_time": {"60"}}},
		},
		{
			give: "https://ch.example.com/?username=u&password=p&database=db&skip_verify=true",
			want: ParsedDSN{Scheme: "https", Protocol: clickhouse.HTTP, Secure: true, SkipVerify: true, Addrs: []string{"ch.example.com:8443"},
				Database: "db", Username: "u", Password: "p", Settings: map[string][]string{}},
		},
		{
			give: "clickhouse://[::1]/?secure=true",
			want: ParsedDSN{Scheme: "clickhouse", Protocol: clickhouse.Native, Secure: true, Addrs: []string{"[::1]:9440"}, Settings: map[string][]string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := DSN(tt.give).Parse()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestClickHouseOptions(t *testing.T) {
	tests := []struct {
		name  string
		give  ClickHouse
		check func(t *testing.T, o *clickhouse.Options)
	}{
		{
			name: "http default devstack",
			give: ClickHouse{DSN: DefaultClickHouseDSN, Database: "predlog", DialTimeout: time.Second, ReadTimeout: 2 * time.Second},
			check: func(t *testing.T, o *clickhouse.Options) {
				assert.Equal(t, clickhouse.HTTP, o.Protocol)
				assert.Equal(t, []string{"127.0.0.1:8123"}, o.Addr)
				assert.Equal(t, clickhouse.Auth{Database: "predlog", Username: "default"}, o.Auth)
				assert.Nil(t, o.TLS)
				assert.Equal(t, time.Second, o.DialTimeout)
				assert.Equal(t, 2*time.Second, o.ReadTimeout)
			},
		},
		{
			name: "native, config credentials override dsn, settings passed on",
			give: ClickHouse{DSN: "clickhouse://u:p@ch:9000/db?compress=lz4&max_execution_time=60", User: "cu", Password: "cp", Database: "db"},
			check: func(t *testing.T, o *clickhouse.Options) {
				assert.Equal(t, clickhouse.Native, o.Protocol)
				assert.Equal(t, []string{"ch:9000"}, o.Addr)
				assert.Equal(t, clickhouse.Auth{Database: "db", Username: "cu", Password: "cp"}, o.Auth)
				require.NotNil(t, o.Compression)
				assert.Equal(t, clickhouse.CompressionLZ4, o.Compression.Method)
				assert.Equal(t, 60, o.Settings["max_execution_time"])
			},
		},
		{
			name: "dsn credentials when config has none",
			give: ClickHouse{DSN: "http://u:p@ch/"},
			check: func(t *testing.T, o *clickhouse.Options) {
				assert.Equal(t, clickhouse.Auth{Database: "predlog", Username: "u", Password: "p"}, o.Auth)
			},
		},
		{
			name: "https gets TLS",
			give: ClickHouse{DSN: "https://ch/db?skip_verify=true"},
			check: func(t *testing.T, o *clickhouse.Options) {
				assert.Equal(t, clickhouse.HTTP, o.Protocol)
				require.NotNil(t, o.TLS)
				assert.True(t, o.TLS.InsecureSkipVerify)
			},
		},
		{
			name: "config TLS",
			give: ClickHouse{DSN: "clickhouse://ch:9440", TLS: TLS{Enabled: true, ServerName: "ch.internal"}},
			check: func(t *testing.T, o *clickhouse.Options) {
				require.NotNil(t, o.TLS)
				assert.Equal(t, "ch.internal", o.TLS.ServerName)
				assert.False(t, o.TLS.InsecureSkipVerify)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.give.Options()
			require.NoError(t, err)
			tt.check(t, o)
		})
	}

	_, err := ClickHouse{DSN: "clickhouse://ch", TLS: TLS{CAFile: writeFile(t, "ca.pem", "not pem")}}.Options()
	assert.ErrorContains(t, err, "no PEM certificates")
}

// An http:// DSN must reach the server over plain HTTP: clickhouse-go takes
// the URL scheme from the DSN Options parses.
func TestClickHouseOptionsHTTPScheme(t *testing.T) {
	hit := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit <- r.URL.Path
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	o, err := ClickHouse{DSN: DSN(srv.URL + "/db")}.Options()
	require.NoError(t, err)
	conn, err := clickhouse.Open(o)
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Ping(ctx) // fails on the 500; the request reaching the server is the point
	select {
	case <-hit:
	default:
		t.Fatal("no HTTP request reached the server")
	}
}

func TestByteSize(t *testing.T) {
	f := func(give string, want ByteSize, wantErr bool) {
		t.Helper()
		got, err := ParseByteSize(give)
		if wantErr {
			assert.Error(t, err, give)
			return
		}
		require.NoError(t, err, give)
		assert.Equal(t, want, got, give)
	}
	f("0", 0, false)
	f("1024", KiB, false)
	f("16MiB", 16*MiB, false)
	f("16 mib", 16*MiB, false)
	f("1GB", 1_000_000_000, false)
	f("500kb", 500_000, false)
	f("2Gi", 2*GiB, false)
	f("MiB", 0, true)
	f("1.5MiB", 0, true)
	f("3 parsecs", 0, true)
	f("9999999999GiB", 0, true)

	assert.Equal(t, "16MiB", (16 * MiB).String())
	assert.Equal(t, "1000", ByteSize(1000).String())
	assert.Equal(t, "0", ByteSize(0).String())
}

func TestTopicsInputs(t *testing.T) {
	in := defaultTopics().Inputs()
	assert.Len(t, in, 6)
	assert.NotContains(t, in, "predlog.dlq")
	assert.True(t, strings.HasPrefix(in[0], "predlog."))
}

// Days are a duration unit here, as in the API's granularity names.
func TestDurationDays(t *testing.T) {
	c, err := loadAggregator(t, "windows:\n  granularities: [1m, 1h, 1d]\n", nil, "--windows.label-horizon=7d")
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{time.Minute, time.Hour, 24 * time.Hour}, c.Windows.Granularities)
	assert.Equal(t, 7*24*time.Hour, c.Windows.LabelHorizon)
	for _, bad := range []string{"1.5d", "d", "-1d", "1dd"} {
		_, err := loadAggregator(t, "", nil, "--windows.label-horizon="+bad)
		assert.Error(t, err, bad)
	}
	// Rewritten in place: the decoder's line numbers are still the file's.
	const yml = "windows:\n  granularities: [1m,\n    1h, 1d]\n  label_horizon: \"7d\"\n\n\nslices:\n  top_n: %s\n"
	c, err = loadAggregator(t, fmt.Sprintf(yml, "7"), nil)
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{time.Minute, time.Hour, 24 * time.Hour}, c.Windows.Granularities)
	assert.Equal(t, 7*24*time.Hour, c.Windows.LabelHorizon)
	_, err = loadAggregator(t, fmt.Sprintf(yml, "lots"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `line 8: slices.top_n: want an integer, got the string "lots"`)
	// A malformed day value names its key and what days take.
	_, err = loadAggregator(t, "windows:\n  label_horizon: 1.5d\n", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2: windows.label_horizon: invalid duration \"1.5d\": days (d) must be a whole number")
	_, err = loadAggregator(t, "", nil, "--windows.label-horizon=1d12h")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "write 36h, not 1.5d or 1d12h")
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		7 * 24 * time.Hour: "7d", time.Hour: "1h", time.Minute: "1m", 90 * time.Second: "1m30s",
		30 * time.Second: "30s", 500 * time.Millisecond: "500ms", 0: "0s", 36 * time.Hour: "36h", 61 * time.Minute: "1h1m",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := parseDuration(formatDuration(d)); err != nil || back != d {
			t.Errorf("parseDuration(%q) = %v, %v", formatDuration(d), back, err)
		}
	}
}

func TestMisspeltEnv(t *testing.T) {
	got := MisspeltEnv([]string{
		"PREDLOG_SCHEDULE_INTERVALL=5s",   // a letter too many
		"PREDLOG_KAFKA_BROKERS=a:9092",    // the ingester's: fine for either daemon
		"PREDLOG_SCHEDULE_INTERVAL=5s",    // a setting
		"PREDLOG_LIBCHDB=/x/libchdb.so",   // a tool's, far from every setting
		"PREDLOG_CLICKHOUSE_DATABSE=p",    // two letters swapped
		"PREDLOG_WINDOWS_GRANULARITY=1m",  // singular for plural
		"HOME=/root",                      // not ours
		"PREDLOG_CONFIG=/etc/predlog.yml", // the config file
		"PREDLOG_BATCHMAXAGE=1s",          // underscores left out
	})
	want := []string{
		"PREDLOG_SCHEDULE_INTERVALL is not a setting and is ignored; did you mean PREDLOG_SCHEDULE_INTERVAL?",
		"PREDLOG_CLICKHOUSE_DATABSE is not a setting and is ignored; did you mean PREDLOG_CLICKHOUSE_DATABASE?",
		"PREDLOG_WINDOWS_GRANULARITY is not a setting and is ignored; did you mean PREDLOG_WINDOWS_GRANULARITIES?",
		"PREDLOG_BATCHMAXAGE is not a setting and is ignored; did you mean PREDLOG_BATCH_MAX_AGE?",
	}
	if !slices.Equal(got, want) {
		t.Errorf("MisspeltEnv = %q, want %q", got, want)
	}
}
