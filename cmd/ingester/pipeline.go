package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/backoff"
	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/dlq"
	"github.com/predlog/predlog/internal/ingest"
	"github.com/predlog/predlog/internal/kafkaclient"
)

// pipeline is the ingest pipeline with the clients it owns.
type pipeline struct {
	*ingest.Pipeline
	sink chwriter.Sink
	conn driver.Conn
	dlq  *dlq.Writer
}

// newPipeline builds the pipeline's clients from cfg. Nothing connects yet.
func newPipeline(cfg *config.IngesterConfig, log *zap.Logger, reg prometheus.Registerer) (*pipeline, error) {
	opts, err := cfg.ClickHouse.Options()
	if err != nil {
		return nil, err
	}
	if cfg.ClickHouse.Cluster != "" {
		// Distributed tables: an insert returns once every shard has its
		// part (the ledger must be readable by the next owner at once, and
		// a retry must meet the same per-shard blocks to be deduplicated).
		opts = cloneWithSetting(opts, "distributed_foreground_insert", 1)
	}
	sink, err := chwriter.NewSink(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	dialer, err := kafkaclient.Dialer(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	transport, err := kafkaclient.Transport(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	dw, err := dlq.New(dlq.Config{Topic: cfg.Kafka.Topics.DLQ, MaxMessageBytes: int64(cfg.Kafka.DLQMaxMessageBytes)}, cfg.Kafka.Brokers, transport, log.Named("dlq"), reg)
	if err != nil {
		return nil, err
	}
	t := cfg.Kafka.Topics
	topics := map[string]ingest.Kind{
		t.Predictions:       ingest.KindPredictions,
		t.Outcomes:          ingest.KindOutcomes,
		t.Models:            ingest.KindModels,
		t.TrainingJobs:      ingest.KindTrainingJobs,
		t.FeatureImportance: ingest.KindFeatureImportance,
		t.FeatureBaselines:  ingest.KindFeatureBaselines,
	}
	if len(topics) != 6 {
		return nil, errors.New("invalid kafka.topics: every input topic needs its own name")
	}
	host, _ := os.Hostname()
	p, err := ingest.New(ingest.Config{
		GroupID:     cfg.Kafka.GroupID,
		Brokers:     cfg.Kafka.Brokers,
		Dialer:      dialer,
		Transport:   transport,
		Topics:      topics,
		MaxRows:     cfg.Batch.MaxRows,
		MaxBytes:    int64(cfg.Batch.MaxBytes),
		MaxAge:      cfg.Batch.MaxAge,
		MaxBuffered: int64(cfg.Batch.MaxBufferedBytes),
		MaxMessage:  int(cfg.Kafka.MaxMessageBytes),
		// Process-wide (kafka-go's codec table): the largest any pipeline
		// of the process asked for.
		MaxDecompressed: int64(cfg.Kafka.MaxDecompressedBatchBytes),
		Retry:           backoff.FromConfig(cfg.Retry),
		DrainTimeout:    cfg.Shutdown.Timeout * 4 / 5, // leave time to leave the group
		Instance:        host + "/" + strconv.Itoa(os.Getpid()),

		SessionTimeout:    cfg.Kafka.SessionTimeout,
		HeartbeatInterval: max(cfg.Kafka.SessionTimeout/10, 500*time.Millisecond),
	}, sink, conn, dw, log, reg)
	if err != nil {
		return nil, err
	}
	return &pipeline{Pipeline: p, sink: sink, conn: conn, dlq: dw}, nil
}

// Run runs the pipeline; Kafka clients close when it returns, ClickHouse
// ones in close.
func (p *pipeline) Run(ctx context.Context) error {
	defer p.dlq.Close()
	return p.Pipeline.Run(ctx)
}

func (p *pipeline) close() {
	_ = p.conn.Close()
	if c, ok := p.sink.(interface{ Close() }); ok {
		c.Close()
	}
}

// cloneWithSetting returns opts with one more setting, leaving opts alone.
func cloneWithSetting(opts *clickhouse.Options, key string, value any) *clickhouse.Options {
	o := *opts
	o.Settings = maps.Clone(opts.Settings)
	if o.Settings == nil {
		o.Settings = clickhouse.Settings{}
	}
	o.Settings[key] = value
	return &o
}
