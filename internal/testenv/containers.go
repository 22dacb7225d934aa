package testenv

import (
	"context"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcclickhouse "github.com/testcontainers/testcontainers-go/modules/clickhouse"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
)

// Images of the real services, kept in step with docker-compose.yml.
const (
	kafkaImage      = "confluentinc/confluent-local:7.5.0"
	clickhouseImage = "clickhouse/clickhouse-server:25.8"
)

// startContainers runs real Kafka and ClickHouse containers.
func startContainers() (st *Stack, err error) {
	defer func() {
		if r := recover(); r != nil { // testcontainers panics when no Docker engine is found
			st, err = nil, fmt.Errorf("PREDLOG_TEST_STACK=containers needs a Docker engine: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := testcontainers.NewDockerClientWithOpts(ctx); err != nil {
		return nil, fmt.Errorf("PREDLOG_TEST_STACK=containers needs a reachable Docker engine: %w", err)
	}
	kc, err := tckafka.Run(ctx, kafkaImage, tckafka.WithClusterID("predlog-test"))
	if err != nil {
		return nil, fmt.Errorf("kafka container: %w", err)
	}
	brokers, err := kc.Brokers(ctx)
	if err != nil {
		_ = testcontainers.TerminateContainer(kc)
		return nil, fmt.Errorf("kafka brokers: %w", err)
	}
	cc, err := tcclickhouse.Run(ctx, clickhouseImage,
		tcclickhouse.WithUsername("predlog"), tcclickhouse.WithPassword("predlog"))
	if err != nil {
		_ = testcontainers.TerminateContainer(kc)
		return nil, fmt.Errorf("clickhouse container: %w", err)
	}
	httpAddr, err := cc.PortEndpoint(ctx, "8123/tcp", "http")
	if err != nil {
		_ = testcontainers.TerminateContainer(kc)
		_ = testcontainers.TerminateContainer(cc)
		return nil, fmt.Errorf("clickhouse endpoint: %w", err)
	}
	return &Stack{
		KafkaAddr:          brokers[0],
		ClickHouseURL:      httpAddr,
		ClickHouseUser:     "predlog",
		ClickHousePassword: "predlog",
		stop: func() {
			_ = testcontainers.TerminateContainer(kc)
			_ = testcontainers.TerminateContainer(cc)
		},
	}, nil
}
