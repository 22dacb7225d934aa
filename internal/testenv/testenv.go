// Package testenv hands integration tests a Kafka broker and a ClickHouse
// server, each test in its own database and its own topics so tests run in
// parallel.
//
// Backends, chosen by environment:
//   - PREDLOG_TEST_KAFKA and PREDLOG_TEST_CLICKHOUSE set (make test does
//     this): use those services; the stack is started once per `make test`.
//     PREDLOG_TEST_ENGINE_PID, when set, names the process serving
//     ClickHouse (benchmarks report its CPU time).
//   - PREDLOG_TEST_STACK=containers: real Kafka and ClickHouse containers
//     through testcontainers-go (needs a Docker engine).
//   - otherwise: a devstack subprocess started once per test binary.
//
// Packages that use it call testenv.Main from TestMain so a stack the test
// binary started is stopped when it ends.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/predlog/predlog/internal/chquery"
)

// Stack is a running pair of services.
type Stack struct {
	KafkaAddr     string // host:port
	ClickHouseURL string // http://host:port
	// ClickHouseUser and ClickHousePassword authenticate where the backend
	// needs it (containers); the devstack accepts any.
	ClickHouseUser, ClickHousePassword string
	// EnginePID is the process serving ClickHouse when it runs on this
	// machine (the devstack this binary started, or PREDLOG_TEST_ENGINE_PID
	// with an external stack), for benchmarks that report its CPU time; 0
	// when unknown.
	EnginePID int

	stop func()
}

var (
	once     sync.Once
	shared   *Stack
	startErr error
)

// Main runs the tests and stops a stack this binary started.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil && shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

// Get returns the shared stack, starting it on first use. It fails the test
// (never skips) when no stack can be had, saying how to get one.
func Get(t testing.TB) *Stack {
	t.Helper()
	once.Do(func() { shared, startErr = start() })
	if startErr != nil {
		t.Fatalf("testenv: %v", startErr)
	}
	return shared
}

func start() (*Stack, error) {
	k, c := os.Getenv("PREDLOG_TEST_KAFKA"), os.Getenv("PREDLOG_TEST_CLICKHOUSE")
	switch {
	case k != "" && c != "":
		pid, _ := strconv.Atoi(os.Getenv("PREDLOG_TEST_ENGINE_PID"))
		return &Stack{KafkaAddr: k, ClickHouseURL: c, EnginePID: pid}, nil
	case k != "" || c != "":
		return nil, fmt.Errorf("set both PREDLOG_TEST_KAFKA and PREDLOG_TEST_CLICKHOUSE, or neither")
	}
	switch mode := os.Getenv("PREDLOG_TEST_STACK"); mode {
	case "", "devstack":
		return startDevstack()
	case "containers":
		return startContainers()
	default:
		return nil, fmt.Errorf("PREDLOG_TEST_STACK=%q: want devstack or containers", mode)
	}
}

// uniqueName returns prefix plus a random suffix valid as a ClickHouse
// identifier and a Kafka topic name.
func uniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// Database creates a fresh database for t and drops it when t ends.
func (s *Stack) Database(t testing.TB) string {
	t.Helper()
	name := uniqueName("t")
	s.Exec(t, "", "CREATE DATABASE "+name)
	t.Cleanup(func() {
		if os.Getenv("PREDLOG_TEST_KEEP") != "" {
			t.Logf("testenv: kept database %s", name)
			return
		}
		s.Exec(t, "", "DROP DATABASE IF EXISTS "+name+" SYNC")
	})
	return name
}

// Topic creates a fresh topic with the given partitions for t.
func (s *Stack) Topic(t testing.TB, partitions int) string {
	t.Helper()
	name := uniqueName("t")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := CreateTopic(ctx, s.KafkaAddr, name, partitions); err != nil {
		t.Fatalf("testenv: create topic: %v", err)
	}
	return name
}

// CreateTopic creates a topic through the cluster controller.
func CreateTopic(ctx context.Context, addr, name string, partitions int) error {
	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	cc, err := kafka.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return err
	}
	defer cc.Close()
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: 1}); err != nil {
		return err
	}
	// Wait until metadata shows every partition, so a producer that starts
	// right away does not see UNKNOWN_TOPIC_OR_PARTITION.
	for {
		parts, err := conn.ReadPartitions(name)
		if err == nil && len(parts) == partitions {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s not visible: %w (last: %v)", name, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Options returns clickhouse-go options for database db over HTTP.
func (s *Stack) Options(db string) *clickhouse.Options {
	u, _ := url.Parse(s.ClickHouseURL)
	return &clickhouse.Options{
		Protocol: clickhouse.HTTP,
		Addr:     []string{u.Host},
		Auth: clickhouse.Auth{
			Database: db,
			Username: s.ClickHouseUser,
			Password: s.ClickHousePassword,
		},
		DialTimeout: 10 * time.Second,
		ReadTimeout: 5 * time.Minute,
	}
}

// Conn opens a clickhouse-go connection to db, closed when t ends.
func (s *Stack) Conn(t testing.TB, db string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(s.Options(db))
	if err != nil {
		t.Fatalf("testenv: clickhouse open: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Exec runs one statement over plain HTTP in db ("" for default) and
// returns its TabSeparated output; it fails t on error.
func (s *Stack) Exec(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := s.Query(context.Background(), db, sql)
	if err != nil {
		t.Fatalf("testenv: %s: %v", firstLine(sql), err)
	}
	return out
}

// Query runs one statement over plain HTTP and returns its output.
func (s *Stack) Query(ctx context.Context, db, sql string) (string, error) {
	return chquery.Target{URL: s.ClickHouseURL, Database: db, User: s.ClickHouseUser, Password: s.ClickHousePassword}.Run(ctx, sql, nil)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}
