package dlq

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

var (
	testNow  = time.Date(2026, 3, 4, 5, 6, 7, 891_234_567, time.UTC)
	testTime = time.Date(2026, 3, 4, 5, 0, 0, 123_000_000, time.FixedZone("CET", 3600))
)

func newTestWriter(t *testing.T, cfg Config, reg prometheus.Registerer) *Writer {
	t.Helper()
	if cfg.Topic == "" {
		cfg.Topic = "predlog.dlq"
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	w, err := New(cfg, []string{"127.0.0.1:1"}, nil, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func header(m kafka.Message, key string) (string, int) {
	v, n := "", 0
	for _, h := range m.Headers {
		if h.Key == key {
			v, n = string(h.Value), n+1
		}
	}
	return v, n
}

func TestMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		give Rejected
		want Rejected // zero: same as give
	}{
		{
			name: "full",
			give: Rejected{
				Topic: "predlog.predictions", Partition: 7, Offset: 1234567890123,
				Key: []byte("model-1"), Value: []byte(`{"bad json`),
				Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-abc-01")}, {Key: "empty", Value: nil}},
				Time:    testTime, Code: "invalid_json", Reason: "unexpected end of JSON input",
			},
		},
		{
			name: "no key no headers no time",
			give: Rejected{Topic: "t", Partition: 0, Offset: 0, Value: []byte("v"), Code: "missing_field", Reason: "model_id"},
		},
		{
			name: "empty code becomes unknown",
			give: Rejected{Topic: "t", Partition: 1, Offset: 2, Value: []byte("v")},
			want: Rejected{Topic: "t", Partition: 1, Offset: 2, Value: []byte("v"), Code: CodeUnknown},
		},
		{
			name: "replayed dlq message keeps its old predlog headers as original",
			give: Rejected{
				Topic: "predlog.dlq-replay", Partition: 2, Offset: 9, Value: []byte("v"),
				Headers: []kafka.Header{
					{Key: HeaderErrorCode, Value: []byte("old_code")},
					{Key: HeaderSourcePartition, Value: []byte("99")},
					{Key: "x", Value: []byte("y")},
				},
				Code: "clickhouse_rejected", Reason: "Code: 53. Type mismatch",
			},
		},
	}
	w := newTestWriter(t, Config{}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want.Topic == "" {
				want = tt.give
			}
			m := w.message(&tt.give, testNow)
			if !bytes.Equal(m.Key, tt.give.Key) || !bytes.Equal(m.Value, tt.give.Value) {
				t.Errorf("key/value changed: %q/%q", m.Key, m.Value)
			}
			if !reflect.DeepEqual(m.Headers[:len(tt.give.Headers)], tt.give.Headers) && len(tt.give.Headers) > 0 {
				t.Errorf("original headers changed: %v", m.Headers)
			}
			if at, _ := header(m, HeaderRejectedAt); at != "2026-03-04T05:06:07.891Z" {
				t.Errorf("%s = %q", HeaderRejectedAt, at)
			}
			got, err := Parse(m)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			assertRejected(t, got, want)
			at, err := RejectedAt(m)
			if err != nil || !at.Equal(testNow.Truncate(time.Millisecond)) {
				t.Errorf("RejectedAt = %v, %v; want %v", at, err, testNow.Truncate(time.Millisecond))
			}
		})
	}
}

// assertRejected compares all fields; times to the millisecond.
func assertRejected(t *testing.T, got, want Rejected) {
	t.Helper()
	if !got.Time.Equal(want.Time.Truncate(time.Millisecond)) {
		t.Errorf("Time = %v, want %v", got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if len(got.Key) == 0 && len(want.Key) == 0 {
		got.Key, want.Key = nil, nil
	}
	if len(got.Headers) == 0 && len(want.Headers) == 0 {
		got.Headers, want.Headers = nil, nil
	}
	for i := range got.Headers {
		if len(got.Headers[i].Value) == 0 {
			got.Headers[i].Value = nil
		}
	}
	for i := range want.Headers {
		if len(want.Headers[i].Value) == 0 {
			want.Headers[i].Value = nil
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestSourceTimestampFormat(t *testing.T) {
	w := newTestWriter(t, Config{}, nil)
	m := w.message(&Rejected{Topic: "t", Time: testTime, Code: "c"}, testNow)
	if got, _ := header(m, HeaderSourceTimestamp); got != "2026-03-04T04:00:00.123Z" {
		t.Errorf("%s = %q, want UTC RFC 3339 ms", HeaderSourceTimestamp, got)
	}
	if _, err := time.Parse(time.RFC3339, "2026-03-04T04:00:00.123Z"); err != nil {
		t.Fatal(err)
	}
}

func TestReasonTruncated(t *testing.T) {
	w := newTestWriter(t, Config{MaxReasonBytes: 100}, nil)
	long := strings.Repeat("é", 200) // 2 bytes each
	m := w.message(&Rejected{Topic: "t", Code: "c", Reason: long}, testNow)
	got, _ := header(m, HeaderErrorMessage)
	if len(got) > 100 || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") || !strings.HasPrefix(long, strings.TrimSuffix(got, "…")) {
		t.Errorf("reason header %q (%d bytes): want a valid prefix of at most 100 bytes ending in …", got, len(got))
	}
	// Default is 1 KiB.
	w = newTestWriter(t, Config{}, nil)
	m = w.message(&Rejected{Topic: "t", Code: "c", Reason: strings.Repeat("x", 5000)}, testNow)
	if got, _ := header(m, HeaderErrorMessage); len(got) > DefaultMaxReasonBytes || len(got) < DefaultMaxReasonBytes-4 {
		t.Errorf("default-capped reason is %d bytes, want about %d", len(got), DefaultMaxReasonBytes)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		give string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"ééééé", 6, "é…"}, // 3 bytes left for text: one é fits, the next would split
		{"ééééé", 5, "é…"}, // 2 bytes left: one é
		{"ééééé", 4, "…"},  // 1 byte left: mid-rune, back off to nothing
		{"abcdef", 2, ""},  // too small even for the ellipsis
		{"", 0, ""},
	}
	for _, tt := range tests {
		if got := truncate(tt.give, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.give, tt.n, got, tt.want)
		}
	}
}

func TestValueDropped(t *testing.T) {
	w := newTestWriter(t, Config{MaxMessageBytes: 4096}, nil)
	tests := []struct {
		name                            string
		valueLen, keyLen, headerLen     int
		wantValue, wantHeaders, wantKey bool // kept
	}{
		{"small", 100, 1, 10, true, true, true},
		{"just fits", 3000, 1, 10, true, true, true},
		{"too large", 4096, 1, 10, false, true, true},
		// Without its value the message would still be over the limit:
		// the broker refused it and the partition retried it for ever.
		{"large headers", 10, 1, 5000, false, false, true},
		{"large key", 10, 5000, 10, false, false, false},
		{"large key, no headers", 10, 5000, 0, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Rejected{Topic: "t", Code: "c", Key: bytes.Repeat([]byte("k"), tt.keyLen), Value: bytes.Repeat([]byte("v"), tt.valueLen)}
			if tt.headerLen > 0 {
				r.Headers = []kafka.Header{{Key: "trace", Value: bytes.Repeat([]byte("h"), tt.headerLen)}}
			}
			m := w.message(&r, testNow)
			for _, c := range []struct {
				header string
				kept   bool
				want   int
			}{{HeaderValueDropped, tt.wantValue, tt.valueLen}, {HeaderHeadersDropped, tt.wantHeaders, len(r.Headers)}, {HeaderKeyDropped, tt.wantKey, tt.keyLen}} {
				v, n := header(m, c.header)
				if (n == 0) != c.kept {
					t.Errorf("%s header present = %v, want %v", c.header, n == 1, !c.kept)
				} else if !c.kept && v != strconv.Itoa(c.want) {
					t.Errorf("%s = %q, want %d", c.header, v, c.want)
				}
			}
			got, err := Parse(m)
			if err != nil {
				t.Fatal(err)
			}
			if (got.Value != nil) != tt.wantValue || (len(got.Headers) == len(r.Headers)) != tt.wantHeaders && len(r.Headers) > 0 ||
				(got.Key != nil) != tt.wantKey {
				t.Errorf("Parse = value %d bytes, %d headers, key %d bytes; want value %v, headers %v, key %v",
					len(got.Value), len(got.Headers), len(got.Key), tt.wantValue, tt.wantHeaders, tt.wantKey)
			}
			if maxSize(&m) > 4096 {
				t.Errorf("message is %d bytes, over the limit", maxSize(&m))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	w := newTestWriter(t, Config{}, nil)
	valid := w.message(&Rejected{Topic: "t", Partition: 1, Offset: 2, Time: testTime, Code: "c"}, testNow)
	with := func(key, value string) kafka.Message {
		m := valid
		m.Headers = nil
		for _, h := range valid.Headers {
			if h.Key == key {
				if value == "\x00drop" {
					continue
				}
				h.Value = []byte(value)
			}
			m.Headers = append(m.Headers, h)
		}
		return m
	}
	tests := []struct {
		name    string
		give    kafka.Message
		wantErr string
	}{
		{"not a dlq message", kafka.Message{Value: []byte("x")}, "missing header " + HeaderErrorCode},
		{"no topic", with(HeaderSourceTopic, "\x00drop"), "missing header " + HeaderSourceTopic},
		{"no partition", with(HeaderSourcePartition, "\x00drop"), "missing header " + HeaderSourcePartition},
		{"no offset", with(HeaderSourceOffset, "\x00drop"), "missing header " + HeaderSourceOffset},
		{"bad partition", with(HeaderSourcePartition, "x"), HeaderSourcePartition},
		{"bad offset", with(HeaderSourceOffset, "1.5"), HeaderSourceOffset},
		{"bad timestamp", with(HeaderSourceTimestamp, "yesterday"), HeaderSourceTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.give)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := Parse(valid); err != nil {
		t.Errorf("Parse(valid) = %v", err)
	}
	if _, err := RejectedAt(kafka.Message{}); err == nil {
		t.Error("RejectedAt of a message without the header: no error")
	}
}

func TestBalancer(t *testing.T) {
	w := newTestWriter(t, Config{}, nil)
	parts := []int{0, 1, 2}
	tests := []struct {
		name    string
		give    Rejected
		headers []kafka.Header
		want    int
	}{
		{"partition 0", Rejected{Partition: 0}, nil, 0},
		{"partition 2", Rejected{Partition: 2}, nil, 2},
		{"partition 4 wraps", Rejected{Partition: 4}, nil, 1},
		{"original header ignored", Rejected{Partition: 5}, []kafka.Header{{Key: HeaderSourcePartition, Value: []byte("0")}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.give.Headers = tt.headers
			m := w.message(&tt.give, testNow)
			if got := (sourcePartitionBalancer{}).Balance(m, parts...); got != tt.want {
				t.Errorf("Balance = %d, want %d", got, tt.want)
			}
		})
	}
	// Unknown source partition: hash of the key, stable and in range.
	m := w.message(&Rejected{Partition: -1, Key: []byte("some-key")}, testNow)
	first := (sourcePartitionBalancer{}).Balance(m, parts...)
	for range 10 {
		if got := (sourcePartitionBalancer{}).Balance(m, parts...); got != first || got < 0 || got > 2 {
			t.Fatalf("Balance = %d, first %d", got, first)
		}
	}
	if got := (sourcePartitionBalancer{}).Balance(m, 5); got != 5 {
		t.Errorf("single partition 5: Balance = %d", got)
	}
}

func TestCodeLabelsCapped(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	w := newTestWriter(t, Config{}, reg)
	for i := range 40 {
		w.counter(fmt.Sprintf("code_%02d", i)).Inc()
	}
	w.counter("code_00").Inc() // known code stays itself
	w.counter("").Inc()        // already past the cap: other
	if n := testutil.CollectAndCount(reg, "predlog_ingester_dlq_messages_total"); n != maxCodes+1 {
		t.Errorf("%d series, want %d (32 codes + other)", n, maxCodes+1)
	}
	for _, c := range []struct {
		code string
		want float64
	}{{"code_00", 2}, {"code_31", 1}, {"other", 9}} {
		if got := testutil.ToFloat64(w.messages.WithLabelValues(c.code)); got != c.want {
			t.Errorf("code %s = %v, want %v", c.code, got, c.want)
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		brokers []string
		wantErr string
	}{
		{"ok", Config{Topic: "d"}, []string{"b:9092"}, ""},
		{"no topic", Config{}, []string{"b:9092"}, "kafka.topics.dlq"},
		{"no brokers", Config{Topic: "d"}, nil, "kafka.brokers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := New(tt.cfg, tt.brokers, nil, nil, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
	reg := prometheus.NewRegistry()
	newTestWriter(t, Config{}, reg)
	if _, err := New(Config{Topic: "d"}, []string{"b:9092"}, nil, nil, reg); err == nil {
		t.Error("second New on one registry: no error")
	}
}

func TestWriteError(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := newTestWriter(t, Config{MaxAttempts: 1}, reg) // 127.0.0.1:1: connection refused
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.Write(ctx, []Rejected{{Topic: "t", Code: "c", Value: []byte("v")}})
	if err == nil || !strings.Contains(err.Error(), "dlq: write 1 messages") {
		t.Fatalf("Write = %v, want an error", err)
	}
	if got := testutil.ToFloat64(w.writeErrors); got != 1 {
		t.Errorf("write errors = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(reg, "predlog_ingester_dlq_messages_total"); n != 0 {
		t.Errorf("%d message series after a failed write, want 0", n)
	}
	if err := w.Write(ctx, nil); err != nil {
		t.Errorf("Write(nil) = %v", err)
	}
}
