package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/predlog/predlog/internal/schema"
	"github.com/predlog/predlog/internal/testenv"
	"github.com/predlog/predlog/internal/testenv/testschema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestRunArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "help is not an error", args: []string{"-h"}},
		{name: "invalid config", args: []string{"--slices.top-n=0"}, wantErr: "invalid slices.top_n (--slices.top-n=0): must be > 0"},
		{name: "unknown subcommand", args: []string{"serve"}, wantErr: `unexpected argument "serve"`},
		{name: "migrate reads the config", args: []string{"migrate", "--slices.top-n=0"}, wantErr: "invalid slices.top_n (--slices.top-n=0): must be > 0"},
		{name: "bad listen address fails before starting", args: []string{"--http.listen=256.0.0.1:1", "--log.level=error"}, wantErr: "ops server listen:"},
		{name: "backfill help", args: []string{"backfill", "-h"}},
		{name: "backfill needs --from", args: []string{"backfill", "--to", "2026-05-02T00:00:00Z"}, wantErr: "missing --from"},
		{name: "backfill reads the config", args: []string{"backfill", "--from=2026-05-01T00:00:00Z", "--to=2026-05-02T00:00:00Z", "--slices.top-n=0"},
			wantErr: "invalid slices.top_n (--slices.top-n=0): must be > 0"},
		{name: "baseline help", args: []string{"baseline", "--help"}},
		{name: "baseline needs --model", args: []string{"baseline", "--version", "v1", "--from=2026-05-01T00:00:00Z", "--to=2026-05-02T00:00:00Z"},
			wantErr: "aggregator baseline: missing --model"},
		{name: "baseline needs a range", args: []string{"baseline", "--model", "m", "--version", "v1", "--to=2026-05-02T00:00:00Z"},
			wantErr: "aggregator baseline: missing --from"},
		{name: "baseline needs a positive --min-samples", args: []string{"baseline", "--model", "m", "--version", "v1", "--from=2026-05-01T00:00:00Z", "--to=2026-05-02T00:00:00Z", "--min-samples=0"},
			wantErr: `invalid --min-samples="0"`},
		{name: "baseline --replace takes a boolean", args: []string{"baseline", "--model", "m", "--version", "v1", "--from=2026-05-01T00:00:00Z", "--to=2026-05-02T00:00:00Z", "--replace=maybe"},
			wantErr: `invalid --replace="maybe"`},
		{name: "baseline reads the config", args: []string{"baseline", "--model", "m", "--version", "v1", "--from=2026-05-01T00:00:00Z", "--to=2026-05-02T00:00:00Z", "--slices.top-n=0"},
			wantErr: "invalid slices.top_n (--slices.top-n=0): must be > 0"},
	}
	orig, stderr := os.Args, os.Stderr
	t.Cleanup(func() { os.Args, os.Stderr = orig, stderr })
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	os.Stderr = devnull // usage text
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Args = append([]string{"aggregator"}, tt.args...)
			err := run()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// TestMigrate: the aggregator refuses to start on a fresh database, naming
// its own migrate command, which then applies the schema.
func TestMigrate(t *testing.T) {
	st := testenv.Get(t)
	db := st.Database(t)
	st.Exec(t, "", "DROP DATABASE "+db+" SYNC") // migrate creates it; the cleanup drops it again
	flags := chFlags(st, db)

	_, err := runCapture(t, append([]string{"--http.listen", freeAddr(t)}, flags...)...)
	require.ErrorIs(t, err, schema.ErrSchemaOutdated)
	assert.ErrorContains(t, err, "`aggregator migrate`")

	out, err := runCapture(t, append([]string{"migrate"}, flags...)...)
	require.NoError(t, err)
	assert.Contains(t, out, "applied 0001_prediction_logs.sql")
	assert.Equal(t, "1\n", st.Exec(t, "", "EXISTS TABLE "+db+".performance_metrics"))

	out, err = runCapture(t, append([]string{"migrate", "check"}, flags...)...)
	require.NoError(t, err)
	assert.Equal(t, "database "+db+" is up to date\n", out)
}

func TestCommandRange(t *testing.T) {
	may1, may2 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		args     []string
		wantRest []string
		wantErr  string
	}{
		{name: "separate values", args: []string{"--from", "2026-05-01T00:00:00Z", "--to", "2026-05-02T00:00:00Z"}},
		{name: "inline values and config flags", args: []string{"--config", "a.yaml", "-from=2026-05-01T02:00:00+02:00", "--log.level=error", "--to=2026-05-02T00:00:00Z"},
			wantRest: []string{"--config", "a.yaml", "--log.level=error"}},
		{name: "missing --to", args: []string{"--from", "2026-05-01T00:00:00Z"}, wantErr: "missing --to"},
		{name: "no value", args: []string{"--to", "2026-05-02T00:00:00Z", "--from"}, wantErr: "--from needs a value"},
		{name: "not RFC3339", args: []string{"--from", "2026-05-01", "--to", "2026-05-02T00:00:00Z"}, wantErr: `invalid --from="2026-05-01"`},
		{name: "empty range", args: []string{"--from", "2026-05-02T00:00:00Z", "--to", "2026-05-02T00:00:00Z"}, wantErr: "must be before --to"},
		{name: "reversed", args: []string{"--from", "2026-05-03T00:00:00Z", "--to", "2026-05-02T00:00:00Z"}, wantErr: "must be before --to"},
		{name: "twice", args: []string{"--from", "2026-05-01T00:00:00Z", "--from=2026-05-01T00:00:00Z", "--to", "2026-05-02T00:00:00Z"}, wantErr: "more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, rest, err := commandFlags(tt.args, "from", "to")
			var from, to time.Time
			if err == nil {
				from, to, err = parseRange(vals)
			}
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, may1, from)
			assert.Equal(t, may2, to)
			assert.Equal(t, tt.wantRest, rest)
		})
	}
}

func chFlags(st *testenv.Stack, db string) []string {
	flags := []string{"--clickhouse.dsn", st.ClickHouseURL, "--clickhouse.database", db, "--log.level=error"}
	if st.ClickHouseUser != "" {
		flags = append(flags, "--clickhouse.user", st.ClickHouseUser, "--clickhouse.password", st.ClickHousePassword)
	}
	return flags
}

// TestDaemonServesAPI: the daemon mounts the query API next to the ops
// endpoints, answers once the schema check passed, and stops on SIGINT.
func TestDaemonServesAPI(t *testing.T) {
	st := testenv.Get(t)
	db := testschema.Database(t, st)
	st.Exec(t, db, `INSERT INTO models (model_id, model_version, stage, problem_type, updated_at)
		VALUES ('fraud', '3', 'production', 'binary', now64(3))`)

	addr := freeAddr(t)
	orig := os.Args
	t.Cleanup(func() { os.Args = orig })
	os.Args = append([]string{"aggregator", "--http.listen", addr}, chFlags(st, db)...)
	done := make(chan error, 1)
	go func() { done <- run() }()

	get := func(path string) (int, map[string]any) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	require.Eventually(t, func() bool { code, _ := get("/readyz"); return code == http.StatusOK },
		30*time.Second, 50*time.Millisecond, "never ready")

	code, body := get("/v1/models")
	require.Equal(t, http.StatusOK, code, body)
	models := body["models"].([]any)
	require.Len(t, models, 1)
	assert.Equal(t, "3", models[0].(map[string]any)["latest_version"])
	code, body = get("/v1/models/fraud/performance?granularity=1d")
	assert.Equal(t, http.StatusOK, code, body)
	code, body = get("/v1/models/fraud/performance?granularity=5m")
	assert.Equal(t, http.StatusBadRequest, code, body)
	assert.Equal(t, "granularity", body["parameter"])
	code, _ = get("/v1/models/unknown")
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = get("/metrics")
	assert.Equal(t, http.StatusOK, code)

	// The signal handler is installed before the listener serves, so the
	// test process does not die of it.
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("aggregator did not stop on SIGINT")
	}
}

// TestBackfill: the subcommand refuses an outdated schema, and otherwise
// runs the engine's Backfill.
func TestBackfill(t *testing.T) {
	st := testenv.Get(t)
	db := st.Database(t)
	// A recent range: prediction_logs' TTL drops older rows on insert.
	from := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	rng := []string{"backfill", "--from", from.Format(time.RFC3339), "--to", from.Add(time.Hour).Format(time.RFC3339)}

	_, err := runCapture(t, append(rng, chFlags(st, db)...)...)
	require.ErrorIs(t, err, schema.ErrSchemaOutdated)
	assert.ErrorContains(t, err, "`aggregator migrate`")

	testschema.Apply(t, st, db)
	ts := from.Add(90 * time.Second).Format("2006-01-02 15:04:05")
	st.Exec(t, db, `INSERT INTO prediction_logs (request_id, model_id, model_version, event_time, score, latency_ms, status)
		VALUES ('r1', 'm', 'v1', '`+ts+`', 0.9, 12, 'ok'), ('r2', 'm', 'v1', '`+ts+`', 0.2, 30, 'error')`)
	_, err = runCapture(t, append(rng, chFlags(st, db)...)...)
	require.NoError(t, err)
	got := st.Exec(t, db, `SELECT model_version, prediction_count, error_count FROM performance_metrics FINAL
		WHERE granularity = '1m' AND slice_key = '' ORDER BY model_version`)
	assert.Equal(t, "*\t2\t1\nv1\t2\t1\n", got)

	// A range that has not closed, and one without predictions: done, and
	// the log says why nothing was computed.
	for _, tt := range []struct{ from, want string }{
		{time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour).Format(time.RFC3339), "no window of the range has closed yet"},
		{from.Add(-24 * time.Hour).Format(time.RFC3339), "the range holds no predictions"},
	} {
		to, _ := time.Parse(time.RFC3339, tt.from)
		args := append([]string{"backfill", "--from", tt.from, "--to", to.Add(time.Hour).Format(time.RFC3339)}, chFlags(st, db)...)
		_, log, err := runCaptureBoth(t, append(args, "--log.level=warn")...) // after chFlags: the last one counts
		require.NoError(t, err)
		assert.Contains(t, log, tt.want)
	}
}

// TestBaseline: `aggregator baseline` freezes a window of one version and
// prints what it wrote; a version without predictions there is an error
// naming the versions that have some.
func TestBaseline(t *testing.T) {
	st := testenv.Get(t)
	db := st.Database(t)
	testschema.Apply(t, st, db)
	from := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	ts := func(d time.Duration) string { return "'" + from.Add(d).Format("2006-01-02 15:04:05") + "'" }
	st.Exec(t, db, `INSERT INTO prediction_logs (request_id, model_id, model_version, event_time, features_num, features_cat, score, predicted_label, latency_ms, status) VALUES
		('r1', 'm', 'v1', `+ts(time.Minute)+`, map('x', 1), map('c', 'a'), 0.9, 'yes', 1, 'ok'),
		('r2', 'm', 'v1', `+ts(2*time.Minute)+`, map('x', 2), map('c', 'b'), 0.1, 'no', 1, 'ok'),
		('r3', 'm', 'v1', `+ts(3*time.Minute)+`, map(), map('c', 'a'), 0.5, 'yes', 1, 'ok'),
		('r4', 'm', 'v1', `+ts(4*time.Minute)+`, map('x', 99), map('c', 'z'), 0.5, 'yes', 1, 'error'),
		('r5', 'm', 'v2', `+ts(5*time.Minute)+`, map('x', 1), map('c', 'a'), 0.5, 'yes', 1, 'ok')`)
	rng := func(version string) []string {
		return append([]string{"baseline", "--model", "m", "--version", version, "--from", from.Format(time.RFC3339),
			"--to", from.Add(time.Hour).Format(time.RFC3339)}, chFlags(st, db)...)
	}
	// 3 ok predictions: fewer than drift.min_samples, unless lowered.
	_, err := runCapture(t, rng("v1")...)
	assert.ErrorContains(t, err, `too few predictions: 3 ok predictions of model "m" version "v1"`)
	assert.ErrorContains(t, err, "--min-samples lowers it")
	out, err := runCapture(t, append(rng("v1"), "--min-samples", "3")...)
	require.NoError(t, err)
	assert.Contains(t, out, "Baseline of m v1 from 3 ok predictions in ["+from.Format(time.RFC3339))
	for _, line := range []string{
		`__label__\s+categorical\s+0.0000\s+2\s+0.0000`,
		`__score__\s+numeric\s+0.0000\s+\d+\s+-`,
		`c\s+categorical\s+0.0000\s+2\s+0.0000`,
		`x\s+numeric\s+0.3333\s+\d+\s+-`,
	} {
		assert.Regexp(t, "(?m)^"+line+"$", out)
	}
	got := st.Exec(t, db, `SELECT feature, toString(source), sample_count, categories FROM feature_baselines FINAL
		WHERE model_id = 'm' AND model_version = 'v1' AND feature_type = 'categorical' ORDER BY feature`)
	assert.Equal(t, "__label__\treference_window\t3\t{'yes':0.6666666666666666,'no':0.3333333333333333}\n"+
		"c\treference_window\t3\t{'a':0.6666666666666666,'b':0.3333333333333333}\n", got)

	_, err = runCapture(t, rng("v3")...)
	assert.ErrorContains(t, err, `aggregator baseline: freeze baseline: no predictions of model "m" version "v3" in [`)
	assert.ErrorContains(t, err, `versions with ok predictions there: "v1" (3), "v2" (1)`)

	// v2's baseline came with its training: kept unless --replace.
	st.Exec(t, db, `INSERT INTO feature_baselines (model_id, model_version, feature, feature_type, source, bin_edges, bin_proportions, computed_at)
		VALUES ('m', 'v2', 'x', 'numeric', 'training', [1], [0.5, 0.5], now64(3) - INTERVAL 1 DAY)`)
	_, err = runCapture(t, append(rng("v2"), "--min-samples=1")...)
	assert.ErrorContains(t, err, `model "m" version "v2": the version has a training baseline`)
	assert.ErrorContains(t, err, "--replace")
	out, err = runCapture(t, append(rng("v2"), "--min-samples=1", "--replace")...)
	require.NoError(t, err)
	assert.Contains(t, out, "Baseline of m v2 from 1 ok predictions")
	assert.Equal(t, "reference_window\n", st.Exec(t, db, `SELECT DISTINCT toString(source) FROM feature_baselines FINAL WHERE model_version = 'v2'`))
}

// runCapture runs the command and returns what it wrote to stdout. It sets
// process globals: tests using it must not run in parallel.
func runCapture(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := runCaptureBoth(t, args...)
	return out, err
}

// runCaptureBoth is runCapture that also returns what the command wrote
// to stderr (its log).
func runCaptureBoth(t *testing.T, args ...string) (stdout, stderr string, runErr error) {
	t.Helper()
	dir := t.TempDir()
	fo, err := os.Create(dir + "/stdout")
	require.NoError(t, err)
	defer fo.Close()
	fe, err := os.Create(dir + "/stderr")
	require.NoError(t, err)
	defer fe.Close()
	origArgs, origOut, origErr := os.Args, os.Stdout, os.Stderr
	defer func() { os.Args, os.Stdout, os.Stderr = origArgs, origOut, origErr }()
	os.Args, os.Stdout, os.Stderr = append([]string{"aggregator"}, args...), fo, fe
	runErr = run()
	out, err := os.ReadFile(fo.Name())
	require.NoError(t, err)
	log, err := os.ReadFile(fe.Name())
	require.NoError(t, err)
	return string(out), string(log), runErr
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
