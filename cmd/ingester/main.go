// Command ingester consumes prediction-log events from Kafka, validates them,
// writes them to ClickHouse in batches and commits offsets after each write;
// messages that fail decoding or validation go to the DLQ topic.
//
// Usage:
//
//	ingester [--config ingester.yaml] [--kafka.brokers=host:9092 ...]
//	ingester migrate [status|check|render] [--config ingester.yaml ...]
//
// Every setting is a YAML key, a PREDLOG_<SECTION>_<KEY> environment variable
// and a --<section>.<key> flag; see configs/ingester.yaml and `ingester -h`.
//
// `ingester migrate` applies the pending clickhouse/migrations to
// clickhouse.database (creating it) and exits; `status` lists them, `check`
// fails unless none is pending, `render` prints the DDL without connecting.
// At start the ingester checks the schema and exits if migrations are
// pending; while ClickHouse is unreachable it retries and consumes nothing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"

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
		cfg, err := config.LoadIngester(rest, os.LookupEnv, os.Stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		if err != nil {
			return err
		}
		sch := daemon.Schema{Daemon: "ingester", ClickHouse: cfg.ClickHouse, ConfigPath: daemon.ConfigPath(rest, os.LookupEnv)}
		return sch.RunCLI(context.Background(), cmd, os.Stdout)
	}

	cfg, err := config.LoadIngester(args, os.LookupEnv, os.Stderr)
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
	log = log.With(zap.String("daemon", "ingester"))
	undo := zap.RedirectStdLog(log)
	defer undo()
	log.Info("starting ingester", append([]zap.Field{zap.String("version", version)}, cfg.LogFields()...)...)

	// The pipeline holds at most batch.max_buffered_bytes of messages; a soft
	// memory limit just above it makes the GC collect before the heap doubles
	// (GOGC's default), so RSS stays near the configured bound. GOMEMLIMIT,
	// if set, wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(cfg.Batch.MaxBufferedBytes) + 128<<20)
	}

	reg := prometheus.NewRegistry()
	ops, err := telemetry.NewServer(telemetry.ServerOptions{
		Addr:        cfg.HTTP.Listen,
		EnablePprof: cfg.HTTP.Pprof,
		Logger:      telemetry.Component(log, "ops"),
		Registry:    reg,
	})
	if err != nil {
		return err
	}
	// Bind now: a busy port fails startup before anything connects to Kafka.
	if err := ops.Listen(); err != nil {
		return err
	}

	// The pipeline starts only once the schema check passed; an outdated
	// schema ends the daemon with the command that migrates it.
	sch := daemon.Schema{Daemon: "ingester", ClickHouse: cfg.ClickHouse, ConfigPath: daemon.ConfigPath(args, os.LookupEnv)}
	schemaConn, err := sch.Open()
	if err != nil {
		return err
	}
	defer schemaConn.Close()
	gate := daemon.NewSchemaGate(telemetry.Component(log, "schema"),
		schema.New(schemaConn, sch.Options(), telemetry.Component(log, "schema")))

	g := daemon.New(log, cfg.Shutdown.Timeout) // tags its messages with each component's name
	ops.AddCheck("shutdown", g.StoppingCheck)
	ops.AddCheck("schema", gate.ReadyCheck)

	// Shutdown order. The group stops components one at a time in the order
	// they are added, waiting for each before the next:
	//  1. signal: SIGINT/SIGTERM starts the shutdown; a second one exits at once.
	//  2. schema: the startup check (retrying while ClickHouse is
	//     unreachable); it holds nothing.
	//  3. pipeline: stop fetching from Kafka, flush the open batch to
	//     ClickHouse, commit the offsets of what was written, close the
	//     Kafka reader and the DLQ writer, then the ClickHouse connection.
	//  4. ops: last, so /metrics and /readyz (failing "shutdown") stay up
	//     while the pipeline drains.
	// The whole sequence is bounded by shutdown.timeout.
	pl, err := newPipeline(cfg, telemetry.Component(log, "pipeline"), reg)
	if err != nil {
		return err
	}
	defer pl.close()
	ops.AddCheck("pipeline", pl.Ready)
	ops.AddCheck("clickhouse", pl.sink.Ping)

	g.AddSignalHandler()
	g.AddContext("schema", gate.Run)
	g.AddContext("pipeline", gate.Then(pl.Run))
	g.AddContext("ops", ops.Run)
	return g.Run()
}
