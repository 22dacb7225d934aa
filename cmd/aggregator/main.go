// Command aggregator rolls the ingested prediction logs up into windowed
// model-quality metrics with ClickHouse SQL and serves them over a JSON API.
//
// Usage:
//
//	aggregator [--config aggregator.yaml] [--schedule.interval=30s ...]
//	aggregator migrate [status|check|render] [--config aggregator.yaml ...]
//
// Every setting is a YAML key, a PREDLOG_<SECTION>_<KEY> environment variable
// and a --<section>.<key> flag; see configs/aggregator.yaml and `aggregator -h`.
//
// `aggregator migrate` is `ingester migrate` (see cmd/ingester) with the
// aggregator's config. At start the aggregator checks the schema and exits
// if migrations are pending; while ClickHouse is unreachable it retries and
// runs no jobs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/daemon"
	"github.com/predlog/predlog/internal/schema"
	"github.com/predlog/predlog/internal/telemetry"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	args := os.Args[1:]
	if cmd, rest, ok := daemon.SchemaSubcommand(args); ok {
		cfg, err := config.LoadAggregator(rest, os.LookupEnv, os.Stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		if err != nil {
			return err
		}
		sch := daemon.Schema{Daemon: "aggregator", ClickHouse: cfg.ClickHouse, ConfigPath: daemon.ConfigPath(rest, os.LookupEnv)}
		return sch.RunCLI(context.Background(), cmd, os.Stdout)
	}

	cfg, err := config.LoadAggregator(args, os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	log, err := telemetry.NewLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	log = log.With(zap.String("daemon", "aggregator"))
	undo := zap.RedirectStdLog(log)
	defer undo()
	log.Info("starting aggregator", append([]zap.Field{zap.String("version", version)}, cfg.LogFields()...)...)

	reg := prometheus.NewRegistry()
	// One listener serves the ops endpoints and, once it exists, the query API
	// (mounted with srv.Handle).
	srv, err := telemetry.NewServer(telemetry.ServerOptions{
		Addr:     cfg.HTTP.Listen,
		Logger:   telemetry.Component(log, "http"),
		Registry: reg,
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}

	// The scheduler starts only once the schema check passed; an outdated
	// schema ends the daemon with the command that migrates it.
	sch := daemon.Schema{Daemon: "aggregator", ClickHouse: cfg.ClickHouse, ConfigPath: daemon.ConfigPath(args, os.LookupEnv)}
	schemaConn, err := sch.Open()
	if err != nil {
		return err
	}
	defer schemaConn.Close()
	gate := daemon.NewSchemaGate(telemetry.Component(log, "schema"),
		schema.New(schemaConn, sch.Options(), telemetry.Component(log, "schema")))

	g := daemon.New(log, cfg.Shutdown.Timeout) // tags its messages with each component's name
	srv.AddCheck("shutdown", g.StoppingCheck)
	srv.AddCheck("schema", gate.ReadyCheck)

	// Shutdown order. The group stops components one at a time in the order
	// they are added, waiting for each before the next:
	//  1. signal: SIGINT/SIGTERM starts the shutdown; a second one exits at once.
	//  2. schema: the startup check (retrying while ClickHouse is
	//     unreachable); it holds nothing.
	//  3. scheduler: stop starting jobs, cancel the running aggregation
	//     queries (each window is recomputed idempotently on the next run),
	//     then close the ClickHouse connection.
	//  4. http: last, so in-flight API requests and /metrics finish while the
	//     scheduler stops; /readyz fails "shutdown" from step 1 on.
	// The whole sequence is bounded by shutdown.timeout.
	g.AddSignalHandler()
	g.AddContext("schema", gate.Run)
	g.AddContext("scheduler", gate.Then(schedulerSkeleton(telemetry.Component(log, "scheduler"))))
	g.AddContext("http", srv.Run)
	return g.Run()
}

// schedulerSkeleton stands in for the aggregation scheduler.
//
// TODO(issue: aggregator jobs — windowed metrics, drift, slices — and the
// JSON query API): replace with the real scheduler built from
// cfg.ClickHouse.Options(), cfg.Schedule, cfg.Windows, cfg.Drift, cfg.Slices
// and cfg.Metrics; mount the API on srv before Run.
func schedulerSkeleton(log *zap.Logger) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		log.Warn("skeleton: the aggregation jobs are not implemented yet; computing nothing until interrupted")
		<-ctx.Done()
		return ctx.Err()
	}
}
