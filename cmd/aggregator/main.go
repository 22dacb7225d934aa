// Command aggregator rolls the ingested prediction logs up into windowed
// model-quality metrics with ClickHouse SQL and serves them over a JSON API.
//
// Usage:
//
//	aggregator [--config aggregator.yaml] [--schedule.interval=30s ...]
//	aggregator backfill --from 2026-05-01T00:00:00Z --to 2026-05-08T00:00:00Z [--config aggregator.yaml ...]
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
// `aggregator migrate` is `ingester migrate` (see cmd/ingester) with the
// aggregator's config. At start the aggregator checks the schema and exits
// if migrations are pending; while ClickHouse is unreachable it retries and
// runs no jobs, and the API answers 503.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/api"
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
	if ok, err := daemon.RunSchemaCommand("aggregator", args, os.LookupEnv, os.Stdout, func(rest []string) (config.ClickHouse, error) {
		cfg, err := config.LoadAggregator(rest, os.LookupEnv, os.Stderr)
		if err != nil {
			return config.ClickHouse{}, err
		}
		return cfg.ClickHouse, nil
	}); ok {
		return err
	}
	if len(args) > 0 && args[0] == "backfill" {
		return runBackfill(args[1:])
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

const backfillUsage = `Usage: aggregator backfill --from RFC3339 --to RFC3339 [config flags]

Computes every closed window that overlaps [--from, --to) once, for every
configured granularity, then exits. Windows already computed are
recomputed, and a coarser window reaching beyond the range is recomputed
whole (all of its base windows). Windows not closed yet (allowed lateness
after their end) are left to the running aggregator. The config flags are
the daemon's (aggregator -h).

  --from time   start, inclusive, RFC3339 (2026-05-01T00:00:00Z)
  --to time     end, exclusive, RFC3339

`

// runBackfill is `aggregator backfill`.
func runBackfill(args []string) error {
	from, to, rest, err := backfillRange(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(os.Stderr, backfillUsage)
		_, _ = config.LoadAggregator([]string{"-h"}, os.LookupEnv, os.Stderr)
		return nil
	}
	if err != nil {
		return fmt.Errorf("aggregator backfill: %w", err)
	}
	cfg, err := config.LoadAggregator(rest, os.LookupEnv, os.Stderr)
	if err != nil {
		return err
	}

	log, err := telemetry.NewLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	log = log.With(zap.String("daemon", "aggregator"), zap.String("command", "backfill"))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Refuse to write into an outdated schema, naming the migrate command.
	sch := daemon.Schema{Daemon: "aggregator", ClickHouse: cfg.ClickHouse, ConfigPath: daemon.ConfigPath(rest, os.LookupEnv)}
	schemaConn, err := sch.Open()
	if err != nil {
		return err
	}
	defer schemaConn.Close()
	if err := schema.New(schemaConn, sch.Options(), telemetry.Component(log, "schema")).Check(ctx); err != nil {
		return fmt.Errorf("aggregator backfill: %w", err)
	}

	conn, err := openClickHouse(cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer closeTimed(log, "clickhouse connection", conn)
	agg, err := newAggregator(cfg, conn, telemetry.Component(log, "aggregator"), nil)
	if err != nil {
		return err
	}
	start := time.Now()
	log.Info("backfill starting", zap.Time("from", from), zap.Time("to", to))
	rep, err := agg.Backfill(ctx, from, to)
	if err != nil {
		return fmt.Errorf("aggregator backfill: %w", err)
	}
	log.Info("backfill done", zap.Duration("took", time.Since(start)), zap.Any("windows", rep.Windows),
		zap.Int("empty_windows", rep.Empty), zap.Any("drift_version_windows", rep.DriftPairs))
	computed := 0
	for _, n := range rep.Windows {
		computed += n
	}
	switch {
	case computed == 0 && rep.NotClosed > 0 && rep.Empty == 0:
		log.Warn("backfill computed nothing: no window of the range has closed yet (end + windows.allowed_lateness); the schedule computes them as they close",
			zap.Int("not_closed", rep.NotClosed))
	case computed == 0 && rep.NotClosed > 0:
		log.Warn("backfill computed nothing: no closed window of the range holds predictions, and the rest has not closed yet (the schedule computes it)",
			zap.Int("empty_windows", rep.Empty), zap.Int("not_closed", rep.NotClosed))
	case computed == 0:
		log.Warn("backfill computed nothing: the range holds no predictions (check --from and --to, and the database)",
			zap.Int("empty_windows", rep.Empty))
	case rep.NotClosed > 0:
		log.Info("base windows of the range that have not closed yet are left to the schedule", zap.Int("not_closed", rep.NotClosed))
	}
	return nil
}

// backfillRange takes --from and --to (also -from, --from=...) out of args
// and returns the remaining config flags.
func backfillRange(args []string) (from, to time.Time, rest []string, err error) {
	vals := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case !strings.HasPrefix(a, "-"):
			rest = append(rest, a)
			continue
		case name == "h" || name == "help":
			return from, to, nil, flag.ErrHelp
		case name != "from" && name != "to":
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return from, to, nil, fmt.Errorf("--%s needs a value (RFC3339, e.g. 2026-05-01T00:00:00Z)", name)
			}
			i++
			val = args[i]
		}
		if _, dup := vals[name]; dup {
			return from, to, nil, fmt.Errorf("--%s given more than once", name)
		}
		vals[name] = val
	}
	parse := func(name string) (time.Time, error) {
		v, ok := vals[name]
		if !ok {
			return time.Time{}, fmt.Errorf("missing --%s (RFC3339, e.g. 2026-05-01T00:00:00Z)", name)
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid --%s=%q: want RFC3339, e.g. 2026-05-01T00:00:00Z", name, v)
		}
		return t.UTC(), nil
	}
	if from, err = parse("from"); err != nil {
		return from, to, nil, err
	}
	if to, err = parse("to"); err != nil {
		return from, to, nil, err
	}
	if !from.Before(to) {
		return from, to, nil, fmt.Errorf("--from=%s must be before --to=%s", vals["from"], vals["to"])
	}
	return from, to, rest, nil
}
