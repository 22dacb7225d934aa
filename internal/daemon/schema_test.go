package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/schema"
)

// checkFunc is a SchemaChecker.
type checkFunc func(ctx context.Context) error

func (f checkFunc) Check(ctx context.Context) error { return f(ctx) }

// scripted fails with errs in turn, then passes.
func scripted(errs ...error) (SchemaChecker, func() int) {
	var mu sync.Mutex
	calls := 0
	return checkFunc(func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls <= len(errs) {
				return errs[calls-1]
			}
			return nil
		}), func() int {
			mu.Lock()
			defer mu.Unlock()
			return calls
		}
}

func newTestGate(t *testing.T, c SchemaChecker) *SchemaGate {
	g := NewSchemaGate(zaptest.NewLogger(t), c)
	g.initial, g.max = time.Millisecond, 4*time.Millisecond
	return g
}

func TestSchemaGateRetriesTransientErrors(t *testing.T) {
	down := errors.New("dial tcp 127.0.0.1:8123: connection refused")
	c, calls := scripted(down, down, down, down)
	g := newTestGate(t, c)

	ran := make(chan struct{})
	component := g.Then(func(ctx context.Context) error { close(ran); <-ctx.Done(); return ctx.Err() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gateDone := make(chan error, 1)
	compDone := make(chan error, 1)
	go func() { compDone <- component(ctx) }()
	assert.ErrorContains(t, g.ReadyCheck(ctx), "schema not checked yet")
	go func() { gateDone <- g.Run(ctx) }()

	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("component did not start after the check passed")
	}
	assert.Equal(t, 5, calls())
	assert.NoError(t, g.ReadyCheck(ctx))
	cancel()
	assert.ErrorIs(t, <-gateDone, context.Canceled)
	assert.ErrorIs(t, <-compDone, context.Canceled)
}

func TestSchemaGatePermanentErrors(t *testing.T) {
	for _, target := range []error{schema.ErrSchemaOutdated, schema.ErrChecksumMismatch, schema.ErrModeMismatch, schema.ErrInvalidOptions, schema.ErrMissingObject} {
		t.Run(target.Error(), func(t *testing.T) {
			c, calls := scripted(fmt.Errorf("%w: apply them with `ingester migrate`", target))
			g := newTestGate(t, c)
			err := g.Run(context.Background())
			require.ErrorIs(t, err, target)
			assert.ErrorContains(t, err, "ingester migrate")
			assert.Equal(t, 1, calls())

			// Components never start; the group cancels them.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			assert.ErrorIs(t, g.Then(func(context.Context) error { t.Error("component ran"); return nil })(ctx), context.Canceled)
			assert.Error(t, g.ReadyCheck(ctx))
		})
	}
}

// TestSchemaGateCredentials: credentials rejected for authBudget end the
// gate with a message naming the settings; rejections for less, or broken
// by other errors (a server still creating its users), are retried.
func TestSchemaGateCredentials(t *testing.T) {
	auth := fmt.Errorf("look up schema_migrations: %w", &clickhouse.Exception{Code: 516, Message: "default: Authentication failed"})
	down := errors.New("connection refused")
	rep := func(err error, n int) []error { return slices.Repeat([]error{err}, n) }
	tests := []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   string // "" when the check passes in the end
	}{
		// One check per clock tick of 10s: the seventh rejection is 60s after the first.
		{"rejected for the budget", rep(auth, 10), 7, "rejected the credentials for 1m0s"},
		{"accepted within the budget", rep(auth, 6), 7, ""},
		{"broken by another error", slices.Concat(rep(auth, 5), []error{down}, rep(auth, 5)), 12, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, calls := scripted(tt.errs...)
			g := newTestGate(t, c)
			clock := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
			g.now = func() time.Time { clock = clock.Add(10 * time.Second); return clock }
			err := g.Wait(context.Background())
			if tt.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tt.wantErr)
				assert.ErrorContains(t, err, "clickhouse.password")
				assert.ErrorContains(t, err, "Authentication failed")
			}
			assert.Equal(t, tt.wantCalls, calls())
		})
	}
}

func TestSchemaGateStopsWhileWaiting(t *testing.T) {
	c := checkFunc(func(context.Context) error { return errors.New("connection refused") })
	g := newTestGate(t, c)
	g.max = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	require.Eventually(t, func() bool {
		return g.ReadyCheck(ctx) != nil && g.ReadyCheck(ctx).Error() == "schema not checked yet: connection refused"
	}, 10*time.Second, time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestSchemaSubcommand(t *testing.T) {
	tests := []struct {
		name     string
		give     []string
		wantCmd  string
		wantRest []string
		wantOK   bool
	}{
		{name: "daemon", give: []string{"--config", "x.yaml"}},
		{name: "none", give: nil},
		{name: "migrate", give: []string{"migrate"}, wantCmd: "migrate", wantRest: []string{}, wantOK: true},
		{name: "migrate flags", give: []string{"migrate", "--config", "x.yaml"}, wantCmd: "migrate", wantRest: []string{"--config", "x.yaml"}, wantOK: true},
		{name: "status", give: []string{"migrate", "status", "--config=x.yaml"}, wantCmd: "status", wantRest: []string{"--config=x.yaml"}, wantOK: true},
		{name: "check", give: []string{"migrate", "check"}, wantCmd: "check", wantRest: []string{}, wantOK: true},
		{name: "render", give: []string{"migrate", "render"}, wantCmd: "render", wantRest: []string{}, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, rest, ok := SchemaSubcommand(tt.give)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantCmd, cmd)
			assert.Equal(t, tt.wantRest, rest)
		})
	}
}

func TestMigrateCommand(t *testing.T) {
	env := func(m map[string]string) config.LookupEnv {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	f := func(args []string, e map[string]string, want string) {
		t.Helper()
		s := Schema{Daemon: "aggregator", ConfigPath: ConfigPath(args, env(e))}
		assert.Equal(t, want, s.MigrateCommand())
		assert.Equal(t, want, s.Options().MigrateCommand)
	}
	f(nil, nil, "aggregator migrate")
	f([]string{"--config", "a.yaml"}, nil, "aggregator migrate --config a.yaml")
	f([]string{"-config=a.yaml", "--log.level=debug"}, nil, "aggregator migrate --config a.yaml")
	f([]string{"--log.level", "debug"}, map[string]string{config.ConfigEnv: "/etc/a.yaml"}, "aggregator migrate --config /etc/a.yaml")
	f([]string{"--config", "flag.yaml"}, map[string]string{config.ConfigEnv: "env.yaml"}, "aggregator migrate --config flag.yaml")
	f([]string{"--clickhouse.database", "config"}, nil, "aggregator migrate")
}

// TestRunSchemaCommandUsage: a word after migrate that is no subcommand is
// named as one, not as a stray flag argument; -h lists the subcommands.
func TestRunSchemaCommandUsage(t *testing.T) {
	load := func([]string) (config.ClickHouse, error) { return config.ClickHouse{}, flag.ErrHelp }
	var out strings.Builder
	ok, err := RunSchemaCommand("ingester", []string{"migrate", "stauts"}, nil, &out, load)
	if !ok || err == nil || !strings.Contains(err.Error(), `unknown migrate subcommand "stauts"`) || !strings.Contains(err.Error(), "check ") {
		t.Errorf("migrate stauts: ok %v, err %v; want the subcommand named and the list", ok, err)
	}
	ok, err = RunSchemaCommand("ingester", []string{"migrate", "--help"}, nil, &out, load)
	if !ok || err != nil || !strings.Contains(out.String(), "Usage: ingester migrate [status|check|render]") {
		t.Errorf("migrate --help: ok %v, err %v, printed %q; want the subcommands", ok, err, out.String())
	}
}
