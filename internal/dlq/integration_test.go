package dlq

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/kafkaclient"
	"github.com/predlog/predlog/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestWriteReadBack writes rejected messages to a 3-partition DLQ, reads
// every partition back and parses what it reads.
func TestWriteReadBack(t *testing.T) {
	st := testenv.Get(t)
	const dlqPartitions = 3
	topic := st.Topic(t, dlqPartitions)
	reg := prometheus.NewRegistry()
	w := brokerWriter(t, st, Config{Topic: topic}, reg)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	base := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	var sent []Rejected
	for i := range 10 {
		r := Rejected{
			Topic:     "predlog.predictions",
			Partition: i % 4,
			Offset:    int64(1000 + i),
			Key:       fmt.Appendf(nil, "key-%d", i),
			Value:     fmt.Appendf(nil, `{"i":%d`, i),
			Headers:   []kafka.Header{{Key: "traceparent", Value: fmt.Appendf(nil, "00-%032x-01", i)}, {Key: "producer", Value: []byte("loadgen")}},
			Time:      base.Add(time.Duration(i) * time.Second),
			Code:      []string{"invalid_json", "missing_field"}[i%2],
			Reason:    fmt.Sprintf("message %d is broken", i),
		}
		if i == 9 { // no key, headers or timestamp
			r.Key, r.Headers, r.Time = nil, nil, time.Time{}
		}
		sent = append(sent, r)
	}
	// Two calls, as the ingester would make them.
	if err := w.Write(ctx, sent[:4]); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Write(ctx, sent[4:]); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	for code, want := range map[string]float64{"invalid_json": 5, "missing_field": 5} {
		if got := testutil.ToFloat64(w.messages.WithLabelValues(code)); got != want {
			t.Errorf("messages{code=%s} = %v, want %v", code, got, want)
		}
	}

	byOffset := map[int64]Rejected{}
	for p := range dlqPartitions {
		for _, m := range readPartition(ctx, t, st.KafkaAddr, topic, p) {
			got, err := Parse(m)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if want := got.Partition % dlqPartitions; p != want {
				t.Errorf("source partition %d landed in DLQ partition %d, want %d", got.Partition, p, want)
			}
			if at, err := RejectedAt(m); err != nil || at.IsZero() {
				t.Errorf("RejectedAt = %v, %v", at, err)
			}
			byOffset[got.Offset] = got
		}
	}
	if len(byOffset) != len(sent) {
		t.Fatalf("read %d messages, want %d", len(byOffset), len(sent))
	}
	for _, want := range sent {
		assertRejected(t, byOffset[want.Offset], want)
	}
}

// TestAutoCreateTopic writes to a DLQ topic that does not exist yet.
func TestAutoCreateTopic(t *testing.T) {
	st := testenv.Get(t)
	topic := fmt.Sprintf("dlq-auto-%d", time.Now().UnixNano())
	w := brokerWriter(t, st, Config{Topic: topic}, nil)
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := Rejected{Topic: "src", Partition: 0, Offset: 42, Value: []byte("v"), Code: "invalid_json", Reason: "r"}
	// The first metadata request creates the topic; kafka-go may report
	// it missing until the leader is known, so retry briefly.
	var werr error
	for range 50 {
		if werr = w.Write(ctx, []Rejected{want}); werr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if werr != nil {
		t.Fatalf("write: %v", werr)
	}
	msgs := readPartition(ctx, t, st.KafkaAddr, topic, 0)
	if len(msgs) != 1 {
		t.Fatalf("read %d messages, want 1", len(msgs))
	}
	got, err := Parse(msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	assertRejected(t, got, want)
}

// brokerWriter is a Writer of cfg to st's broker, its transport's idle
// connections closed when the test ends.
func brokerWriter(t *testing.T, st *testenv.Stack, cfg Config, reg prometheus.Registerer) *Writer {
	t.Helper()
	kc := config.Kafka{Brokers: []string{st.KafkaAddr}}
	tr, err := kafkaclient.Transport(kc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	w, err := New(cfg, kc.Brokers, tr, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// readPartition reads everything up to the partition's high watermark.
func readPartition(ctx context.Context, t *testing.T, addr, topic string, partition int) []kafka.Message {
	t.Helper()
	conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, partition)
	if err != nil {
		t.Fatalf("dial leader: %v", err)
	}
	last, err := conn.ReadLastOffset()
	conn.Close()
	if err != nil {
		t.Fatalf("last offset: %v", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: partition, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	for range last {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, partition, err)
		}
		out = append(out, m)
	}
	return out
}

// TestEmptyValueKept: the DLQ copy of a zero-length message has a
// zero-length value, not a null one (a tombstone, which compaction
// deletes and tools show as length -1). The ingester hands over the value
// as kafka-go's reader returns it: nil for zero bytes.
func TestEmptyValueKept(t *testing.T) {
	st := testenv.Get(t)
	topic := st.Topic(t, 1)
	w := brokerWriter(t, st, Config{Topic: topic}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tests := []struct {
		name  string
		value []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
	}
	var sent []Rejected
	for i, tt := range tests {
		sent = append(sent, Rejected{Topic: "src", Offset: int64(i), Value: tt.value, Code: "empty", Reason: tt.name})
	}
	if err := w.Write(ctx, sent); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// kafka-go's reader cannot tell a null value from an empty one; a
	// fetch's records can.
	// Its own transport: kafka.DefaultTransport may hold metadata from
	// before the topic existed (another test, or -count) for up to 6 s.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(st.KafkaAddr), Transport: tr}
	res, err := c.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: 0, Offset: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: time.Second})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	for i, tt := range tests {
		rec, err := res.Records.ReadRecord()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if rec.Value == nil {
			t.Errorf("%s value: DLQ copy has a null value, want an empty one", tt.name)
		} else if n := rec.Value.Len(); n != 0 {
			t.Errorf("%s value: DLQ copy has %d bytes, want 0", tt.name, n)
		}
	}
}

// TestBrokerRefusesTooLarge sets MaxMessageBytes above what the broker
// takes (the devstack's, like Kafka's default, is about 1 MB): a message
// the broker refuses on its own is written without its value instead of
// failing every retry, and messages refused only as a batch keep theirs.
func TestBrokerRefusesTooLarge(t *testing.T) {
	st := testenv.Get(t)
	big := bytes.Repeat([]byte("x"), 1536<<10) // refused alone
	mid := bytes.Repeat([]byte("m"), 400<<10)  // fits alone, three in a batch do not
	tests := []struct {
		name        string
		give        []Rejected
		wantDropped []bool // by message: value dropped
	}{
		{
			name: "one message too large",
			give: []Rejected{
				{Topic: "src", Offset: 1, Key: []byte("k1"), Value: []byte("small"), Code: "invalid_json", Reason: "r1"},
				{Topic: "src", Offset: 2, Key: []byte("k2"), Value: big, Code: "invalid_json", Reason: "r2",
					Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-abc-01")}}},
				{Topic: "src", Offset: 3, Value: []byte("small too"), Code: "missing_field", Reason: "r3"},
			},
			wantDropped: []bool{false, true, false},
		},
		{
			name: "batch too large",
			give: []Rejected{
				{Topic: "src", Offset: 1, Value: mid, Code: "invalid_json", Reason: "r1"},
				{Topic: "src", Offset: 2, Value: mid, Code: "invalid_json", Reason: "r2"},
				{Topic: "src", Offset: 3, Value: mid, Code: "invalid_json", Reason: "r3"},
			},
			wantDropped: []bool{false, false, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := st.Topic(t, 1)
			reg := prometheus.NewRegistry()
			w := brokerWriter(t, st, Config{Topic: topic, MaxMessageBytes: 4 << 20, MaxAttempts: 1}, reg)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := w.Write(ctx, tt.give); err != nil {
				t.Fatalf("write: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			wantDropped := 0
			for _, d := range tt.wantDropped {
				if d {
					wantDropped++
				}
			}
			if got := testutil.ToFloat64(w.droppedRefused); got != float64(wantDropped) {
				t.Errorf("values dropped (broker_refused) = %v, want %d", got, wantDropped)
			}
			if got := testutil.ToFloat64(w.droppedLimit); got != 0 {
				t.Errorf("values dropped (max_message_bytes) = %v, want 0", got)
			}
			if got := testutil.ToFloat64(w.writeErrors); got != 0 {
				t.Errorf("write errors = %v, want 0", got)
			}

			byOffset := map[int64]kafka.Message{}
			for _, m := range readPartition(ctx, t, st.KafkaAddr, topic, 0) {
				got, err := Parse(m)
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				if _, dup := byOffset[got.Offset]; dup {
					t.Errorf("offset %d written twice", got.Offset)
				}
				byOffset[got.Offset] = m
			}
			if len(byOffset) != len(tt.give) {
				t.Fatalf("read %d messages, want %d", len(byOffset), len(tt.give))
			}
			for i, want := range tt.give {
				m := byOffset[want.Offset]
				got, _ := Parse(m)
				if !tt.wantDropped[i] {
					assertRejected(t, got, want)
					continue
				}
				if v, n := header(m, HeaderValueDropped); n != 1 || v != strconv.Itoa(len(want.Value)) {
					t.Errorf("offset %d: %s = %q (%d times), want %d", want.Offset, HeaderValueDropped, v, n, len(want.Value))
				}
				// Everything but the value is kept.
				if len(got.Value) != 0 {
					t.Errorf("offset %d: value of %d bytes, want none", want.Offset, len(got.Value))
				}
				got.Value, want.Value = nil, nil
				assertRejected(t, got, want)
			}
		})
	}
}

func TestRefusedTooLarge(t *testing.T) {
	tests := []struct {
		give error
		want bool
	}{
		{kafka.MessageSizeTooLarge, true},
		{kafka.RecordListTooLarge, true},
		{fmt.Errorf("produce: %w", kafka.MessageSizeTooLarge), true},
		{kafka.WriteErrors{nil, kafka.MessageSizeTooLarge}, true},
		{kafka.WriteErrors{kafka.LeaderNotAvailable, nil}, false},
		{kafka.InvalidRecord, false}, // a topic rule, not a size
		{kafka.LeaderNotAvailable, false},
		{context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		if got := refusedTooLarge(tt.give); got != tt.want {
			t.Errorf("refusedTooLarge(%v) = %v, want %v", tt.give, got, tt.want)
		}
	}
}
