package kafkaclient

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestWriterReader produces through a Writer on Transport and consumes
// through a Reader on Dialer, against the test stack (no TLS, no SASL).
func TestWriterReader(t *testing.T) {
	st := testenv.Get(t)
	topic := st.Topic(t, 2)
	cfg := config.Kafka{Brokers: []string{st.KafkaAddr}}

	tr, err := Transport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	d, err := Dialer(cfg)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        topic,
		Transport:    tr,
		RequiredAcks: kafka.RequireAll,
		Balancer:     &kafka.Hash{},
		BatchTimeout: 10 * time.Millisecond,
	}
	const n = 20
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}

	// kafka.Client on the same Transport sees the topic.
	c := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: tr}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 2 {
		t.Fatalf("metadata = %+v, want topic %s with 2 partitions", md.Topics, topic)
	}

	got := map[string]string{}
	for p := range 2 {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   cfg.Brokers,
			Topic:     topic,
			Partition: p,
			Dialer:    d,
			MaxWait:   100 * time.Millisecond,
		})
		conn, err := d.DialLeader(ctx, "tcp", st.KafkaAddr, topic, p)
		if err != nil {
			t.Fatalf("dial leader %d: %v", p, err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatalf("last offset %d: %v", p, err)
		}
		for range last {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read partition %d: %v", p, err)
			}
			got[string(m.Key)] = string(m.Value)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("close reader: %v", err)
		}
	}
	if len(got) != n {
		t.Fatalf("read %d messages, want %d: %v", len(got), n, got)
	}
	for _, m := range msgs {
		if got[string(m.Key)] != string(m.Value) {
			t.Errorf("key %s: got %q, want %q", m.Key, got[string(m.Key)], m.Value)
		}
	}
}

// TestConsumerGroup reads through a consumer-group Reader built on Dialer.
func TestConsumerGroup(t *testing.T) {
	st := testenv.Get(t)
	topic := st.Topic(t, 1)
	cfg := config.Kafka{Brokers: []string{st.KafkaAddr}}
	tr, err := Transport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	d, err := Dialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: topic, Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond}
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("hello")}); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     cfg.Brokers,
		GroupID:     topic + "-group",
		Topic:       topic,
		Dialer:      d,
		MaxWait:     100 * time.Millisecond,
		StartOffset: kafka.FirstOffset,
	})
	defer r.Close()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if string(m.Value) != "hello" {
		t.Errorf("value %q, want hello", m.Value)
	}
	if err := r.CommitMessages(ctx, m); err != nil {
		t.Fatalf("commit: %v", err)
	}
}
