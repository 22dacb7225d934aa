// Command aggregator rolls the ingested prediction logs up into windowed
// model-quality metrics with ClickHouse SQL and serves them over a JSON API.
//
// Usage:
//
//	aggregator [--config aggregator.yaml] [--schedule.interval=30s ...]
//	aggregator backfill --from 2026-05-01T00:00:00Z --to 2026-05-08T00:00:00Z [--config aggregator.yaml ...]
//	aggregator baseline --model fraud --version v4 --from 2026-05-01T00:00:00Z --to 2026-05-02T00:00:00Z [...]
//	aggregator migrate [status|check|render] [--config aggregator.yaml ...]
//
// Every setting is a YAML key, a PREDLOG_<SECTION>_<KEY> environment variable
// and a --<section>.<key> flag; see configs/aggregator.yaml and `aggregator -h`.
//
// The daemon serves the query API (api/openapi.yaml) under /v1/ on
// http.listen, next to /metrics, /healthz and /readyz.
//
// `aggregator backfill` computes every closed window overlapping
// [--from, --to) once and exits; windows already computed are recomputed
// (idempotently).
//
// `aggregator baseline` freezes one model version's feature, score and
// label distributions over a production window as its drift baseline
// (source reference_window) and prints it.
//
// `aggregator migrate` is `ingester migrate` (see cmd/ingester) with the
// aggregator's config. At start the aggregator checks the schema and exits
// if migrations are pending; while ClickHouse is unreachable it retries and
// runs no jobs, and the API answers 503.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/api"
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
	if ok, err := daemon.PrintVersion("aggregator", version, args, os.Stdout); ok {
		return err
	}
	if ok, err := daemon.RunSchemaCommand("aggregator", args, os.LookupEnv, os.Stdout, func(rest []string) (config.ClickHouse, error) {
		cfg, err := config.LoadAggregator(rest, os.LookupEnv, os.Stderr)
		if err != nil {
			return config.ClickHouse{}, err
		}
		return cfg.ClickHouse, nil
	}); ok {
		return err
	}
	if len(args) > 0 {
		switch args[0] {
		case "backfill":
			return runBackfill(args[1:])
		case "baseline":
			return runBaseline(args[1:])
		}
	}

	cfg, err := config.LoadAggregator(args, os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	// One listener serves the ops endpoints and the query API.
	base, err := daemon.NewBase("aggregator", version, daemon.Common{
		ClickHouse: cfg.ClickHouse, HTTP: cfg.HTTP, Log: cfg.Log, Shutdown: cfg.Shutdown, LogFields: cfg.LogFields(),
	}, args, os.LookupEnv)
	if err != nil {
		return err
	}
	defer base.Close()
	log := base.Log

	// The engine and the API get a connection pool each, so a burst of API
	// requests cannot starve the aggregation queries of connections (and
	// the other way round). Neither dials before its first query.
	aggConn, err := openClickHouse(cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer closeTimed(log, "aggregator clickhouse connection", aggConn)
	apiConn, err := openClickHouse(cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer closeTimed(log, "api clickhouse connection", apiConn)

	agg, err := newAggregator(cfg, aggConn, telemetry.Component(log, "aggregator"), base.Reg)
	if err != nil {
		return err
	}
	apiHandler, err := api.New(api.Options{
		Store:         api.NewClickHouseStore(apiConn),
		Logger:        telemetry.Component(log, "api"),
		Registerer:    base.Reg,
		Granularities: granularityNames(cfg.Windows.Granularities),
		SliceKeys:     cfg.Slices.MetadataKeys,
		// Until the schema check passed the tables may be missing or old:
		// answer 503 rather than SQL errors.
		Ready: base.Gate.ReadyCheck,
	})
	if err != nil {
		return err
	}
	base.Ops.Handle("/v1/", apiHandler)
	base.Ops.NotFound(apiHandler) // its JSON 404, naming the endpoints
	base.Ops.AddCheck("clickhouse", apiConn.Ping)
	base.Ops.AddCheck("aggregator", agg.Ready)

	// Shutdown order. The group stops components one at a time in the order
	// they are added, waiting for each before the next:
	//  1. signal: SIGINT/SIGTERM starts the shutdown; a second one exits at once.
	//  2. schema: the startup check (retrying while ClickHouse is
	//     unreachable); it holds nothing.
	//  3. aggregator: stop starting jobs and cancel the running aggregation
	//     queries (each window is recomputed idempotently on the next run).
	//  4. http: last, so in-flight API requests and /metrics finish while the
	//     engine stops; /readyz fails "shutdown" from step 1 on. API requests
	//     are bounded by their own deadline (api.DefaultTimeout).
	//  5. After the group: close the engine's and the API's ClickHouse
	//     connections (deferred, so after http stopped), then the schema one.
	// Steps 1-4 are bounded by shutdown.timeout; each step's duration is logged.
	base.Group.AddContext("aggregator", base.Gate.Then(agg.Run))
	base.Group.AddContext("http", base.Ops.Run)
	return base.Group.Run()
}

// openClickHouse opens a connection pool for the configured database; it
// does not dial yet.
func openClickHouse(c config.ClickHouse) (driver.Conn, error) {
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse open: %w", err)
	}
	return conn, nil
}

// closeTimed closes conn, logging how long it took.
func closeTimed(log *zap.Logger, what string, conn driver.Conn) {
	start := time.Now()
	if err := conn.Close(); err != nil {
		log.Warn("close "+what, zap.Error(err))
		return
	}
	log.Debug("closed "+what, zap.Duration("took", time.Since(start)))
}

// granularityNames names the configured window sizes as the aggregator
// writes them (1m, 1h, 1d): the values the API accepts.
func granularityNames(ds []time.Duration) []string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = api.GranularityName(d)
	}
	return names
}
