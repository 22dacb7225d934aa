// Command devstack serves a Kafka broker and the ClickHouse HTTP interface
// on loopback for development, the demo and CI. See internal/devstack.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/predlog/predlog/internal/devstack"
	"github.com/predlog/predlog/internal/devstack/kafkabroker"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

type options struct {
	stack     devstack.Config
	topics    string
	readyFile string
	logLevel  string
	timeout   time.Duration
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.StringVar(&o.stack.Kafka.Addr, "kafka.addr", kafkabroker.DefaultAddr, "Kafka listen address (port 0 picks a free one)")
	fs.StringVar(&o.topics, "kafka.topics", "predlog.predictions:8,predlog.outcomes:4,predlog.models:1,predlog.training-jobs:1,predlog.feature-importance:1,predlog.feature-baselines:1,predlog.dlq:4",
		"topics to create at start, name:partitions,...")
	fs.IntVar(&o.stack.Kafka.DefaultPartitions, "kafka.default-partitions", 1, "partitions of auto-created topics")
	fs.StringVar(&o.stack.ClickHouse.Addr, "clickhouse.addr", "127.0.0.1:8123", "ClickHouse HTTP listen address (port 0 picks a free one)")
	fs.Int64Var(&o.stack.ClickHouse.MaxBodyBytes, "clickhouse.max-body-bytes", 2<<30, "largest request body accepted, after decompression")
	fs.Int64Var(&o.stack.ClickHouse.MaxQueryBytes, "clickhouse.max-query-bytes", 64<<20, "largest query text accepted (everything but INSERT data)")
	fs.IntVar(&o.stack.ClickHouse.Sessions, "clickhouse.sessions", 4, "engine sessions, i.e. statements run at once")
	fs.StringVar(&o.stack.DataDir, "data-dir", ".devstack/clickhouse", "engine data directory (kept across restarts)")
	fs.StringVar(&o.stack.LibPath, "libchdb", "", "path of libchdb.so (default $PREDLOG_LIBCHDB or the fetched copy in the cache)")
	fs.StringVar(&o.readyFile, "ready-file", "", "write the addresses as JSON to this file once ready")
	fs.StringVar(&o.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&o.timeout, "shutdown-timeout", 30*time.Second, "how long running statements may take to finish on shutdown")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	t, err := kafkabroker.ParseTopics(o.topics)
	if err != nil {
		return nil, fmt.Errorf("invalid --kafka.topics: %w", err)
	}
	o.stack.Kafka.Topics = t
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h asked for the usage, which Parse printed
	}
	if err != nil {
		return err
	}
	level, err := zapcore.ParseLevel(o.logLevel)
	if err != nil {
		return fmt.Errorf("invalid --log.level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(level)
	cfg.Encoding = "console"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	log, err := cfg.Build()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	// Signals are caught before the engine boots so that an early Ctrl-C
	// still goes through the orderly shutdown below.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	st, err := devstack.Start(o.stack, log.Named("devstack"))
	if err != nil {
		return err
	}
	r := st.Ready()
	if o.readyFile != "" {
		if err := st.WriteReadyFile(o.readyFile); err != nil {
			_ = st.Close(context.Background())
			return err
		}
	}
	fmt.Printf("devstack ready: kafka=%s clickhouse=%s (engine %s, pid %d)\n", r.Kafka, r.ClickHouse, r.Engine, r.PID)

	var runErr error
	select {
	case s := <-sigs:
		log.Info("shutting down", zap.String("signal", s.String()))
	case runErr = <-st.Served():
		log.Error("clickhouse http server failed", zap.Error(runErr))
	}
	// A second signal abandons the orderly shutdown.
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "devstack: second signal, exiting now")
		os.Exit(1)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := st.Close(ctx); err != nil {
		return err
	}
	if o.readyFile != "" {
		_ = os.Remove(o.readyFile)
	}
	return runErr
}
