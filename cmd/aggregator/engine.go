package main

import (
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/aggregate"
	"github.com/predlog/predlog/internal/config"
)

// newAggregator builds the aggregation engine on conn. reg may be nil (no
// metrics, for one-shot commands).
func newAggregator(cfg *config.AggregatorConfig, conn driver.Conn, log *zap.Logger, reg prometheus.Registerer) (*aggregate.Aggregator, error) {
	agg, err := aggregate.New(aggregate.FromConfig(*cfg), conn, log, reg)
	if err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	return agg, nil
}
