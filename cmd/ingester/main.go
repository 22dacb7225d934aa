// Command ingester consumes prediction-log events from Kafka, validates them,
// writes them to ClickHouse in batches and commits offsets after each write;
// messages that fail decoding or validation go to the DLQ topic.
//
// Usage:
//
//	ingester [--config ingester.yaml] [--kafka.brokers=host:9092 ...]
//	ingester migrate [status|check|render] [--config ingester.yaml ...]
//	ingester dlq replay [--code c1,c2] [--source-topic t1,t2] [--dry-run] [--group predlog-dlq-replay] [--config ingester.yaml ...]
//
// Every setting is a YAML key, a PREDLOG_<SECTION>_<KEY> environment variable
// and a --<section>.<key> flag; see configs/ingester.yaml and `ingester -h`.
//
// `ingester migrate` applies the pending clickhouse/migrations to
// clickhouse.database (creating it) and exits; `status` lists them, `check`
// fails unless none is pending, `render` prints the DDL without connecting.
// At start the ingester checks the schema and exits if migrations are
// pending; while ClickHouse is unreachable it retries and consumes nothing.
//
// `ingester dlq replay` produces dead-lettered messages back to their source
// topics (see internal/dlq.Replay and `ingester dlq replay -h`) and exits.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/daemon"
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
	if ok, err := daemon.PrintVersion("ingester", version, args, os.Stdout); ok {
		return err
	}
	if ok, err := daemon.RunSchemaCommand("ingester", args, os.LookupEnv, os.Stdout, func(rest []string) (config.ClickHouse, error) {
		cfg, err := config.LoadIngester(rest, os.LookupEnv, os.Stderr)
		if err != nil {
			return config.ClickHouse{}, err
		}
		return cfg.ClickHouse, nil
	}); ok {
		return err
	}
	if len(args) > 0 && args[0] == "dlq" {
		return runDLQ(args[1:], os.Stdout, os.Stderr)
	}

	cfg, err := config.LoadIngester(args, os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	// The pipeline holds at most batch.max_buffered_bytes (messages, their
	// rows and encoded inserts). The soft memory limit gives the GC headroom
	// over that bound: with only 128 MiB over the default 256 MiB it ran
	// almost continuously while a backlog kept the buffer full (~30 % of the
	// ingester's CPU, 9-10 CPU-s per 1M rows, RSS ~450 MiB); with 1.5x the
	// bound, 6-7 CPU-s and RSS ~620 MiB (make bench, 1M rows, alternating
	// runs). Below the limit GOGC's default (collect at twice the live heap)
	// applies. Capped at 90 % of the container's memory; GOMEMLIMIT wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit(int64(cfg.Batch.MaxBufferedBytes), cgroupMemoryLimit()))
	}

	base, err := daemon.NewBase("ingester", version, daemon.Common{
		ClickHouse: cfg.ClickHouse, HTTP: cfg.HTTP, Log: cfg.Log, Shutdown: cfg.Shutdown, LogFields: cfg.LogFields(),
	}, args, os.LookupEnv)
	if err != nil {
		return err
	}
	defer base.Close()

	pl, err := newPipeline(cfg, telemetry.Component(base.Log, "pipeline"), base.Reg)
	if err != nil {
		return err
	}
	defer pl.close()
	base.Ops.AddCheck("pipeline", pl.Ready)
	base.Ops.AddCheck("clickhouse", pl.sink.Ping)

	// Shutdown order. The group stops components one at a time in the order
	// they are added, waiting for each before the next:
	//  1. signal: SIGINT/SIGTERM starts the shutdown; a second one exits at once.
	//  2. schema: the startup check (retrying while ClickHouse is
	//     unreachable); it holds nothing.
	//  3. pipeline: stop fetching from Kafka, flush the open batches to
	//     ClickHouse, commit the offsets of what was written, leave the
	//     group, close the Kafka readers and the DLQ writer.
	//  4. http: last, so /metrics and /readyz (failing "shutdown") stay up
	//     while the pipeline drains.
	//  5. After the group: the ClickHouse clients, then the logger (deferred).
	// Steps 1-4 are bounded by shutdown.timeout; each step's duration is logged.
	base.Group.AddContext("pipeline", base.Gate.Then(pl.Run))
	base.Group.AddContext("http", base.Ops.Run)
	return base.Group.Run()
}
