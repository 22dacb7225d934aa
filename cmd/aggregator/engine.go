package main

import (
	"context"
	"errors"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/config"
)

// aggregator is the aggregation engine as the daemon uses it; the announced
// API of internal/aggregate's *Aggregator.
type aggregator interface {
	// Run schedules the aggregation jobs until ctx is done.
	Run(ctx context.Context) error
	// Backfill computes every window in [from, to) once, then returns.
	Backfill(ctx context.Context, from, to time.Time) error
	// Ready is a readiness check (ClickHouse reachable, jobs not failing).
	Ready(ctx context.Context) error
}

// errNoEngine is what the placeholder's Backfill returns.
var errNoEngine = errors.New("the aggregation engine (internal/aggregate) is not wired in yet")

// newAggregator builds the aggregation engine on conn. reg may be nil (no
// metrics, for one-shot commands).
//
// TODO(lead): internal/aggregate had not landed when this was written.
// Once it compiles, replace the body with
//
//	agg, err := aggregate.New(aggregate.FromConfig(*cfg), conn, log, reg)
//	if err != nil {
//		return nil, fmt.Errorf("aggregator: %w", err)
//	}
//	return agg, nil
//
// (adjusting FromConfig's argument to its final signature), delete
// placeholderAggregator and errNoEngine, and drop the "not wired" case in
// main_test.go's TestBackfillArgs.
func newAggregator(cfg *config.AggregatorConfig, conn driver.Conn, log *zap.Logger, reg prometheus.Registerer) (aggregator, error) {
	return placeholderAggregator{log: log}, nil
}

// placeholderAggregator computes nothing; see newAggregator.
type placeholderAggregator struct{ log *zap.Logger }

func (p placeholderAggregator) Run(ctx context.Context) error {
	p.log.Warn("the aggregation engine is not wired in yet; computing nothing until interrupted")
	<-ctx.Done()
	return ctx.Err()
}

func (placeholderAggregator) Backfill(context.Context, time.Time, time.Time) error {
	return errNoEngine
}

func (placeholderAggregator) Ready(context.Context) error { return nil }
