// Command predlog-report prints every model's volume, quality, latency,
// drift and A/B verdicts, read from the aggregator's API and ClickHouse.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/predlog/predlog/internal/api"
	"github.com/predlog/predlog/internal/config"
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
	fs.StringVar(&cfg.ClickHouse, "clickhouse", "http://127.0.0.1:8123",
		"ClickHouse HTTP URL (user and password: env "+envUser+", and "+envPassword+" or "+envPasswordFile+", which keep them off the command line)")
	fs.StringVar(&cfg.Database, "database", "predlog", "ClickHouse database")
	fs.IntVar(&cfg.Days, "days", 1, fmt.Sprintf("period of the report, in days (1 to %d)", api.MaxDays))
	fs.StringVar(&cfg.Granularity, "granularity", "", "window size of the history and drift (one of the aggregator's granularities; default: the API's, 1h or finer for a model younger than that)")
	fs.StringVar(&cfg.SliceKey, "slice-key", "", "also name each model's worst values of this metadata key (one of the aggregator's slices.metadata_keys)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h asked for the usage, which Parse printed
		}
		return err
	}
	if fs.NArg() > 0 {
		// flag stops at the first argument that is no flag: the flags after
		// it (--days 7) would be ignored without a word.
		return fmt.Errorf("unexpected argument %q: the report covers every model and takes flags only (-h lists them)", fs.Arg(0))
	}
	var err error
	if cfg.User, cfg.Password, err = credentials(os.LookupEnv, cfg.ClickHouse); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return report.Write(ctx, cfg, os.Stdout)
}

// The daemons' variables for the ClickHouse user and password: the only
// other place for them is the --clickhouse URL, which every user of the
// machine can read in the process list.
var (
	envUser         = config.EnvName("clickhouse.user")
	envPassword     = config.EnvName("clickhouse.password")
	envPasswordFile = config.EnvName("clickhouse.password_file")
)

// credentials reads the ClickHouse user and password from the
// environment; the user defaults to "default" when only a password is set,
// as the daemons'. Credentials in chURL as well are refused: ClickHouse
// refuses a request that authenticates twice, with an error that names
// neither.
func credentials(lookupEnv func(string) (string, bool), chURL string) (user, password string, err error) {
	user, _ = lookupEnv(envUser)
	password, _ = lookupEnv(envPassword)
	if path, _ := lookupEnv(envPasswordFile); path != "" {
		if password != "" {
			return "", "", fmt.Errorf("%s and %s are both set; set only one", envPassword, envPasswordFile)
		}
		secret, err := config.ReadSecretFile(path)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", envPasswordFile, err)
		}
		password = string(secret)
	}
	if user == "" && password != "" {
		user = "default"
	}
	if u, perr := url.Parse(chURL); perr == nil && u.User != nil && user != "" {
		return "", "", fmt.Errorf("--clickhouse has a user and %s or %s sets one too: give the credentials once", envUser, envPassword)
	}
	return user, password, nil
}
