// Command loadgen simulates model servers: it publishes model, training-job,
// feature-importance and feature-baseline events, then prediction logs at a
// target rate and their outcomes after a label delay, with an A/B experiment
// and a planted feature drift. See internal/loadgen.
//
// Usage:
//
//	loadgen [--kafka.brokers 127.0.0.1:9092] [--rate 1000] [--duration 5m | --count N]
//	        [--models 3] [--features 20] [--seed 1] [--label-delay 10m]
//	        [--unlabeled-fraction 0.1] [--drift-after 30m] [--time-scale 60]
//
// Times given as --label-delay and --drift-after are simulated time; with
// --time-scale 60 one wall second is one simulated minute.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/daemon"
	"github.com/predlog/predlog/internal/loadgen"
	"github.com/predlog/predlog/internal/telemetry"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type options struct {
	brokers     string
	topics      loadgen.Topics
	gen         loadgen.Config
	run         loadgen.RunnerOptions
	features    int
	categorical int
	start       string
	logLevel    string
	progress    time.Duration
}

func parseFlags(args []string) (*options, error) {
	o := &options{topics: loadgen.DefaultTopics}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&o.brokers, "kafka.brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated host:port")
	fs.StringVar(&o.topics.Predictions, "kafka.topics.predictions", o.topics.Predictions, "topic of prediction logs")
	fs.StringVar(&o.topics.Outcomes, "kafka.topics.outcomes", o.topics.Outcomes, "topic of outcomes")
	fs.StringVar(&o.topics.Models, "kafka.topics.models", o.topics.Models, "topic of model metadata")
	fs.StringVar(&o.topics.TrainingJobs, "kafka.topics.training-jobs", o.topics.TrainingJobs, "topic of training jobs")
	fs.StringVar(&o.topics.FeatureImportance, "kafka.topics.feature-importance", o.topics.FeatureImportance, "topic of feature importance")
	fs.StringVar(&o.topics.FeatureBaselines, "kafka.topics.feature-baselines", o.topics.FeatureBaselines, "topic of feature baselines")

	fs.Float64Var(&o.run.Rate, "rate", 1000, "predictions per second (0: as fast as possible)")
	fs.Int64Var(&o.run.Count, "count", 0, "stop after this many predictions (0: no limit)")
	fs.DurationVar(&o.run.Duration, "duration", 0, "stop after this long (0: no limit; Ctrl-C stops too)")
	fs.Float64Var(&o.run.TimeScale, "time-scale", 1, "simulated seconds per wall second (60: a minute per second)")

	fs.Uint64Var(&o.gen.Seed, "seed", 1, "seed: the same seed, rate and flags give the same events")
	fs.IntVar(&o.gen.Models, "models", 3, "models to simulate (binary, multiclass, regression, binary, ...); the first runs an A/B experiment")
	fs.IntVar(&o.features, "features", 20, "features per prediction")
	fs.IntVar(&o.categorical, "categorical-features", -1, "how many of --features are categorical (-1: a fifth)")
	fs.Float64Var(&o.gen.NullRate, "null-rate", 0.01, "share of missing numeric feature values")
	fs.Float64Var(&o.gen.ErrorRate, "error-rate", 0.005, "share of predictions with status error")
	fs.DurationVar(&o.gen.LabelDelay, "label-delay", 10*time.Minute, "mean delay from prediction to outcome (simulated; each uniform in 0.5-1.5x)")
	fs.Float64Var(&o.gen.UnlabeledFraction, "unlabeled-fraction", 0.1, "share of predictions never labeled")
	fs.IntVar(&o.gen.MaxPending, "max-pending-outcomes", 1_000_000, "outcomes held while waiting for their delay; beyond, predictions stay unlabeled")
	fs.Float64Var(&o.gen.ExperimentSplit, "experiment-split", 0.5, "share of the experiment model's traffic on variant B")
	fs.DurationVar(&o.gen.DriftAfter, "drift-after", 0, "simulated time after the start at which one feature drifts (0: no drift)")
	fs.StringVar(&o.gen.DriftFeature, "drift-feature", "", "numeric feature that drifts (default the first, amount)")
	fs.Float64Var(&o.gen.DriftShift, "drift-shift", 1.5, "size of the drift in standard deviations of the feature's log")
	fs.StringVar(&o.start, "start", "", "simulated start time, RFC 3339 (default: so that the simulated clock ends at now)")

	fs.StringVar(&o.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&o.progress, "progress-interval", 10*time.Second, "interval of progress lines when the output is not a terminal")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.features < 1:
		return nil, fmt.Errorf("invalid --features=%d: must be > 0", o.features)
	case o.categorical > o.features:
		return nil, fmt.Errorf("invalid --categorical-features=%d: more than --features=%d", o.categorical, o.features)
	case o.run.Rate < 0:
		return nil, fmt.Errorf("invalid --rate=%v: must be >= 0", o.run.Rate)
	case o.run.TimeScale <= 0:
		return nil, fmt.Errorf("invalid --time-scale=%v: must be > 0", o.run.TimeScale)
	case o.gen.Models < 1:
		return nil, fmt.Errorf("invalid --models=%d: must be > 0", o.gen.Models)
	case o.brokers == "":
		return nil, errors.New("invalid --kafka.brokers: empty")
	}
	if o.categorical < 0 {
		o.categorical = o.features / 5
	}
	o.gen.NumericFeatures, o.gen.CategoricalFeatures = o.features-o.categorical, o.categorical
	if o.start != "" {
		t, err := time.Parse(time.RFC3339, o.start)
		if err != nil {
			return nil, fmt.Errorf("invalid --start: %w", err)
		}
		o.gen.Start = t
	}
	o.run.Topics = o.topics
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := telemetry.NewLogger(config.Log{Level: o.logLevel, Format: "auto"})
	if err != nil {
		return fmt.Errorf("invalid --log.level: %w", err)
	}
	defer func() { _ = log.Sync() }()

	o.gen.Start = loadgen.SimStart(time.Now(), o.gen.Start, o.run)
	gen, err := loadgen.New(o.gen)
	if err != nil {
		return err
	}
	w := loadgen.NewKafkaWriter(strings.Split(o.brokers, ","))
	defer w.Close()
	o.run.Write = w.WriteMessages
	o.run.Logger = telemetry.Component(log, "runner")
	runner, err := loadgen.NewRunner(gen, o.run)
	if err != nil {
		return err
	}
	log.Info("starting loadgen", zap.String("brokers", o.brokers), zap.Float64("rate", o.run.Rate),
		zap.Int64("count", o.run.Count), zap.Duration("duration", o.run.Duration), zap.Int("models", o.gen.Models),
		zap.Int("features", o.features), zap.Uint64("seed", o.gen.Seed), zap.Float64("time_scale", o.run.TimeScale),
		zap.Duration("label_delay", o.gen.LabelDelay), zap.Duration("drift_after", o.gen.DriftAfter))

	progress := &loadgen.Progress{Out: os.Stdout, Terminal: loadgen.IsTerminal(os.Stdout),
		Interval: o.progress, Snapshot: runner.Snapshot}

	// Stop order: the signal handler starts the shutdown; the runner stops
	// generating and waits for its in-flight writes; the progress display
	// goes last so its final line counts everything that was sent.
	g := daemon.New(log, 30*time.Second)
	g.AddSignalHandler()
	g.AddContext("runner", runner.Run)
	g.AddContext("progress", progress.Run)
	return g.Run()
}
