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

	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/dlq"
	"github.com/predlog/predlog/internal/ingest"
	"github.com/predlog/predlog/internal/kafkaclient"
	"github.com/predlog/predlog/internal/telemetry"
	"github.com/predlog/predlog/pkg/events"
)

// `ingester dlq replay`: the command line around dlq.Replay.

const dlqReplayUsage = `Usage: ingester dlq replay [--code c1,c2] [--source-topic t1,t2] [--dry-run] [--group predlog-dlq-replay] [config flags]

Produces the messages of the dead-letter topic (kafka.topics.dlq) back to
their source topic and partition, with their original key, value and
headers, so that the ingester ingests them again once the cause of their
rejection is fixed. It reads from the group's committed offsets (the
earliest when it has none) up to the end of each DLQ partition as it was at
start, commits the group's offsets once what it produced is acknowledged,
prints a summary per code and source topic, and exits. It is a member of
the group while it runs: a group with members is refused, and two runs
started together split the DLQ partitions.

Replaying a message twice ingests it twice: a second run with the same
--group continues where the first stopped. The group's offsets pass every
message read, filtered out or not: replay other codes later with another
--group. Messages whose value was dropped from the DLQ (too large) cannot
be replayed; they are counted and logged with their source offset. The
config flags are the daemon's (ingester -h): Kafka brokers, TLS and SASL.

  --code list           error codes to replay, comma-separated (default: all; docs/events.md lists them)
  --source-topic list   source topics to replay, comma-separated (default: all; topics of kafka.topics)
  --dry-run             produce and commit nothing; list what would be replayed
  --group id            consumer group of the replay's offsets (default predlog-dlq-replay)

`

// runDLQ is `ingester dlq ...`.
func runDLQ(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "replay" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(stderr, dlqReplayUsage)
			return nil
		}
		return errors.New("dlq: want `ingester dlq replay [flags]` (ingester dlq replay -h)")
	}
	opts, rest, err := parseReplayFlags(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, dlqReplayUsage)
		_, _ = config.LoadIngester([]string{"-h"}, os.LookupEnv, stderr)
		return nil
	}
	if err != nil {
		return fmt.Errorf("dlq replay: %w", err)
	}
	cfg, err := config.LoadIngester(rest, os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	log, err := telemetry.NewLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	log = log.With(zap.String("daemon", "ingester"), zap.String("command", "dlq replay"))

	dialer, err := kafkaclient.Dialer(cfg.Kafka)
	if err != nil {
		return fmt.Errorf("dlq replay: %w", err)
	}
	transport, err := kafkaclient.Transport(cfg.Kafka)
	if err != nil {
		return fmt.Errorf("dlq replay: %w", err)
	}
	defer transport.CloseIdleConnections()
	// A misspelt code or topic would select nothing, and the run would
	// commit the group past every message it read.
	if err := checkSelection(opts, cfg.Kafka.Topics.Inputs()); err != nil {
		return fmt.Errorf("dlq replay: %w", err)
	}
	opts.Topic = cfg.Kafka.Topics.DLQ
	opts.Brokers = cfg.Kafka.Brokers
	opts.Dialer, opts.Transport = dialer, transport
	opts.MaxMessageBytes = int(max(cfg.Kafka.MaxMessageBytes, cfg.Kafka.DLQMaxMessageBytes))
	opts.Out = stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := dlq.Replay(ctx, opts, log)
	if err != nil && sum.Partitions == 0 {
		return err // failed before reading anything: no table of zeros
	}
	if perr := sum.Print(stdout); err == nil && perr != nil {
		err = fmt.Errorf("dlq replay: print summary: %w", perr)
	}
	return err
}

// replayCodes are the codes the ingester writes into the DLQ.
func replayCodes() []string {
	codes := []string{ingest.CodeClickHouseRejected, dlq.CodeUnknown}
	for _, c := range events.Codes {
		codes = append(codes, string(c))
	}
	slices.Sort(codes)
	return codes
}

// checkSelection refuses a --code the ingester never writes and a
// --source-topic the config does not consume.
func checkSelection(opts dlq.ReplayConfig, topics []string) error {
	codes := replayCodes()
	for _, c := range opts.Codes {
		if !slices.Contains(codes, c) {
			return fmt.Errorf("invalid --code %q: not a code the ingester writes (%s)", c, strings.Join(codes, ", "))
		}
	}
	for _, t := range opts.SourceTopics {
		if !slices.Contains(topics, t) {
			return fmt.Errorf("invalid --source-topic %q: not a topic the config consumes (kafka.topics: %s)", t, strings.Join(topics, ", "))
		}
	}
	return nil
}

// parseReplayFlags takes the replay's own flags (--name v, --name=v, -name
// v; --dry-run alone) out of args, leaving the config flags in rest.
func parseReplayFlags(args []string) (opts dlq.ReplayConfig, rest []string, err error) {
	opts.Group = dlq.DefaultReplayGroup
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if !strings.HasPrefix(a, "-") { // a config flag's value
			rest = append(rest, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "h", "help":
			return opts, nil, flag.ErrHelp
		case "code", "source-topic", "group", "dry-run":
		default:
			rest = append(rest, a)
			continue
		}
		if seen[name] {
			return opts, nil, fmt.Errorf("--%s given more than once", name)
		}
		seen[name] = true
		if name == "dry-run" {
			if !hasVal {
				val = "true"
			}
			if opts.DryRun, err = strconv.ParseBool(val); err != nil {
				return opts, nil, fmt.Errorf("invalid --dry-run=%q: want true or false", val)
			}
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return opts, nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			val = args[i]
		}
		switch name {
		case "code":
			opts.Codes, err = dlq.ParseList(val)
		case "source-topic":
			opts.SourceTopics, err = dlq.ParseList(val)
		case "group":
			opts.Group = strings.TrimSpace(val)
			if opts.Group == "" {
				err = errors.New("empty group")
			}
		}
		if err != nil {
			return opts, nil, fmt.Errorf("invalid --%s=%q: %w", name, val, err)
		}
	}
	return opts, rest, nil
}
