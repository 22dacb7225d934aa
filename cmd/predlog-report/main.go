// Command predlog-report prints every model's volume, quality, latency,
// drift and A/B verdicts, read from the aggregator's API and ClickHouse.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/predlog/predlog/internal/report"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "predlog-report:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var cfg report.Config
	fs := flag.NewFlagSet("predlog-report", flag.ContinueOnError)
	fs.StringVar(&cfg.API, "api", "http://127.0.0.1:9465", "aggregator base URL")
	fs.StringVar(&cfg.ClickHouse, "clickhouse", "http://127.0.0.1:8123", "ClickHouse HTTP URL")
	fs.StringVar(&cfg.Database, "database", "predlog", "ClickHouse database")
	fs.IntVar(&cfg.Days, "days", 1, "period of the report, in days")
	fs.StringVar(&cfg.Granularity, "granularity", "", "window size of the history and drift (one of the aggregator's granularities; default: the API's, 1h or finer for a model younger than that)")
	fs.StringVar(&cfg.SliceKey, "slice-key", "", "also name each model's worst values of this metadata key (one of the aggregator's slices.metadata_keys)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h asked for the usage, which Parse printed
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return report.Write(ctx, cfg, os.Stdout)
}
