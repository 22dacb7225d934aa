package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/predlog/predlog/internal/backoff"
	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/internal/devstack/kafkabroker"
	"github.com/predlog/predlog/internal/dlq"
	"github.com/predlog/predlog/internal/ingest"
	"github.com/predlog/predlog/internal/testenv"
	"github.com/predlog/predlog/internal/testenv/faultproxy"
	"github.com/predlog/predlog/internal/testenv/testschema"
	"github.com/predlog/predlog/pkg/events/eventstest"
)

func TestMain(m *testing.M) {
	ingest.InstallKafkaHooks()
	testenv.Main(m)
}

// env is one test's database, topics and clients.
type env struct {
	st       *testenv.Stack
	db       string
	topic    string
	dlqTopic string
	sink     *chwriter.HTTPSink
	// dlqMaxMessageBytes is the DLQ writer's MaxMessageBytes; 0: default.
	dlqMaxMessageBytes int64
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	st := testenv.Get(t)
	e := &env{st: st, db: testschema.Database(t, st), topic: st.Topic(t, partitions), dlqTopic: st.Topic(t, 1)}
	sink, err := chwriter.NewHTTPSink(chwriter.HTTPConfig{URL: st.ClickHouseURL, Database: e.db, User: st.ClickHouseUser, Password: st.ClickHousePassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	e.sink = sink
	return e
}

// produce writes msgs to the topic, spread over partitions by key.
func (e *env) produce(t *testing.T, msgs [][]byte) {
	t.Helper()
	if err := e.write(msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func (e *env) write(msgs [][]byte) error { return e.writeTo(e.topic, msgs) }

func (e *env) writeTo(topic string, msgs [][]byte) error {
	// Its own transport: kafka-go's shared default caches metadata per
	// broker, and a topic created after that cache was filled looks unknown
	// to it until the cache expires.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(e.st.KafkaAddr), Topic: topic, Transport: tr, Balancer: &kafka.Hash{}, BatchSize: 1000, BatchBytes: 16 << 20, BatchTimeout: 10 * time.Millisecond, Compression: kafka.Lz4}
	defer w.Close()
	batch := make([]kafka.Message, 0, 1000)
	for i, m := range msgs {
		batch = append(batch, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: m})
		if len(batch) == cap(batch) || i == len(msgs)-1 {
			if err := w.WriteMessages(context.Background(), batch...); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

// pipeline starts an ingester pipeline in group and returns its stop func,
// which waits for Run.
func (e *env) pipeline(t *testing.T, group string, tweak func(*ingest.Config)) (stop func() error) {
	t.Helper()
	return e.start(t, group, prometheus.NewRegistry(), e.sink, tweak)
}

// testConfig is the tests' pipeline config: short batches and retries.
func testConfig(t *testing.T, group, broker string, topics map[string]ingest.Kind) ingest.Config {
	return ingest.Config{
		GroupID:     group,
		Brokers:     []string{broker},
		Topics:      topics,
		MaxAge:      200 * time.Millisecond,
		Retry:       backoff.Policy{Initial: 50 * time.Millisecond, Max: time.Second},
		Instance:    t.Name(),
		StallAfter:  time.Minute,
		MaxBuffered: 64 << 20,
	}
}

// runUntilEnd runs p until the test ends.
func runUntilEnd(t *testing.T, p *ingest.Pipeline) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (e *env) start(t *testing.T, group string, reg *prometheus.Registry, sink chwriter.Sink, tweak func(*ingest.Config)) (stop func() error) {
	t.Helper()
	r := e.run(t, group, reg, sink, tweak)
	return r.stop
}

// running is a pipeline whose Run is going: done is closed when Run has
// returned; stop cancels its context and returns Run's error.
type running struct {
	p    *ingest.Pipeline
	done <-chan struct{}
	stop func() error
}

func (e *env) run(t *testing.T, group string, reg *prometheus.Registry, sink chwriter.Sink, tweak func(*ingest.Config)) running {
	t.Helper()
	return e.runWith(t, group, reg, sink, tweak, nil)
}

// runWith is run, with before (if not nil) given the pipeline before its
// Run starts (to set test hooks).
func (e *env) runWith(t *testing.T, group string, reg *prometheus.Registry, sink chwriter.Sink, tweak func(*ingest.Config), before func(*ingest.Pipeline)) running {
	t.Helper()
	cfg := testConfig(t, group, e.st.KafkaAddr, map[string]ingest.Kind{e.topic: ingest.KindPredictions})
	if tweak != nil {
		tweak(&cfg)
	}
	dlqTransport := &kafka.Transport{}
	t.Cleanup(dlqTransport.CloseIdleConnections)
	dw, err := dlq.New(dlq.Config{Topic: e.dlqTopic, MaxMessageBytes: e.dlqMaxMessageBytes}, []string{e.st.KafkaAddr}, dlqTransport, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ingest.New(cfg, sink, e.st.Conn(t, e.db), dw, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() { defer close(done); runErr = p.Run(ctx) }()
	var stopped bool
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			<-done
			_ = dw.Close()
		}
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return running{p: p, done: done, stop: stop}
}

func (e *env) count(t *testing.T, sql string) int {
	t.Helper()
	out := strings.TrimSpace(e.st.Exec(t, e.db, sql))
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("%s: %q", sql, out)
	}
	return n
}

// waitCount polls until sql returns want, or fails after timeout.
func (e *env) waitCount(t *testing.T, sql string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := e.count(t, sql)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d after %s, want %d", sql, got, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dlqMessages reads every DLQ message.
func (e *env) dlqMessages(t *testing.T, want int) []dlq.Rejected {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{e.st.KafkaAddr}, Topic: e.dlqTopic, Partition: 0, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []dlq.Rejected
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(out) < want {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read DLQ after %d of %d: %v", len(out), want, err)
		}
		rej, err := dlq.Parse(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rej)
	}
	return out
}

func predictions(n int, seed uint64) [][]byte {
	gen := eventstest.New(seed, eventstest.Config{Start: time.Now().UTC().Add(-time.Hour), Step: time.Millisecond})
	out := make([][]byte, n)
	for i := range out {
		out[i] = gen.AppendPrediction(nil)
	}
	return out
}

func TestPipelineDeliversAndRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	good := predictions(20_000, 1)
	poison := map[string][]byte{
		"invalid_json":  []byte(`{"request_id": "x",`),
		"missing_field": []byte(`{"model_id":"m","model_version":"v","event_time":"2026-11-26T10:00:00Z","latency_ms":1}`),
		"wrong_type":    []byte(`{"request_id":"p3","model_id":"m","model_version":"v","event_time":"2026-11-26T10:00:00Z","latency_ms":"fast"}`),
		"out_of_range":  []byte(`{"request_id":"p4","model_id":"m","model_version":"v","event_time":"2026-11-26T10:00:00Z","score":0.5,"latency_ms":-1}`),
		"invalid_utf8":  []byte("{\"request_id\":\"p5\xff\",\"model_id\":\"m\",\"model_version\":\"v\",\"event_time\":\"2026-11-26T10:00:00Z\",\"latency_ms\":1}"),
		"empty":         {},
		// Valid, but older than the table keeps (its TTL).
		"invalid_time": []byte(`{"request_id":"p7","model_id":"m","model_version":"v","event_time":"2000-01-01T00:00:00Z","latency_ms":1,"score":0.5}`),
		// Valid but longer than the MaxMessage set below.
		"oversized": []byte(`{"request_id":"p6","model_id":"m","model_version":"v","event_time":"2026-11-26T10:00:00Z","latency_ms":1,"score":0.5,"metadata":{"pad":"` + strings.Repeat("x", 5000) + `"}}`),
	}
	msgs := append([][]byte{}, good...)
	var codes []string
	for code, m := range poison {
		msgs = append(msgs, m)
		codes = append(codes, code)
	}
	e.produce(t, msgs)
	stop := e.pipeline(t, "g-"+e.db, func(c *ingest.Config) { c.MaxMessage = 4096 })
	e.waitCount(t, "SELECT count() FROM prediction_logs", len(good), 60*time.Second)
	rejected := e.dlqMessages(t, len(poison))
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := e.count(t, "SELECT uniqExact(request_id) FROM prediction_logs"); got != len(good) {
		t.Fatalf("distinct request_id = %d, want %d", got, len(good))
	}
	if got := e.count(t, "SELECT sum(prediction_count) FROM prediction_stats_1m"); got != len(good) {
		t.Fatalf("real-time view count = %d, want %d", got, len(good))
	}
	gotCodes := map[string]bool{}
	for _, r := range rejected {
		gotCodes[r.Code] = true
		if r.Topic != e.topic || string(poison[r.Code]) != string(r.Value) {
			t.Errorf("DLQ message %+v does not carry its original value", r)
		}
	}
	for _, c := range codes {
		if !gotCodes[c] {
			t.Errorf("no DLQ message with code %s (got %v)", c, gotCodes)
		}
	}
}

// TestOutcomesTopicRefusesPredictions: a prediction produced to the
// outcomes topic by mistake is dead-lettered as wrong_topic (its label
// would have been taken for the truth), while outcomes with members of
// their own, even names predictions also use, are ingested.
func TestOutcomesTopicRefusesPredictions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	gen := eventstest.New(2, eventstest.Config{Start: time.Now().UTC().Add(-time.Hour), Step: time.Millisecond})
	gen.AppendPrediction(nil)
	outcome := gen.AppendOutcome(nil, time.Minute)
	prediction := gen.AppendPrediction(nil)
	extended := gen.AppendOutcome(nil, time.Minute) // of prediction, so another request_id
	extended = append(extended[:len(extended)-1], `,"model_version":"v1","metadata":{"source":"chargeback"}}`...)
	e.produce(t, [][]byte{outcome, prediction, extended})
	stop := e.pipeline(t, "g-"+e.db, func(c *ingest.Config) { c.Topics = map[string]ingest.Kind{e.topic: ingest.KindOutcomes} })
	e.waitCount(t, "SELECT count() FROM outcomes", 2, 60*time.Second)
	rejected := e.dlqMessages(t, 1)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := e.count(t, "SELECT count() FROM outcomes"); got != 2 {
		t.Errorf("%d outcomes, want 2", got)
	}
	r := rejected[0]
	if r.Code != "wrong_topic" || string(r.Value) != string(prediction) || !strings.Contains(r.Reason, "predictions topic") {
		t.Errorf("DLQ message %s %q for %s, want wrong_topic naming the predictions topic", r.Code, r.Reason, r.Value)
	}
}

// TestDLQRefusedByBroker: with kafka.dlq_max_message_bytes above the
// broker's limit, a rejected message the broker refuses as too large is
// dead-lettered without its value, and the partition moves on (it retried
// the write for ever).
func TestDLQRefusedByBroker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	e.dlqMaxMessageBytes = 4 << 20
	big := []byte(`{"request_id":"big","pad":"` + strings.Repeat("x", 1536<<10)) // invalid JSON, 1.5 MB
	good := predictions(1, 7)
	e.produce(t, [][]byte{big, good[0]})
	stop := e.pipeline(t, "g-"+e.db, func(c *ingest.Config) { c.MaxMessage = 4 << 20 })
	e.waitCount(t, "SELECT count() FROM prediction_logs", 1, 30*time.Second)
	rejected := e.dlqMessages(t, 1)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	r := rejected[0]
	if r.Code != "invalid_json" || r.Topic != e.topic || r.Partition != 0 || r.Offset != 0 || len(r.Value) != 0 {
		t.Errorf("DLQ message = %s/%d@%d code %s, %d bytes of value; want %s/0@0, invalid_json, value dropped",
			r.Topic, r.Partition, r.Offset, r.Code, len(r.Value), e.topic)
	}
}

// TestPipelineRestartNoDuplicates stops and restarts the pipeline several
// times while messages flow; the ledger makes each replay dedup.
func TestPipelineRestartNoDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	msgs := predictions(30_000, 2)
	group := "g-" + e.db
	produced := make(chan error, 1)
	go func() { produced <- e.write(msgs) }()
	for i := range 4 {
		stop := e.pipeline(t, group, func(c *ingest.Config) { c.MaxRows = 700 + 300*i })
		time.Sleep(time.Duration(300+200*i) * time.Millisecond)
		if err := stop(); err != nil {
			t.Fatalf("Run %d: %v", i, err)
		}
	}
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}
	e.pipeline(t, group, nil)
	e.waitCount(t, "SELECT count() FROM prediction_logs", len(msgs), 60*time.Second)
	if got := e.count(t, "SELECT uniqExact(request_id) FROM prediction_logs"); got != len(msgs) {
		t.Fatalf("distinct = %d, want %d", got, len(msgs))
	}
	fmt.Println("batches recorded:", e.count(t, "SELECT count() FROM ingest_batches"))
}

// gauge returns the sum of the series of gauge name in reg (one per label
// set: the pipeline exports those the configuration fixes at 0), -1
// without the metric.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
			return sum
		}
	}
	return -1
}

// proxiedSink returns a ClickHouse sink for e's database through a fault
// proxy the test can cut.
func proxiedSink(t *testing.T, e *env) (*faultproxy.Proxy, *chwriter.HTTPSink) {
	t.Helper()
	u, err := url.Parse(e.st.ClickHouseURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := faultproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	sink, err := chwriter.NewHTTPSink(chwriter.HTTPConfig{URL: "http://" + proxy.Addr(), Database: e.db, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return proxy, sink
}

// TestLagBeforeFirstCommit: a partition that has never committed counts
// what it fetched but could not commit (ClickHouse unreachable from the
// start) as lag, not only what is left to fetch.
func TestLagBeforeFirstCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	proxy, sink := proxiedSink(t, e)
	proxy.Cut()
	reg := prometheus.NewRegistry()
	stop := e.start(t, "g-"+e.db, reg, sink, func(c *ingest.Config) { c.LagInterval = 100 * time.Millisecond })
	e.produce(t, predictions(50, 7))
	deadline := time.Now().Add(10 * time.Second)
	for lag := gauge(t, reg, "predlog_ingester_consumer_lag_messages"); lag != 50; lag = gauge(t, reg, "predlog_ingester_consumer_lag_messages") {
		if time.Now().After(deadline) {
			t.Fatalf("lag = %v with 50 messages fetched and none committed, want 50", lag)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The rows carry the time of the attempt that landed, not of their
	// batch's start: the aggregator scans ingest_time a fixed delay behind
	// now, and would never see rows stamped before an outage.
	time.Sleep(300 * time.Millisecond)
	restored := time.Now()
	proxy.Restore()
	e.waitCount(t, "SELECT count() FROM prediction_logs", 50, 30*time.Second)
	if n := e.count(t, fmt.Sprintf("SELECT count() FROM prediction_logs WHERE toUnixTimestamp64Milli(ingest_time) < %d", restored.UnixMilli())); n != 0 {
		t.Errorf("%d rows stamped before ClickHouse came back", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestLagMetricGrowsWhileClickHouseIsDown checks that lag is measured
// against the broker, not frozen at the last commit.
func TestLagMetricGrowsWhileClickHouseIsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	proxy, sink := proxiedSink(t, e)
	reg := prometheus.NewRegistry()
	stop := e.start(t, "g-"+e.db, reg, sink, func(c *ingest.Config) { c.LagInterval = 100 * time.Millisecond })
	e.produce(t, predictions(100, 5))
	e.waitCount(t, "SELECT count() FROM prediction_logs", 100, 30*time.Second)
	lag := func() float64 { return gauge(t, reg, "predlog_ingester_consumer_lag_messages") }
	commitAge := func() float64 { return gauge(t, reg, "predlog_ingester_partition_commit_age_seconds") }
	deadline := time.Now().Add(10 * time.Second)
	for lag() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("lag = %v after catching up, want 0", lag())
		}
		time.Sleep(50 * time.Millisecond)
	}
	proxy.Cut() // ClickHouse unreachable: batches cannot commit
	e.produce(t, predictions(50, 6))
	deadline = time.Now().Add(10 * time.Second)
	for lag() != 50 {
		if time.Now().After(deadline) {
			t.Fatalf("lag = %v while inserts fail, want 50", lag())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The partition's commit age grows while it cannot commit (polled:
	// the gauge follows the lag reports, which a loaded machine, or the
	// race detector, may space beyond LagInterval).
	age0 := commitAge()
	for deadline := time.Now().Add(10 * time.Second); commitAge() < age0+0.3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("commit age %v then %v 10s later while nothing commits, want it growing", age0, commitAge())
		}
	}
	proxy.Restore()
	e.waitCount(t, "SELECT count() FROM prediction_logs", 150, 30*time.Second)
	deadline = time.Now().Add(10 * time.Second)
	for commitAge() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("commit age %v after ClickHouse came back, want it reset", commitAge())
		}
		time.Sleep(50 * time.Millisecond)
	}
	deadline = time.Now().Add(10 * time.Second)
	for lag() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("lag = %v after ClickHouse came back, want 0", lag())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// lyingSink inserts for real but, while lying is set, reports a timeout:
// what a client sees when ClickHouse committed an insert and the answer was
// lost.
type lyingSink struct {
	chwriter.Sink
	lying atomic.Bool
}

func (s *lyingSink) Insert(ctx context.Context, ins chwriter.Insert) error {
	err := s.Sink.Insert(ctx, ins)
	if err == nil && s.lying.Load() && ins.Table == "prediction_logs" {
		return &chwriter.Error{Table: ins.Table, Kind: chwriter.KindTransient, Msg: "i/o timeout (inserted all the same)"}
	}
	return err
}

// TestReplayUnderMemoryPressure: inserts land but are never acknowledged, so
// nothing is committed; the pipeline stops. A second run replays the
// recorded batches with a buffer far smaller than one of them: a replayed
// batch must not be cut short, or its rest would be inserted twice.
func TestReplayUnderMemoryPressure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	msgs := predictions(6000, 9)
	e.produce(t, msgs)
	group := "g-" + e.db
	sink := &lyingSink{Sink: e.sink}
	sink.lying.Store(true)
	stop := e.start(t, group, prometheus.NewRegistry(), sink, func(c *ingest.Config) {
		// Batches close on rows, not age: a slow build (-race) reads
		// fewer than 1000 messages in testConfig's 200ms.
		c.MaxRows, c.MaxAge = 1000, 10*time.Second
		c.DrainTimeout = 500 * time.Millisecond
	})
	// Each partition's first batch lands and is retried forever.
	e.waitCount(t, "SELECT count() FROM prediction_logs", 2000, 30*time.Second)
	_ = stop() // nothing was committed: the recorded batches are replayed
	if n := e.count(t, "SELECT count() FROM ingest_batches"); n != 2 {
		t.Fatalf("%d batches recorded, want 2", n)
	}
	sink.lying.Store(false)
	reg := prometheus.NewRegistry()
	e.start(t, group, reg, sink, func(c *ingest.Config) {
		c.MaxBuffered = 512 << 10 // a fifth of one recorded batch
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		mfs, _ := reg.Gather()
		replayed := 0.0
		for _, mf := range mfs {
			if mf.GetName() == "predlog_ingester_commits_total" {
				replayed = mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		if replayed >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %v commits after the restart", replayed)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.waitCount(t, "SELECT count() FROM prediction_logs", len(msgs), 30*time.Second)
	if got := e.count(t, "SELECT uniqExact(request_id) FROM prediction_logs"); got != len(msgs) {
		t.Fatalf("distinct = %d, want %d", got, len(msgs))
	}
}

// TestTopicCreatedAgain: a topic deleted and created again (or the
// devstack's in-memory Kafka restarted) starts again at offset 0 while the
// ledger keeps the old life's boundaries and ClickHouse the old batches'
// tokens. The new messages must not be re-cut on those boundaries under
// those tokens (dropped as duplicates, silently): all of them land, once,
// also when a restart resumes inside an old batch.
func TestTopicCreatedAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	group := "g-" + e.db
	e.oldLife(t, group, 11)

	// The new life: 150 messages in batches of 30 (the old batch's first
	// offset is checked when a batch starts there), committed up to 150.
	// ClickHouse refuses to record the old batch as retired, so the
	// restart below meets it again (as after a crash before the write):
	// refused, it is only logged.
	e.produce(t, predictions(150, 12))
	reg := e.runUntil(t, group, &refuseRetiring{Sink: e.sink}, "SELECT count() FROM prediction_logs", 350)
	// A restart resumes at 150, inside the old life's batch 0-199.
	e.produce(t, predictions(100, 13))
	reg2 := e.runUntil(t, group, e.sink, "SELECT uniqExact(request_id) FROM prediction_logs", 450)
	if n := e.count(t, "SELECT count() FROM prediction_logs"); n != 450 {
		t.Errorf("%d rows for 450 messages", n)
	}
	for i, r := range []*prometheus.Registry{reg, reg2} {
		if counter(t, r, "predlog_ingester_ledger_mismatches_total") == 0 {
			t.Errorf("run %d of the new life: no ledger mismatch counted", i+1)
		}
	}
	// Found where the restart resumed, the old batch is retired as well.
	if n := e.count(t, "SELECT count() FROM ingest_batches WHERE retired = 1 AND first_offset = 0 AND last_offset = 199"); n != 1 {
		t.Errorf("old batch retired %d times, want 1", n)
	}
}

// TestStaleBatchRetired: a recorded batch found stale is retired in the
// ledger, so the restarts after the run that found it neither load it nor
// read its first message nor warn about it again (each restart did, until
// the committed offset passed it or its row expired).
func TestStaleBatchRetired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	group := "g-" + e.db
	mismatches := func(reg *prometheus.Registry) float64 {
		return counter(t, reg, "predlog_ingester_ledger_mismatches_total")
	}
	e.oldLife(t, group, 21)

	// The first run of the new life finds the old batch stale where its
	// first batch starts (offset 0) and commits up to 150.
	e.produce(t, predictions(150, 22))
	reg := e.runUntil(t, group, e.sink, "SELECT count() FROM prediction_logs", 350)
	if got := mismatches(reg); got != 1 {
		t.Fatalf("first run: %v ledger mismatches, want 1", got)
	}
	// Written by the time Run returns.
	if n := e.count(t, "SELECT count() FROM ingest_batches WHERE retired = 1 AND first_offset = 0 AND last_offset = 199"); n != 1 {
		t.Fatalf("old batch retired %d times, want 1", n)
	}

	// The restart resumes at 150, inside the old batch: without the
	// retirement it would load it, read offset 0 and warn again.
	e.produce(t, predictions(100, 23))
	reg2 := e.runUntil(t, group, e.sink, "SELECT uniqExact(request_id) FROM prediction_logs", 450)
	if got := mismatches(reg2); got != 0 {
		t.Errorf("restart: %v ledger mismatches, want 0 (the old batch was retired)", got)
	}
	if n := e.count(t, "SELECT count() FROM prediction_logs"); n != 450 {
		t.Errorf("%d rows for 450 messages", n)
	}
}

// runUntil runs a pipeline of group over sink in batches of 30 until the
// count query returns want, stops it and returns its registry.
func (e *env) runUntil(t *testing.T, group string, sink chwriter.Sink, count string, want int) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	stop := e.start(t, group, reg, sink, func(c *ingest.Config) { c.MaxRows = 30 })
	e.waitCount(t, count, want, 30*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	return reg
}

// oldLife ingests 200 messages in one batch (offsets 0-199), then deletes
// e's topic and group and creates the topic again: its offsets start at 0
// again, while the ledger keeps the old life's batch and ClickHouse its
// token.
func (e *env) oldLife(t *testing.T, group string, seed uint64) {
	t.Helper()
	e.produce(t, predictions(200, seed))
	stop := e.pipeline(t, group, func(c *ingest.Config) { c.MaxRows, c.MaxAge = 1000, 5*time.Second })
	e.waitCount(t, "SELECT count() FROM prediction_logs", 200, 30*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	e.recreate(t, group)
}

// recreate deletes e's topic and creates it again with one partition; with
// a group, it deletes the group's committed offsets in between.
func (e *env) recreate(t *testing.T, group string) {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(e.st.KafkaAddr), Transport: tr, Timeout: 10 * time.Second}
	ctx := context.Background()
	if res, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{e.topic}}); err != nil || res.Errors[e.topic] != nil {
		t.Fatalf("delete topic: %v %v", err, res)
	}
	if group != "" {
		if res, err := c.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}}); err != nil || res.Errors[group] != nil {
			t.Fatalf("delete group: %v %v", err, res)
		}
	}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: e.topic, NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil || res.Errors[e.topic] != nil {
		t.Fatalf("create topic: %v %v", err, res)
	}
}

// commitOffset commits offset for partition 0 of e's topic in group,
// outside any generation (as a broker that kept a deleted topic's offsets
// would still have them).
func (e *env) commitOffset(t *testing.T, group string, offset int64) {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(e.st.KafkaAddr), Transport: tr, Timeout: 10 * time.Second}
	res, err := c.OffsetCommit(context.Background(), &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{e.topic: {{Partition: 0, Offset: offset}}}})
	if err != nil || res.Topics[e.topic][0].Error != nil {
		t.Fatalf("commit offset %d: %v %+v", offset, err, res)
	}
}

// TestTopicRecreatedWhileRunning: a topic deleted and created again under
// a running ingester leaves its reader at the old life's offset, past the
// new log's end. Kafka-go waits there for the log to grow and then skips
// the new life's first messages, silently. The partition must start again
// from the earliest offset instead, say so, and count it; a restart after
// that resumes where the new life was committed.
func TestTopicRecreatedWhileRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	group := "g-" + e.db
	reg := prometheus.NewRegistry()
	stop := e.start(t, group, reg, e.sink, func(c *ingest.Config) { c.MaxRows = 10 })
	e.produce(t, predictions(23, 31))
	e.waitCount(t, "SELECT count() FROM prediction_logs", 23, 30*time.Second)

	e.recreate(t, "")
	// Fewer messages than the old committed offset first: the reader is
	// past the end of the new log until more arrive.
	e.produce(t, predictions(5, 32))
	e.waitCount(t, "SELECT count() FROM prediction_logs", 28, 30*time.Second)
	e.produce(t, predictions(25, 33))
	e.waitCount(t, "SELECT count() FROM prediction_logs", 53, 30*time.Second)
	if got := counter(t, reg, "predlog_ingester_offset_resets_total"); got != 1 {
		t.Errorf("%v offset resets, want 1", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A restart resumes at the new life's committed offset (30): nothing
	// read twice, nothing reset again.
	e.produce(t, predictions(7, 34))
	reg2 := e.runUntil(t, group, e.sink, "SELECT count() FROM prediction_logs", 60)
	if got := counter(t, reg2, "predlog_ingester_offset_resets_total"); got != 0 {
		t.Errorf("restart: %v offset resets, want 0", got)
	}
	if got := e.count(t, "SELECT uniqExact(request_id) FROM prediction_logs"); got != 60 {
		t.Errorf("distinct = %d, want 60", got)
	}
}

// TestAssignedPastLogEnd: a partition assigned with a committed offset
// past the end of its log (a topic created again whose old offsets the
// group kept, as a broker that does not drop them on deletion does) starts
// from the earliest offset rather than waiting there and skipping what
// comes first.
func TestAssignedPastLogEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	group := "g-" + e.db
	e.produce(t, predictions(23, 41))
	e.runUntil(t, group, e.sink, "SELECT count() FROM prediction_logs", 23)
	e.recreate(t, "")
	e.produce(t, predictions(5, 42))
	// The devstack's broker drops a deleted topic's offsets: commit the
	// old one again.
	e.commitOffset(t, group, 23)
	reg := prometheus.NewRegistry()
	stop := e.start(t, group, reg, e.sink, func(c *ingest.Config) { c.MaxRows = 30 })
	e.waitCount(t, "SELECT count() FROM prediction_logs", 28, 30*time.Second)
	e.produce(t, predictions(25, 43))
	e.waitCount(t, "SELECT count() FROM prediction_logs", 53, 30*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, reg, "predlog_ingester_offset_resets_total"); got != 1 {
		t.Errorf("%v offset resets, want 1", got)
	}
	if got := e.count(t, "SELECT uniqExact(request_id) FROM prediction_logs"); got != 53 {
		t.Errorf("distinct = %d, want 53", got)
	}
}

// refuseRetiring fails every write that retires recorded batches.
type refuseRetiring struct{ chwriter.Sink }

func (s *refuseRetiring) Insert(ctx context.Context, ins chwriter.Insert) error {
	if ins.Table == "ingest_batches" && bytes.Contains(ins.Body, []byte(`"retired":1`)) {
		return &chwriter.Error{Table: ins.Table, Kind: chwriter.KindTransient, Msg: "connection refused (test)"}
	}
	return s.Sink.Insert(ctx, ins)
}

// counter returns the value of a counter with one series in reg; a
// counter missing (renamed, labelled) fails the test rather than reading as
// a value a check could accept.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	m := oneSeries(t, reg, name)
	if m == nil {
		t.Fatalf("no counter %s with one series", name)
	}
	return m.GetCounter().GetValue()
}

// oneSeries returns the series of metric name in reg if it has exactly one.
func oneSeries(t *testing.T, reg *prometheus.Registry, name string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0]
		}
	}
	return nil
}

// TestReadyBeforeRun: a pipeline whose Run has not been called (the daemon
// waits for the schema check first) says so rather than "joining".
func TestReadyBeforeRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	p, err := ingest.New(ingest.Config{GroupID: "g-" + e.db, Brokers: []string{e.st.KafkaAddr},
		Topics: map[string]ingest.Kind{e.topic: ingest.KindPredictions}}, e.sink, e.st.Conn(t, e.db), nil, zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(context.Background()); err == nil || err.Error() != "not started" {
		t.Errorf("Ready before Run = %v, want not started", err)
	}
}

// TestRetentionChangedWhileRunning: a TTL shortened on a running system
// applies without a restart: an event it would drop goes to the DLQ. The
// TTL is set as an operator would (event_time + INTERVAL, not the
// migrations' toDateTime(event_time) + INTERVAL).
func TestRetentionChangedWhileRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	old := func(id string) []byte {
		return []byte(`{"request_id":"` + id + `","model_id":"m","model_version":"v","event_time":"` +
			time.Now().UTC().Add(-10*24*time.Hour).Format(time.RFC3339) + `","latency_ms":1,"score":0.5}`)
	}
	reg := prometheus.NewRegistry()
	stop := e.start(t, "g-"+e.db, reg, e.sink, func(c *ingest.Config) { c.RetentionInterval = 100 * time.Millisecond })
	e.produce(t, [][]byte{old("kept")})
	e.waitCount(t, "SELECT count() FROM prediction_logs", 1, 30*time.Second)
	// Messages inserted or rejected so far, from the metrics: TTL merges
	// may delete rows, so the table's count cannot tell.
	counted := func(names ...string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var n float64
		for _, mf := range mfs {
			if slices.Contains(names, mf.GetName()) {
				for _, m := range mf.GetMetric() {
					n += m.GetCounter().GetValue()
				}
			}
		}
		return n
	}
	const inserted, rejected = "predlog_ingester_inserted_rows_total", "predlog_ingester_rejected_messages_total"

	e.st.Exec(t, e.db, "ALTER TABLE prediction_logs MODIFY TTL event_time + INTERVAL 5 DAY SETTINGS materialize_ttl_after_modify = 0")
	// Until the ingester has read the new TTL (every 100 ms here), such
	// events are inserted: send one at a time until one is rejected.
	for n := 1; counted(rejected) == 0; n++ {
		if n > 20 {
			t.Fatal("20 events inserted after the TTL changed")
		}
		before := counted(inserted, rejected)
		e.produce(t, [][]byte{old(fmt.Sprint("dropped-", n))})
		for deadline := time.Now().Add(20 * time.Second); counted(inserted, rejected) == before; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("event dropped-%d neither inserted nor rejected after 20 s", n)
			}
		}
	}
	dlqd := e.dlqMessages(t, 1)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r := dlqd[0]; r.Code != "invalid_time" || !strings.Contains(string(r.Value), `"dropped-`) {
		t.Errorf("DLQ message %s %s, want invalid_time for the event older than the new TTL", r.Code, r.Value)
	}
}

// TestReadyWhenBrokerGone: a pipeline that had joined its group is not
// ready once the broker has been gone (it cannot join again) for a session
// timeout, and owns no partitions meanwhile.
func TestReadyWhenBrokerGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	b, err := kafkabroker.New(kafkabroker.Config{Addr: "127.0.0.1:0", Topics: map[string]int{"preds": 2}}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = b.Close()
		}
	})
	reg := prometheus.NewRegistry()
	cfg := testConfig(t, "g", b.Addr(), map[string]ingest.Kind{"preds": ingest.KindPredictions})
	cfg.SessionTimeout = 6 * time.Second // readiness waits that long after the first failed join
	p, err := ingest.New(cfg, e.sink, e.st.Conn(t, e.db), nil, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, p)
	ctx := context.Background()

	assigned := func() float64 { return gauge(t, reg, "predlog_ingester_assigned_partitions") }
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (Ready: %v, assigned %v)", what, p.Ready(ctx), assigned())
			}
		}
	}
	waitFor("ready", func() bool { return p.Ready(ctx) == nil && assigned() == 2 })
	closed = true
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	lost := time.Now()
	waitFor("not ready", func() bool {
		err := p.Ready(ctx)
		return err != nil && strings.Contains(err.Error(), "not in consumer group") && assigned() == 0
	})
	if waited := time.Since(lost); waited < 6*time.Second {
		t.Errorf("not ready %s after the broker went, want the session timeout's grace (6s) for rebalances", waited)
	}
}

// TestMissingTopicWarned: a configured topic the broker does not have (a
// typo, which automatic topic creation would otherwise hide) is named in a
// warning at start; the existing one is not.
func TestMissingTopicWarned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	core, logs := observer.New(zap.WarnLevel)
	missing := e.topic + "-typo"
	cfg := testConfig(t, "g-"+e.db, e.st.KafkaAddr, map[string]ingest.Kind{e.topic: ingest.KindPredictions, missing: ingest.KindOutcomes})
	p, err := ingest.New(cfg, e.sink, e.st.Conn(t, e.db), nil, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, p)
	for deadline := time.Now().Add(30 * time.Second); logs.FilterMessageSnippet("topic does not exist").Len() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about %s; logged: %v", missing, logs.All())
		}
	}
	for _, l := range logs.FilterMessageSnippet("topic does not exist").All() {
		if got := l.ContextMap()["topic"]; got != missing {
			t.Errorf("warned about topic %v, want only %s", got, missing)
		}
	}
}

// TestOtherGroupWarned: batches another consumer group recorded for the
// same topic in this database (a misspelt group id inserting everything a
// second time) are named in a warning at start; a group of other topics
// is not.
func TestOtherGroupWarned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	e.st.Exec(t, e.db, `INSERT INTO ingest_batches (consumer_group, topic, partition, first_offset, last_offset, messages, created_at, instance)
		VALUES ('g-typo', '`+e.topic+`', 0, 0, 99, 100, now64(3), 'other'),
		       ('g-metadata', 'some.other.topic', 0, 0, 9, 10, now64(3), 'other'),
		       ('g-long-gone', '`+e.topic+`', 0, 0, 9, 10, now64(3) - INTERVAL 3 DAY, 'other')`)
	core, logs := observer.New(zap.WarnLevel)
	cfg := testConfig(t, "g-"+e.db, e.st.KafkaAddr, map[string]ingest.Kind{e.topic: ingest.KindPredictions})
	p, err := ingest.New(cfg, e.sink, e.st.Conn(t, e.db), nil, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, p)
	const msg = "another consumer group writes the same topics"
	for deadline := time.Now().Add(30 * time.Second); logs.FilterMessageSnippet(msg).Len() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about g-typo; logged: %v", logs.All())
		}
	}
	if w := logs.FilterMessageSnippet(msg).All(); len(w) != 1 || w[0].ContextMap()["other_group"] != "g-typo" {
		t.Errorf("warnings %v, want one naming g-typo", w)
	}
}

// TestFreshnessOfFutureEvents: an event dated in the future (accepted up to
// 2099) is observed as fresh (0 s), not as a negative age that drags the
// histogram's sum below zero.
func TestFreshnessOfFutureEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	reg := prometheus.NewRegistry()
	stop := e.start(t, "g-"+e.db, reg, e.sink, nil)
	e.produce(t, [][]byte{
		[]byte(`{"request_id":"future","model_id":"m","model_version":"v","event_time":"2099-01-01T00:00:00Z","latency_ms":1,"score":0.5}`),
	})
	e.waitCount(t, "SELECT count() FROM prediction_logs", 1, 30*time.Second)
	if err := stop(); err != nil { // committed, hence observed, when Run returns
		t.Fatal(err)
	}
	m := oneSeries(t, reg, "predlog_ingester_freshness_seconds")
	if m == nil {
		t.Fatal("no freshness histogram")
	}
	if h := m.GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 0 {
		t.Errorf("freshness: %d samples summing to %v s, want 1 of 0 s", h.GetSampleCount(), h.GetSampleSum())
	}
}

// TestFutureEvents: events dated more than a minute ahead of the
// ingester's clock are ingested, counted per topic and warned about; one
// a few seconds ahead (clocks that disagree a little) and one in the past
// are not counted.
func TestFutureEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zap.WarnLevel)
	cfg := testConfig(t, "g-"+e.db, e.st.KafkaAddr, map[string]ingest.Kind{e.topic: ingest.KindPredictions})
	p, err := ingest.New(cfg, e.sink, e.st.Conn(t, e.db), nil, zap.New(core), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	at := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339Nano) }
	var msgs [][]byte
	for i, d := range []time.Duration{-time.Hour, 5 * time.Second, 8 * time.Hour, 2 * time.Hour, 8 * time.Hour} {
		msgs = append(msgs, fmt.Appendf(nil, `{"request_id":"r%d","model_id":"m","model_version":"v","event_time":%q,"latency_ms":1,"score":0.5}`, i, at(d)))
	}
	e.produce(t, msgs)
	e.waitCount(t, "SELECT count() FROM prediction_logs", len(msgs), 30*time.Second)
	cancel()
	if err := <-done; err != nil { // committed, hence counted, when Run returns
		t.Fatal(err)
	}
	m := oneSeries(t, reg, "predlog_ingester_future_events_total")
	if m == nil {
		t.Fatal("no future events counter")
	}
	if got := m.GetCounter().GetValue(); got != 3 {
		t.Errorf("future events: %v, want 3", got)
	}
	w := logs.FilterMessageSnippet("dated in the future").All()
	if len(w) == 0 {
		t.Fatal("no warning about events dated in the future")
	}
	if ahead, ok := w[len(w)-1].ContextMap()["max_ahead"].(time.Duration); !ok || ahead < 7*time.Hour {
		t.Errorf("last warning's max_ahead %v, want about 8h", w[len(w)-1].ContextMap()["max_ahead"])
	}
}
