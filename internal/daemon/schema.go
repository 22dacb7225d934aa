package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/schema"
)

// SchemaCommands are the schema commands Schema.RunCLI runs (see
// schema.CLIUsage).
var SchemaCommands = []string{"migrate", "status", "check", "render"}

// Schema ties a daemon's ClickHouse config to internal/schema.
type Schema struct {
	// Daemon is the binary's name, "ingester" or "aggregator", for the
	// command Check's error tells the operator to run.
	Daemon     string
	ClickHouse config.ClickHouse
	// ConfigPath is the --config file the daemon was started with, if any;
	// the migrate command shown in errors repeats it.
	ConfigPath string
}

// MigrateCommand is the command that applies pending migrations with the
// same config, e.g. "ingester migrate --config /etc/predlog/ingester.yaml".
func (s Schema) MigrateCommand() string {
	cmd := s.Daemon + " migrate"
	if s.ConfigPath != "" {
		cmd += " --config " + s.ConfigPath
	}
	return cmd
}

// Options are the schema options from the config: database, cluster and
// prediction TTL.
func (s Schema) Options() schema.Options {
	return schema.Options{
		Database:          s.ClickHouse.Database,
		Cluster:           s.ClickHouse.Cluster,
		PredictionTTLDays: s.ClickHouse.PredictionTTLDays,
		MigrateCommand:    s.MigrateCommand(),
	}
}

// Open returns a connection on database "default", as schema.New requires
// (migrate creates the configured database). It does not dial yet.
func (s Schema) Open() (driver.Conn, error) {
	conn, _, err := s.open(false)
	return conn, err
}

// open is Open; bare leaves out the DSN's settings (a settingsCheck sends
// them), which it returns.
func (s Schema) open(bare bool) (driver.Conn, clickhouse.Settings, error) {
	opts, err := s.ClickHouse.Options()
	if err != nil {
		return nil, nil, err
	}
	opts.Auth.Database = "default"
	settings := opts.Settings
	if bare {
		opts.Settings = nil
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("clickhouse open: %w", err)
	}
	return conn, settings, nil
}

// RunCLI runs one of SchemaCommands against the configured database,
// writing its report to out. SIGINT and SIGTERM cancel it.
func (s Schema) RunCLI(ctx context.Context, command string, out io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The command as typed: `ingester migrate status`, not `ingester status`.
	typed := s.Daemon + " migrate"
	if command != "migrate" {
		typed += " " + command
	}
	var conn driver.Conn
	if command != "render" {
		c, err := s.Open()
		if err != nil {
			return fmt.Errorf("%s: %w", typed, err)
		}
		defer c.Close()
		conn = c
	}
	if err := schema.RunCLI(ctx, []string{command}, conn, s.Options(), out); err != nil {
		return fmt.Errorf("%s: %w", typed, protocolHint(err))
	}
	return nil
}

// protocolHint adds what to fix to the native protocol's error when the
// server answered in another protocol: clickhouse-go only says
// "[handshake] unexpected packet [72]" (72 is the H of an HTTP answer)
// for a clickhouse:// DSN pointing at ClickHouse's HTTP port. Other
// packets (21, a TLS alert: a secure port without secure=true) are left
// as they are rather than misnamed.
func protocolHint(err error) error {
	if err == nil || !strings.Contains(err.Error(), "[handshake] unexpected packet [72]") {
		return err
	}
	return fmt.Errorf("%w (the server does not speak ClickHouse's native protocol: is clickhouse.dsn's port an HTTP port? write http://host:8123 for HTTP, clickhouse://host:9000 for native)", err)
}

// ConfigPath returns the value of --config (or -config) in args, else
// $PREDLOG_CONFIG: the file config.Load* reads.
func ConfigPath(args []string, lookupEnv config.LookupEnv) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	if lookupEnv == nil {
		return ""
	}
	p, _ := lookupEnv(config.ConfigEnv)
	return p
}

// SchemaChecker is what a SchemaGate waits on; *schema.Migrator is one.
type SchemaChecker interface {
	Check(ctx context.Context) error
}

// Retry bounds of SchemaGate.
const (
	schemaRetryInitial = 500 * time.Millisecond
	schemaRetryMax     = 30 * time.Second
)

// SchemaGate holds a daemon's components back until the ClickHouse schema
// check passes. Run it as a component; wrap the others with Then.
//
// An outdated or inconsistent schema (schema.ErrSchemaOutdated,
// ErrChecksumMismatch, ErrModeMismatch, ErrMissingObject, invalid options
// or migrations) or a DSN setting ClickHouse refuses (ErrBadSetting) ends
// Run with that error, so the daemon exits with a message naming the fix.
// So do credentials ClickHouse keeps rejecting for authBudget. Every
// other error, e.g. ClickHouse unreachable, is logged and retried with
// capped exponential backoff: a daemon started before ClickHouse waits for
// it instead of exiting.
type SchemaGate struct {
	log   *zap.Logger
	check SchemaChecker

	initial, max time.Duration // retry bounds; seams for tests
	authBudget   time.Duration
	now          func() time.Time

	passed chan struct{} // closed when the check passed
	mu     sync.Mutex
	last   error // last retried error, for ReadyCheck
}

// NewSchemaGate returns a gate on check; log should carry the component name.
func NewSchemaGate(log *zap.Logger, check SchemaChecker) *SchemaGate {
	if log == nil {
		log = zap.NewNop()
	}
	return &SchemaGate{
		log:        log,
		check:      check,
		initial:    schemaRetryInitial,
		max:        schemaRetryMax,
		authBudget: authBudget,
		now:        time.Now,
		passed:     make(chan struct{}),
	}
}

// Run waits for the check to pass (see SchemaGate), then blocks until ctx
// is done so that the group keeps running.
func (s *SchemaGate) Run(ctx context.Context) error {
	if err := s.Wait(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

// authBudget is how long ClickHouse may keep rejecting the credentials
// before the gate gives up: not at once, since a server that is starting
// may not have created its users yet (an init script, an operator).
const authBudget = time.Minute

// Wait runs the check until it passes, fails permanently or ctx is done.
func (s *SchemaGate) Wait(ctx context.Context) error {
	wait := s.initial
	var authSince time.Time // first of the rejections in a row
	for attempt := 1; ; attempt++ {
		err := s.check.Check(ctx)
		if err == nil {
			s.log.Info("schema is up to date")
			close(s.passed)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if permanentSchemaError(err) {
			return err
		}
		switch now := s.now(); {
		case !authError(err):
			authSince = time.Time{}
		case authSince.IsZero():
			authSince = now
		case now.Sub(authSince) >= s.authBudget:
			return fmt.Errorf("ClickHouse has rejected the credentials for %s; check clickhouse.user and clickhouse.password (or its env var or file): %w",
				now.Sub(authSince).Round(time.Second), err)
		}
		err = protocolHint(err)
		s.mu.Lock()
		s.last = err
		s.mu.Unlock()
		s.log.Warn("schema check failed; components wait until it passes",
			zap.Error(err), zap.Int("attempt", attempt), zap.Duration("retry_in", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, s.max)
	}
}

// authError reports ClickHouse refusing the user: unknown user, wrong
// password, authentication failed.
func authError(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && chwriter.AuthFailure(int(ex.Code))
}

func permanentSchemaError(err error) bool {
	for _, target := range []error{
		schema.ErrSchemaOutdated, schema.ErrChecksumMismatch, schema.ErrModeMismatch,
		schema.ErrUnknownVersion, schema.ErrInvalidOptions, schema.ErrInvalidMigration,
		schema.ErrMissingObject, ErrBadSetting,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// Then returns fn delayed until the check passed; it returns ctx.Err()
// without calling fn if ctx ends first (including when Run failed and the
// group is stopping).
func (s *SchemaGate) Then(fn func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-s.passed:
			return fn(ctx)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ReadyCheck is a readiness check that fails until the schema check passed.
func (s *SchemaGate) ReadyCheck(context.Context) error {
	select {
	case <-s.passed:
		return nil
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != nil {
		return fmt.Errorf("schema not checked yet: %w", s.last)
	}
	return errors.New("schema not checked yet")
}

// SchemaSubcommand recognizes `<daemon> migrate [status|check|render]
// [flags]`: it returns the schema command (see schema.CLIUsage; plain
// `migrate` applies) and the config flags that follow it. ok is false when
// args do not start with "migrate".
func SchemaSubcommand(args []string) (command string, rest []string, ok bool) {
	if len(args) == 0 || args[0] != "migrate" {
		return "", nil, false
	}
	if len(args) > 1 && slices.Contains(SchemaCommands, args[1]) {
		return args[1], args[2:], true
	}
	return "migrate", args[1:], true
}
