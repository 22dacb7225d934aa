// Command benchingest is the benchmark harness behind `make bench`: Go
// micro-benchmarks, ingest throughput with one and two ingester instances,
// end-to-end freshness at fixed produce rates, and (once it exists) the
// aggregator. It builds the binaries, runs its own devstack on free ports
// with a throwaway data directory, writes benchmarks/results/<timestamp>.json
// and refreshes the results table in benchmarks/README.md.
//
// Usage:
//
//	go run ./benchmarks/cmd/benchingest [--rows 1000000] [--seed 1] [--steps micro,ingest,freshness,aggregator]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchingest:", err)
		os.Exit(1)
	}
}

type options struct {
	rows         int
	seed         uint64
	steps        []string
	freshRates   []int
	freshFor     time.Duration
	freshSamples int
	pollEvery    time.Duration
	outDir       string
	readme       string
	libchdb      string
	keep         bool
	timeout      time.Duration
}

var allSteps = []string{"micro", "ingest", "freshness", "aggregator"}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("benchingest", flag.ContinueOnError)
	fs.IntVar(&o.rows, "rows", 1_000_000, "prediction logs pre-produced for the throughput runs")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated events")
	steps := fs.String("steps", strings.Join(allSteps, ","), "steps to run, comma-separated: "+strings.Join(allSteps, ", "))
	rates := fs.String("freshness.rates", "10000,50000", "produce rates (messages/s) of the freshness runs, comma-separated")
	fs.DurationVar(&o.freshFor, "freshness.duration", 20*time.Second, "how long each freshness run produces")
	fs.IntVar(&o.freshSamples, "freshness.samples-per-sec", 20, "messages per second whose visibility in ClickHouse is polled")
	fs.DurationVar(&o.pollEvery, "freshness.poll-interval", 100*time.Millisecond, "how often ClickHouse is polled for the sampled request ids")
	fs.StringVar(&o.outDir, "out", "benchmarks/results", "directory of the result files")
	fs.StringVar(&o.readme, "readme", "benchmarks/README.md", "README whose results table is refreshed (empty: none)")
	fs.StringVar(&o.libchdb, "libchdb", os.Getenv("PREDLOG_LIBCHDB"), "path of libchdb.so (default $PREDLOG_LIBCHDB, else the devstack's default)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (binaries, logs, devstack data)")
	fs.DurationVar(&o.timeout, "timeout", 14*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.rows <= 0 {
		return nil, fmt.Errorf("invalid --rows=%d: must be > 0", o.rows)
	}
	for s := range strings.SplitSeq(*steps, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allSteps, s) {
			return nil, fmt.Errorf("invalid --steps: unknown step %q (want %s)", s, strings.Join(allSteps, ", "))
		}
		o.steps = append(o.steps, s)
	}
	for s := range strings.SplitSeq(*rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("invalid --freshness.rates: %q is not a positive integer", s)
		}
		o.freshRates = append(o.freshRates, r)
	}
	if o.freshSamples <= 0 || o.pollEvery <= 0 || o.freshFor <= 0 {
		return nil, errors.New("invalid --freshness.*: durations and samples must be > 0")
	}
	return o, nil
}

func (o *options) has(step string) bool { return slices.Contains(o.steps, step) }

func run() error {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	root, err := repoRoot()
	if err != nil {
		return err
	}
	start := time.Now()
	res := &Result{
		Started: start.UTC().Format(time.RFC3339),
		Seed:    o.seed,
		Machine: machineInfo(),
		Go:      goVersion(ctx),
		Commit:  gitCommit(ctx, root),
		Note:    "shared 2-core development machine: other engineers' builds and tests ran at the same time",
	}
	logf("machine: %s, %d cores, %.1f GiB; %s; commit %s; load average at start %s",
		res.Machine.CPU, res.Machine.Cores, res.Machine.MemGiB, res.Go, res.Commit, res.Machine.LoadAvg)

	if o.has("micro") {
		logf("step 1/4: Go micro-benchmarks (pkg/events, internal/chwriter)")
		res.Micro, err = runMicro(ctx, root)
		if err != nil {
			return fmt.Errorf("micro-benchmarks: %w", err)
		}
	}

	if o.has("ingest") || o.has("freshness") {
		env, err := newEnv(ctx, root, o)
		if err != nil {
			return err
		}
		defer env.close()
		if o.has("ingest") {
			logf("step 2/4: ingest throughput, %d prediction logs", o.rows)
			res.Ingest, err = runIngest(ctx, env, o, stampOf(start))
			if err != nil {
				return fmt.Errorf("ingest throughput: %w", err)
			}
			if p := res.Ingest.ProfileTop; p != "" {
				fmt.Println(p)
			}
		}
		if o.has("freshness") {
			logf("step 3/4: freshness at %v messages/s, %s each", o.freshRates, o.freshFor)
			res.Freshness, err = runFreshness(ctx, env, o)
			if err != nil {
				return fmt.Errorf("freshness: %w", err)
			}
		}
	}

	if o.has("aggregator") {
		logf("step 4/4: aggregator, one cycle over 10M prediction rows (BenchmarkHour; generating the rows takes a minute), then a steady-state cycle with a week of history (BenchmarkHistory)")
		res.Aggregator, err = runAggregator(ctx, root)
		if err != nil {
			return fmt.Errorf("aggregator benchmark: %w", err)
		}
	}

	res.Seconds = time.Since(start).Seconds()
	path, err := res.write(inRoot(root, o.outDir), start)
	if err != nil {
		return err
	}
	logf("wrote %s", path)
	if o.readme != "" {
		if err := refreshReadme(inRoot(root, o.readme), inRoot(root, o.outDir)); err != nil {
			return err
		}
		logf("refreshed the results table in %s", o.readme)
	}
	fmt.Print(res.Summary())
	logf("done in %s", time.Since(start).Round(time.Second))
	return nil
}

// inRoot resolves a path flag: relative to the repository root, absolute as
// given.
func inRoot(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
