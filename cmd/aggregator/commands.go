package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/aggregate"
	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/daemon"
	"github.com/predlog/predlog/internal/schema"
	"github.com/predlog/predlog/internal/telemetry"
)

// The one-shot commands: backfill and baseline.

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

// oneShot is what a one-shot command runs on: the config from rest, a
// logger, a context cancelled by SIGINT/SIGTERM, and an aggregator on a
// schema that is up to date. close releases them in reverse: the
// connection first, the log last.
type oneShot struct {
	ctx   context.Context
	cfg   *config.AggregatorConfig
	log   *zap.Logger
	agg   *aggregate.Aggregator
	close func()
}

func newOneShot(command string, rest []string) (*oneShot, error) {
	cfg, err := config.LoadAggregator(rest, os.LookupEnv, os.Stderr)
	if err != nil {
		return nil, err
	}
	log, err := telemetry.NewLogger(cfg.Log)
	if err != nil {
		return nil, err
	}
	log = log.With(zap.String("daemon", "aggregator"), zap.String("command", command))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var closers []func()
	s := &oneShot{ctx: ctx, cfg: cfg, log: log, close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
	closers = append(closers, func() { _ = log.Sync() }, stop)
	fail := func(err error) (*oneShot, error) {
		s.close()
		return nil, err
	}

	// Refuse to write into an outdated schema, naming the migrate command.
	sch := daemon.Schema{Daemon: "aggregator", ClickHouse: cfg.ClickHouse, ConfigPath: daemon.ConfigPath(rest, os.LookupEnv)}
	schemaConn, err := sch.Open()
	if err != nil {
		return fail(err)
	}
	err = schema.New(schemaConn, sch.Options(), telemetry.Component(log, "schema")).Check(ctx)
	_ = schemaConn.Close()
	if err != nil {
		return fail(fmt.Errorf("aggregator %s: %w", command, err))
	}

	conn, err := openClickHouse(cfg.ClickHouse)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { closeTimed(log, "clickhouse connection", conn) })
	if s.agg, err = newAggregator(cfg, conn, telemetry.Component(log, "aggregator"), nil); err != nil {
		return fail(err)
	}
	return s, nil
}

// runBackfill is `aggregator backfill`.
func runBackfill(args []string) error {
	vals, rest, err := commandFlags(args, "from", "to")
	if errors.Is(err, flag.ErrHelp) {
		printUsage(backfillUsage)
		return nil
	}
	var from, to time.Time
	if err == nil {
		from, to, err = parseRange(vals)
	}
	if err != nil {
		return fmt.Errorf("aggregator backfill: %w", err)
	}
	s, err := newOneShot("backfill", rest)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, log, agg := s.ctx, s.log, s.agg
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

const baselineUsage = `Usage: aggregator baseline --model ID --version V --from RFC3339 --to RFC3339 [config flags]

Freezes how one model version's features, score and predicted label were
distributed over the production window [--from, --to) as that version's
baseline (source reference_window in feature_baselines), and prints it.
Drift is measured against a version's baseline from then on: the running
aggregator's next cycle recomputes the version's windows inside the label
horizon against it (final windows keep their reference). Numeric values get
the deciles of the window as bin edges; categorical ones the 100 most
frequent values with their exact shares (beyond 1,000 distinct values,
found with bounded memory by topK: approximate below a share of about
0.1%). A feature sent both as a number and as a string keeps one of its
two rows. The config flags are the daemon's (aggregator -h).

A window with fewer ok predictions of the version than --min-samples is
refused, and so is a version whose baseline came with its training unless
--replace is given (its windows are then measured against production).

  --model id         model_id
  --version v        model_version
  --from time        window start, inclusive, RFC3339 (2026-05-01T00:00:00Z)
  --to time          window end, exclusive, RFC3339
  --min-samples n    fewest ok predictions to freeze (default: drift.min_samples)
  --replace          replace the version's training baseline

`

// runBaseline is `aggregator baseline`.
func runBaseline(args []string) error {
	vals, rest, err := commandFlags(args, "model", "version", "from", "to", "min-samples", "replace")
	if errors.Is(err, flag.ErrHelp) {
		printUsage(baselineUsage)
		return nil
	}
	var from, to time.Time
	if err == nil {
		for _, name := range []string{"model", "version"} {
			if vals[name] == "" && err == nil {
				err = fmt.Errorf("missing --%s", name)
			}
		}
	}
	if err == nil {
		from, to, err = parseRange(vals)
	}
	var opts aggregate.FreezeOptions
	minSamples, minGiven := vals["min-samples"]
	if err == nil && minGiven {
		if opts.MinPredictions, err = strconv.ParseUint(minSamples, 10, 64); err != nil || opts.MinPredictions == 0 {
			err = fmt.Errorf("invalid --min-samples=%q: want a whole number of at least 1", minSamples)
		}
	}
	if v, ok := vals["replace"]; err == nil && ok {
		if opts.Replace, err = strconv.ParseBool(v); err != nil {
			err = fmt.Errorf("invalid --replace=%q: want true or false", v)
		}
	}
	if err != nil {
		return fmt.Errorf("aggregator baseline: %w", err)
	}
	s, err := newOneShot("baseline", rest)
	if err != nil {
		return err
	}
	defer s.close()
	if !minGiven {
		opts.MinPredictions = uint64(max(s.cfg.Drift.MinSamples, 1))
	}
	b, err := s.agg.FreezeBaseline(s.ctx, vals["model"], vals["version"], from, to, opts)
	switch {
	case errors.Is(err, aggregate.ErrTooFewPredictions):
		return fmt.Errorf("aggregator baseline: %w (drift.min_samples; --min-samples lowers it for this freeze)", err)
	case errors.Is(err, aggregate.ErrTrainingBaseline):
		return fmt.Errorf("aggregator baseline: %w: its drift is measured against it; --replace measures it against this window instead", err)
	}
	if err != nil {
		return fmt.Errorf("aggregator baseline: %w", err)
	}
	s.log.Info("baseline frozen", zap.String("model_id", b.ModelID), zap.String("model_version", b.ModelVersion),
		zap.Time("from", b.From), zap.Time("to", b.To), zap.Uint64("predictions", b.Predictions), zap.Int("features", len(b.Features)))
	return printBaseline(os.Stdout, b)
}

// printBaseline writes what FreezeBaseline wrote as a table.
func printBaseline(w io.Writer, b aggregate.Baseline) error {
	fmt.Fprintf(w, "Baseline of %s %s from %d ok predictions in [%s, %s), computed_at %s:\n\n",
		b.ModelID, b.ModelVersion, b.Predictions, b.From.Format(time.RFC3339), b.To.Format(time.RFC3339),
		b.ComputedAt.Format("2006-01-02T15:04:05.000Z07:00"))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tTYPE\tNULL RATE\tBINS / VALUES\tOTHER")
	for _, f := range b.Features {
		n, other := f.Bins, "-"
		if f.Type == "categorical" {
			n, other = f.Categories, fmt.Sprintf("%.4f", f.Other)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%d\t%s\n", f.Feature, f.Type, f.NullRate, n, other)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nThe aggregator's next cycle recomputes the version's windows inside the label horizon against it.\n")
	return err
}

// printUsage writes a one-shot command's usage, then the config flags it
// shares with the daemon.
func printUsage(usage string) {
	fmt.Fprint(os.Stderr, usage)
	_, _ = config.LoadAggregator([]string{"-h"}, os.LookupEnv, os.Stderr)
}

// switchFlags are the commands' flags that take no value (--replace is
// --replace=true).
var switchFlags = map[string]bool{"replace": true}

// commandFlags takes the named flags (--name v, --name=v, -name v) out of
// args and returns their values and the remaining (config) flags.
func commandFlags(args []string, names ...string) (vals map[string]string, rest []string, err error) {
	vals = map[string]string{}
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
			return nil, nil, flag.ErrHelp
		case !slices.Contains(names, name):
			rest = append(rest, a)
			continue
		}
		switch {
		case !hasVal && switchFlags[name]:
			val = "true"
		case !hasVal:
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			val = args[i]
		}
		if _, dup := vals[name]; dup {
			return nil, nil, fmt.Errorf("--%s given more than once", name)
		}
		vals[name] = val
	}
	return vals, rest, nil
}

// parseRange reads --from and --to out of what commandFlags took.
func parseRange(vals map[string]string) (from, to time.Time, err error) {
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
		return from, to, err
	}
	if to, err = parse("to"); err != nil {
		return from, to, err
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("--from=%s must be before --to=%s", vals["from"], vals["to"])
	}
	return from, to, nil
}
