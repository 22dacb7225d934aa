// Package devstack runs the development stack in one process: an in-memory
// Kafka broker and the ClickHouse HTTP interface over the embedded engine.
// It serves development, the demo and CI on machines where neither a Kafka
// broker nor a ClickHouse server can be installed; production uses real ones.
package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/devstack/chdb"
	"github.com/predlog/predlog/internal/devstack/chhttp"
	"github.com/predlog/predlog/internal/devstack/kafkabroker"
)

// Config configures the stack.
type Config struct {
	Kafka      kafkabroker.Config
	ClickHouse chhttp.Config
	DataDir    string // engine data; survives restarts
	LibPath    string // libchdb.so; empty means LibchdbPath()
}

// Stack is a running devstack.
type Stack struct {
	log    *zap.Logger
	broker *kafkabroker.Broker
	eng    *chdb.Engine
	ch     *chhttp.Server
	chLn   net.Listener
	served chan error
}

// Ready is what the stack reports once both services answer.
type Ready struct {
	Kafka      string `json:"kafka"`      // host:port
	ClickHouse string `json:"clickhouse"` // http://host:port
	Engine     string `json:"engine"`     // libchdb version
	PID        int    `json:"pid"`
}

// Start boots the engine, the HTTP interface and the broker. Close stops them.
// Both ports are taken before the engine boots (seconds, and memory): a
// port in use fails at once, naming it, not after the engine started.
func Start(cfg Config, log *zap.Logger) (*Stack, error) {
	if log == nil {
		log = zap.NewNop()
	}
	lib := cfg.LibPath
	if lib == "" {
		var err error
		if lib, err = LibchdbPath(); err != nil {
			return nil, err
		}
	}
	if cfg.DataDir == "" {
		return nil, errors.New("devstack: empty data directory")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s := &Stack{log: log, served: make(chan error, 1)}
	addr := cfg.ClickHouse.Addr
	if addr == "" {
		addr = "127.0.0.1:8123"
	}
	if s.chLn, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("clickhouse listen: %w", err)
	}
	if s.broker, err = kafkabroker.New(cfg.Kafka, log.Named("kafka")); err != nil {
		_ = s.chLn.Close()
		return nil, fmt.Errorf("kafka: %w", err)
	}
	t0 := time.Now()
	if s.eng, err = chdb.Open(lib, dataDir); err != nil {
		_ = s.chLn.Close()
		_ = s.broker.Close()
		return nil, fmt.Errorf("start engine: %w", err)
	}
	log.Info("engine started", zap.String("version", s.eng.Version), zap.String("data_dir", dataDir), zap.Duration("took", time.Since(t0)))
	if s.ch, err = chhttp.New(cfg.ClickHouse, s.eng, log.Named("clickhouse")); err != nil {
		_ = s.chLn.Close()
		_ = s.broker.Close()
		s.eng.Close()
		return nil, err
	}
	go func() { s.served <- s.ch.Serve(s.chLn) }()
	return s, nil
}

// Ready describes the running stack.
func (s *Stack) Ready() Ready {
	return Ready{
		Kafka:      s.broker.Addr(),
		ClickHouse: "http://" + s.chLn.Addr().String(),
		Engine:     s.eng.Version,
		PID:        os.Getpid(),
	}
}

// WriteReadyFile writes Ready as JSON to path atomically, so a script that
// polls for the file never reads half of it.
func (s *Stack) WriteReadyFile(path string) error {
	b, err := json.Marshal(s.Ready())
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	return os.Rename(tmp, path)
}

// Served reports a failure of the HTTP server while it runs.
func (s *Stack) Served() <-chan error { return s.served }

// Close stops the broker first (clients see Kafka go away before ClickHouse,
// as a consumer would commit nothing more), then drains running statements,
// then closes the engine.
func (s *Stack) Close(ctx context.Context) error {
	var errs []error
	t0 := time.Now()
	if err := s.broker.Close(); err != nil {
		errs = append(errs, fmt.Errorf("kafka: %w", err))
	}
	s.log.Info("kafka stopped", zap.Duration("took", time.Since(t0)))
	if err := s.closeClickHouse(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Stack) closeClickHouse(ctx context.Context) error {
	t0 := time.Now()
	err := s.ch.Shutdown(ctx)
	s.log.Info("clickhouse http stopped", zap.Duration("took", time.Since(t0)))
	t0 = time.Now()
	s.eng.Close()
	s.log.Info("engine closed", zap.Duration("took", time.Since(t0)))
	if err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	return nil
}
