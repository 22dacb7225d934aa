package main

import (
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/predlog/predlog/internal/schema"
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
		{name: "invalid config", args: []string{"--slices.top-n=0"}, wantErr: "invalid slices.top_n (--slices.top-n=0): must be > 0"},
		{name: "unknown subcommand", args: []string{"serve"}, wantErr: `unexpected argument "serve"`},
		{name: "migrate reads the config", args: []string{"migrate", "--slices.top-n=0"}, wantErr: "invalid slices.top_n (--slices.top-n=0): must be > 0"},
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
	flags := []string{"--clickhouse.dsn", st.ClickHouseURL, "--clickhouse.database", db, "--log.level=error"}
	if st.ClickHouseUser != "" {
		flags = append(flags, "--clickhouse.user", st.ClickHouseUser, "--clickhouse.password", st.ClickHousePassword)
	}

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

// runCapture runs the command and returns what it wrote to stdout. It sets
// process globals: tests using it must not run in parallel.
func runCapture(t *testing.T, args ...string) (string, error) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdout")
	require.NoError(t, err)
	defer f.Close()
	origArgs, origOut := os.Args, os.Stdout
	defer func() { os.Args, os.Stdout = origArgs, origOut }()
	os.Args, os.Stdout = append([]string{"aggregator"}, args...), f
	runErr := run()
	out, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	return string(out), runErr
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
