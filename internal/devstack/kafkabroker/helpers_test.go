package kafkabroker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// leakOpts is empty on purpose: neither kfake nor kafka-go needs an ignore
// once each test closes its broker, readers, writers and transports. Keep it
// the single place to add one, with the reason beside it.
var leakOpts []goleak.Option

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakOpts...)
}

// testCtx bounds a whole test: a hung client call fails the test instead of
// hanging go test.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testLogger logs at info and above; kfake's debug logs would drown the
// test output.
func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
}

// startBroker starts a broker on a free port and closes it when the test ends.
func startBroker(t *testing.T, cfg Config) *Broker {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	b, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// newTransport returns a kafka-go transport of the test's own: the package
// default one keeps idle connections (and their goroutines) across tests.
func newTransport(t *testing.T) *kafka.Transport {
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func newWriter(t *testing.T, b *Broker, topic string, configure func(*kafka.Writer)) *kafka.Writer {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(b.Addr()),
		Topic:        topic,
		Transport:    newTransport(t),
		BatchTimeout: 10 * time.Millisecond, // default 1s would dominate test time
		RequiredAcks: kafka.RequireAll,
	}
	if configure != nil {
		configure(w)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("close writer: %v", err)
		}
	})
	return w
}

func newReader(t *testing.T, cfg kafka.ReaderConfig) *kafka.Reader {
	t.Helper()
	cfg.MaxWait = 100 * time.Millisecond // default 10s long poll slows Close
	cfg.ReadBackoffMin = 10 * time.Millisecond
	cfg.ReadBackoffMax = 100 * time.Millisecond
	r := kafka.NewReader(cfg)
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close reader: %v", err)
		}
	})
	return r
}

// readN fetches exactly n messages from r.
func readN(ctx context.Context, t *testing.T, r *kafka.Reader, n int) []kafka.Message {
	t.Helper()
	msgs := make([]kafka.Message, 0, n)
	for len(msgs) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch message %d of %d: %v", len(msgs)+1, n, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// partitionCounts returns topic -> partition count from a Metadata request.
func partitionCounts(ctx context.Context, t *testing.T, b *Broker, topics ...string) map[string]int {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(b.Addr()), Transport: newTransport(t)}
	resp, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	got := make(map[string]int)
	for _, tp := range resp.Topics {
		if tp.Error != nil {
			t.Fatalf("metadata for %s: %v", tp.Name, tp.Error)
		}
		got[tp.Name] = len(tp.Partitions)
	}
	return got
}

// msgString renders what a round trip must preserve: key, value, headers.
func msgString(m kafka.Message) string {
	s := fmt.Sprintf("%s=%s", m.Key, m.Value)
	for _, h := range m.Headers {
		s += fmt.Sprintf(" %s:%s", h.Key, h.Value)
	}
	return s
}
