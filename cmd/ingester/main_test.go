package main

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	chsql "github.com/predlog/predlog/clickhouse"
	"github.com/predlog/predlog/internal/daemon"
	"github.com/predlog/predlog/internal/schema"
	"github.com/predlog/predlog/internal/telemetry"
	"github.com/predlog/predlog/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestRunArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "help is not an error", args: []string{"-h"}},
		{name: "migrate help is not an error", args: []string{"migrate", "-h"}},
		{name: "invalid config", args: []string{"--batch.max-rows=0"}, wantErr: "invalid batch.max_rows (--batch.max-rows=0): must be > 0"},
		{name: "migrate reads the config", args: []string{"migrate", "--batch.max-rows=0"}, wantErr: "invalid batch.max_rows (--batch.max-rows=0): must be > 0"},
		{name: "migrate validates the ttl", args: []string{"migrate", "--clickhouse.prediction-ttl-days=0"}, wantErr: "invalid clickhouse.prediction_ttl_days"},
		{name: "migrate takes one command", args: []string{"migrate", "status", "check"}, wantErr: `unexpected argument "check"`},
		{name: "dlq replay help is not an error", args: []string{"dlq", "replay", "-h"}},
		{name: "dlq wants replay", args: []string{"dlq"}, wantErr: "ingester dlq replay"},
		{name: "dlq replay reads the config", args: []string{"dlq", "replay", "--code=x", "--batch.max-rows=0"}, wantErr: "invalid batch.max_rows (--batch.max-rows=0): must be > 0"},
		{name: "dlq replay checks its flags", args: []string{"dlq", "replay", "--code=x,"}, wantErr: `dlq replay: invalid --code="x,"`},
		{name: "bad listen address fails before starting", args: []string{"--http.listen=256.0.0.1:1", "--log.level=error"}, wantErr: "ops server listen:"},
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
			os.Args = append([]string{"ingester"}, tt.args...)
			err := run()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestMigrateRender(t *testing.T) {
	out, err := runCapture(t, "migrate", "render", "--clickhouse.database=render_db", "--clickhouse.prediction-ttl-days=7")
	require.NoError(t, err)
	assert.Contains(t, out, "CREATE DATABASE IF NOT EXISTS render_db")
	assert.Contains(t, out, "INTERVAL 7 DAY")
}

// TestMigrate walks a fresh database through the schema commands and the
// startup check.
func TestMigrate(t *testing.T) {
	st := testenv.Get(t)
	db := st.Database(t)
	st.Exec(t, "", "DROP DATABASE "+db+" SYNC") // migrate creates it; the cleanup drops it again
	flags := chFlags(st, st.ClickHouseURL, db)

	_, err := runCapture(t, append([]string{"migrate", "check"}, flags...)...)
	require.ErrorIs(t, err, schema.ErrSchemaOutdated)
	assert.ErrorContains(t, err, "ingester migrate")

	// The daemon refuses to start; the message names the command, with the
	// config file it was started with.
	cfgFile := writeConfig(t)
	_, err = runCapture(t, append([]string{"--config", cfgFile, "--http.listen", freeAddr(t)}, flags...)...)
	require.ErrorIs(t, err, schema.ErrSchemaOutdated)
	assert.ErrorContains(t, err, "`ingester migrate --config "+cfgFile+"`")

	out, err := runCapture(t, append([]string{"migrate"}, flags...)...)
	require.NoError(t, err)
	assert.Equal(t, migrationCount(t), strings.Count(out, "applied "), out)
	assert.Contains(t, out, "applied 0001_prediction_logs.sql")
	assert.Equal(t, "1\n", st.Exec(t, "", "EXISTS TABLE "+db+".prediction_logs"))

	out, err = runCapture(t, append([]string{"migrate"}, flags...)...)
	require.NoError(t, err)
	assert.Equal(t, "database "+db+" is up to date\n", out)

	// A prediction_ttl_days changed after the tables were created: migrate
	// says that it does not apply it, and how to (it said "up to date" and
	// nothing else). Running what it says ends the note.
	out, err = runCapture(t, append([]string{"migrate", "--clickhouse.prediction-ttl-days", "30"}, flags...)...)
	require.NoError(t, err)
	var alters []string
	for _, line := range strings.Split(out, "\n") {
		if _, alter, ok := strings.Cut(line, "run ALTER TABLE"); ok {
			assert.Contains(t, line, "keeps rows 90 days", line)
			alters = append(alters, "ALTER TABLE"+alter)
		}
	}
	require.Len(t, alters, 2, "a note each for prediction_logs and outcomes:\n%s", out)
	for _, alter := range alters {
		st.Exec(t, "", alter)
	}
	out, err = runCapture(t, append([]string{"migrate", "--clickhouse.prediction-ttl-days", "30"}, flags...)...)
	require.NoError(t, err)
	assert.Equal(t, "database "+db+" is up to date\n", out)

	out, err = runCapture(t, append([]string{"migrate", "check"}, flags...)...)
	require.NoError(t, err)
	assert.Equal(t, "database "+db+" is up to date\n", out)

	out, err = runCapture(t, append([]string{"migrate", "status"}, flags...)...)
	require.NoError(t, err)
	assert.Equal(t, migrationCount(t), strings.Count(out, " applied "), out)

	// After migrate the daemon starts and becomes ready.
	addr := freeAddr(t)
	done := runDaemon(t, append([]string{"--http.listen", addr}, flags...)...)
	waitReady(t, addr, done)
	stopDaemon(t, done)
}

// TestStartupWaitsForClickHouse starts the ingester while ClickHouse is
// unreachable: it must keep running, not ready, and become ready once
// ClickHouse answers.
func TestStartupWaitsForClickHouse(t *testing.T) {
	st := testenv.Get(t)
	db := st.Database(t)
	_, err := runCapture(t, append([]string{"migrate"}, chFlags(st, st.ClickHouseURL, db)...)...)
	require.NoError(t, err)

	chAddr := freeAddr(t) // nothing listens here yet
	addr := freeAddr(t)
	done := runDaemon(t, append([]string{"--http.listen", addr}, chFlags(st, "http://"+chAddr, db)...)...)

	var ready telemetry.ReadyResponse
	require.Eventually(t, func() bool {
		code, body := get(t, "http://"+addr+"/readyz")
		ready = telemetry.ReadyResponse{}
		_ = json.Unmarshal([]byte(body), &ready)
		return code == http.StatusServiceUnavailable && slices.Contains(ready.Failed, "schema")
	}, 20*time.Second, 50*time.Millisecond, "readyz: %+v", ready)
	assert.Contains(t, ready.Failed, "schema")
	code, _ := get(t, "http://"+addr+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	select {
	case err := <-done:
		t.Fatalf("ingester exited while ClickHouse was unreachable: %v", err)
	default:
	}

	u, err := url.Parse(st.ClickHouseURL)
	require.NoError(t, err)
	forward(t, chAddr, u.Host)
	waitReady(t, addr, done)
	stopDaemon(t, done)
}

// TestStartupRefusesBadSetting: a setting in clickhouse.dsn that ClickHouse
// refuses (unknown, or a value it cannot parse) fails the startup at once,
// naming it; it was retried as if ClickHouse were down.
func TestStartupRefusesBadSetting(t *testing.T) {
	st := testenv.Get(t)
	db := st.Database(t)
	_, err := runCapture(t, append([]string{"migrate"}, chFlags(st, st.ClickHouseURL, db)...)...)
	require.NoError(t, err)
	tests := []struct {
		name, query, want string
	}{
		{"unparsable number", "max_execution_time=abc", "max_execution_time=abc"},
		{"unparsable integer", "max_threads=abc", "max_threads=abc"},
		{"unparsable bool", "insert_deduplicate=maybe", "insert_deduplicate=maybe"},
		{"unknown setting", "max_execution_tme=60", "max_execution_tme=60"},
		{"one bad among good ones", "max_threads=2&max_execution_time=1x&mutations_sync=1", "max_execution_time=1x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := runDaemon(t, append([]string{"--http.listen", freeAddr(t)}, chFlags(st, st.ClickHouseURL+"/?"+tt.query, db)...)...)
			select {
			case err := <-done:
				require.ErrorIs(t, err, daemon.ErrBadSetting)
				assert.ErrorContains(t, err, tt.want)
			case <-time.After(20 * time.Second):
				stopDaemon(t, done)
				t.Fatalf("still running 20s after start with ?%s, want it to fail naming the setting", tt.query)
			}
		})
	}
	// Good settings start as before.
	addr := freeAddr(t)
	done := runDaemon(t, append([]string{"--http.listen", addr}, chFlags(st, st.ClickHouseURL+"/?max_execution_time=60&max_threads=2", db)...)...)
	waitReady(t, addr, done)
	stopDaemon(t, done)
}

// chFlags points the ingester at ClickHouse dsn, database db.
func chFlags(st *testenv.Stack, dsn, db string) []string {
	flags := []string{"--clickhouse.dsn", dsn, "--clickhouse.database", db, "--log.level=error",
		"--kafka.brokers", st.KafkaAddr, "--kafka.group-id", "test-" + db}
	if st.ClickHouseUser != "" {
		flags = append(flags, "--clickhouse.user", st.ClickHouseUser, "--clickhouse.password", st.ClickHousePassword)
	}
	return flags
}

func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(chsql.Migrations(), "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return len(files)
}

func writeConfig(t *testing.T) string {
	t.Helper()
	p := t.TempDir() + "/ingester.yaml"
	require.NoError(t, os.WriteFile(p, []byte("log:\n  level: error\n"), 0o600))
	return p
}

// runCapture runs the command and returns what it wrote to stdout. It sets
// process globals: tests using it must not run in parallel.
func runCapture(t *testing.T, args ...string) (string, error) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdout")
	require.NoError(t, err)
	defer f.Close()
	origArgs, origOut := os.Args, os.Stdout
	defer func() { os.Args, os.Stdout = origArgs, origOut }()
	os.Args, os.Stdout = append([]string{"ingester"}, args...), f
	runErr := run()
	out, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	return string(out), runErr
}

// runDaemon runs the daemon in the background; the channel receives run's
// result.
func runDaemon(t *testing.T, args ...string) <-chan error {
	t.Helper()
	orig := os.Args
	t.Cleanup(func() { os.Args = orig })
	os.Args = append([]string{"ingester"}, args...)
	done := make(chan error, 1)
	go func() { done <- run() }()
	return done
}

func waitReady(t *testing.T, addr string, done <-chan error) {
	t.Helper()
	var body string
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("ingester exited: %v", err)
		default:
		}
		var code int
		code, body = get(t, "http://"+addr+"/readyz")
		return code == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "readyz: %s", body)
}

// stopDaemon sends SIGTERM, which the running daemon's signal handler takes.
func stopDaemon(t *testing.T, done <-chan error) {
	t.Helper()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("ingester did not stop")
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// forward proxies TCP connections from listen to target until t ends.
func forward(t *testing.T, listen, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c) }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
}
