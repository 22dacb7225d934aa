package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/schema"
	"github.com/predlog/predlog/internal/telemetry"
)

// Common is what both daemons share in their configuration.
type Common struct {
	ClickHouse config.ClickHouse
	HTTP       config.HTTP
	Log        config.Log
	Shutdown   config.Shutdown
	LogFields  []zap.Field // the effective configuration, redacted
}

// Base is what every daemon builds before its own components: a tagged
// logger, a registry, the bound ops server, the schema gate and the run
// group, with the signal handler and the schema check added first.
type Base struct {
	Log   *zap.Logger
	Reg   *prometheus.Registry
	Ops   *telemetry.Server
	Gate  *SchemaGate
	Group *Group

	closers []func()
}

// NewBase builds the Base of daemon name. args are the command line (for
// the migrate command the schema check names). Call Close when done.
func NewBase(name, version string, c Common, args []string, lookupEnv config.LookupEnv) (_ *Base, err error) {
	b := &Base{}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	log, err := telemetry.NewLogger(c.Log)
	if err != nil {
		return nil, err
	}
	log = log.With(zap.String("daemon", name))
	undo := zap.RedirectStdLog(log)
	b.closers = append(b.closers, func() { _ = log.Sync() }, undo)
	b.Log = log
	log.Info("starting "+name, append([]zap.Field{zap.String("version", version)}, c.LogFields...)...)
	for _, w := range config.MisspeltEnv(os.Environ()) {
		log.Warn(w)
	}

	b.Reg = prometheus.NewRegistry()
	if b.Ops, err = telemetry.NewServer(telemetry.ServerOptions{
		Addr:        c.HTTP.Listen,
		EnablePprof: c.HTTP.Pprof,
		// Requests may drain for as long as the whole shutdown may take
		// (the API's deadline is shorter); the group bounds it.
		ShutdownTimeout: c.Shutdown.Timeout,
		Logger:          telemetry.Component(log, "http"),
		Registry:        b.Reg,
	}); err != nil {
		return nil, err
	}
	// Bind now: a busy port fails start-up before anything else connects.
	if err := b.Ops.Listen(); err != nil {
		return nil, err
	}

	// Components start only once the schema check passed; an outdated
	// schema ends the daemon with the command that migrates it.
	sch := Schema{Daemon: name, ClickHouse: c.ClickHouse, ConfigPath: ConfigPath(args, lookupEnv)}
	conn, err := sch.Open()
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, func() { _ = conn.Close() })
	// The DSN's settings are checked first: one ClickHouse refuses would
	// fail the schema check like an unreachable server, retried for ever.
	bare, settings, err := sch.open(true)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, func() { _ = bare.Close() })
	slog := telemetry.Component(log, "schema")
	b.Gate = NewSchemaGate(slog, checks{settingsCheck{probe: selectOne(bare), settings: settings}, schema.New(conn, sch.Options(), slog)})

	b.Group = New(log, c.Shutdown.Timeout)
	b.Ops.AddCheck("shutdown", b.Group.StoppingCheck)
	b.Ops.AddCheck("schema", b.Gate.ReadyCheck)
	b.Group.AddSignalHandler()
	b.Group.AddContext("schema", b.Gate.Run)
	return b, nil
}

// Close releases what NewBase opened, last first.
func (b *Base) Close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	b.closers = nil
}

// RunSchemaCommand runs `<daemon> migrate|status|check|render` if args ask
// for it; ok is false otherwise. load parses the rest of the arguments.
func RunSchemaCommand(name string, args []string, lookupEnv config.LookupEnv, out io.Writer,
	load func(args []string) (config.ClickHouse, error)) (ok bool, err error) {
	cmd, rest, ok := SchemaSubcommand(args)
	if !ok {
		return false, nil
	}
	if cmd == "migrate" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		return true, fmt.Errorf("unknown migrate subcommand %q: want `%s migrate [status|check|render] [flags]` (none applies the migrations):\n%s",
			rest[0], name, schema.CLIUsage)
	}
	if slices.ContainsFunc(rest, func(a string) bool { return a == "-h" || a == "--help" || a == "-help" }) {
		fmt.Fprintf(out, "Usage: %s migrate [status|check|render] [flags]\n\n%s\n\nFlags (those of ClickHouse and --config matter here):\n", name, schema.CLIUsage)
	}
	ch, err := load(rest)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	if err != nil {
		return true, err
	}
	sch := Schema{Daemon: name, ClickHouse: ch, ConfigPath: ConfigPath(rest, lookupEnv)}
	return true, sch.RunCLI(context.Background(), cmd, out)
}
