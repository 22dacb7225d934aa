package dlq

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/kafkaclient"
	"github.com/predlog/predlog/internal/testenv"
)

func TestParseList(t *testing.T) {
	tests := []struct {
		give    string
		want    []string
		wantErr bool
	}{
		{give: "", want: nil},
		{give: "  ", want: nil},
		{give: "invalid_time", want: []string{"invalid_time"}},
		{give: "clickhouse_rejected, invalid_time", want: []string{"clickhouse_rejected", "invalid_time"}},
		{give: "a,b,a", want: []string{"a", "b"}},
		{give: "a,,b", wantErr: true},
		{give: "a,", wantErr: true},
		{give: ",", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseList(tt.give)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseList(%q) error = %v, want error %v", tt.give, err, tt.wantErr)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseList(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestFilterKeep(t *testing.T) {
	r := Rejected{Topic: "predlog.predictions", Code: "invalid_time"}
	tests := []struct {
		name string
		f    Filter
		want bool
	}{
		{"all", Filter{}, true},
		{"code", Filter{Codes: []string{"clickhouse_rejected", "invalid_time"}}, true},
		{"other code", Filter{Codes: []string{"clickhouse_rejected"}}, false},
		{"topic", Filter{SourceTopics: []string{"predlog.predictions"}}, true},
		{"other topic", Filter{SourceTopics: []string{"predlog.outcomes"}}, false},
		{"both", Filter{Codes: []string{"invalid_time"}, SourceTopics: []string{"predlog.predictions"}}, true},
		{"code but not topic", Filter{Codes: []string{"invalid_time"}, SourceTopics: []string{"predlog.outcomes"}}, false},
	}
	for _, tt := range tests {
		if got := tt.f.Keep(r); got != tt.want {
			t.Errorf("%s: Keep = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSourcePartition(t *testing.T) {
	parts := []int{0, 1, 2}
	for _, tt := range []struct{ give, want int }{{0, 0}, {2, 2}, {4, 1}} {
		if got := (sourcePartition{}).Balance(kafka.Message{Partition: tt.give}, parts...); got != tt.want {
			t.Errorf("source partition %d: Balance = %d, want %d", tt.give, got, tt.want)
		}
	}
	m := kafka.Message{Partition: -1, Key: []byte("k")}
	if a, b := (sourcePartition{}).Balance(m, parts...), (sourcePartition{}).Balance(m, parts...); a != b || a < 0 || a > 2 {
		t.Errorf("unknown partition: Balance = %d then %d, want one of 0-2 twice", a, b)
	}
}

// TestReplay writes rejected messages of two codes and two source topics
// to a DLQ with a Writer (one too large, so written without its value), a
// message that is not a DLQ message, and replays them step by step.
func TestReplay(t *testing.T) {
	st := testenv.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	src1, src2 := st.Topic(t, 2), st.Topic(t, 1)
	dlqTopic := st.Topic(t, 2)
	w := brokerWriter(t, st, Config{Topic: dlqTopic, MaxMessageBytes: 16 << 10}, nil)

	const chRejected, invalidTime = "clickhouse_rejected", "invalid_time"
	tp := kafka.Header{Key: "traceparent", Value: []byte("00-abc-01")}
	sent := []Rejected{
		{Topic: src1, Partition: 0, Offset: 10, Key: []byte("k1"), Value: []byte(`{"n":1}`), Headers: []kafka.Header{tp, {Key: "producer", Value: []byte("svc")}}, Code: chRejected, Reason: "r"},
		{Topic: src1, Partition: 1, Offset: 11, Key: []byte("k2"), Value: []byte(`{"n":2}`), Code: invalidTime, Reason: "r"},
		{Topic: src2, Partition: 0, Offset: 12, Value: []byte(`{"n":3}`), Headers: []kafka.Header{tp}, Code: chRejected, Reason: "r"},
		{Topic: src2, Partition: 0, Offset: 13, Key: []byte("k4"), Value: bytes.Repeat([]byte("x"), 20<<10), Code: chRejected, Reason: "too large for the DLQ"},
		{Topic: src1, Partition: 1, Offset: 14, Key: []byte("k5"), Value: []byte(`{"n":5}`), Code: invalidTime, Reason: "r"},
	}
	if err := w.Write(ctx, sent); err != nil {
		t.Fatalf("write: %v", err)
	}
	// Not a DLQ message: no predlog headers.
	// Its own transport: kafka.DefaultTransport, shared by the package's
	// other tests, caches metadata from before the topic existed for up to
	// its MetadataTTL (6 s), which failed this write under -race in CI.
	ptr := &kafka.Transport{}
	defer ptr.CloseIdleConnections()
	plain := &kafka.Writer{Addr: kafka.TCP(st.KafkaAddr), Topic: dlqTopic, Transport: ptr}
	var werr error
	for range 100 { // kafka-go may not see the new topic's metadata at once
		if werr = plain.WriteMessages(ctx, kafka.Message{Value: []byte("stray")}); werr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	plain.Close()

	dialer, tr := clients(t, st)

	type where struct {
		topic     string
		partition int
	}
	// What each step does and what the source topics hold after it.
	steps := []struct {
		name     string
		cfg      ReplayConfig
		want     map[ReplayKey]ReplayCounts
		listed   int // "would replay" lines
		topics   map[where][]Rejected
		earliest bool // the group had no committed offset
	}{
		{
			name: "dry run",
			cfg:  ReplayConfig{Group: "g1", Codes: []string{chRejected}, DryRun: true},
			want: map[ReplayKey]ReplayCounts{
				{chRejected, src1}:  {Replayed: 1},
				{chRejected, src2}:  {Replayed: 1, Skipped: 1},
				{invalidTime, src1}: {Filtered: 2},
			},
			listed:   2,
			earliest: true,
		},
		{
			name: "code",
			cfg:  ReplayConfig{Group: "g1", Codes: []string{chRejected}},
			want: map[ReplayKey]ReplayCounts{
				{chRejected, src1}:  {Replayed: 1},
				{chRejected, src2}:  {Replayed: 1, Skipped: 1},
				{invalidTime, src1}: {Filtered: 2},
			},
			topics:   map[where][]Rejected{{src1, 0}: {sent[0]}, {src2, 0}: {sent[2]}},
			earliest: true, // the dry run committed nothing
		},
		{
			name:   "again",
			cfg:    ReplayConfig{Group: "g1", Codes: []string{chRejected}},
			want:   map[ReplayKey]ReplayCounts{},
			topics: map[where][]Rejected{{src1, 0}: {sent[0]}, {src2, 0}: {sent[2]}},
		},
		{
			name: "source topic, another group",
			cfg:  ReplayConfig{Group: "g2", SourceTopics: []string{src1}},
			want: map[ReplayKey]ReplayCounts{
				{chRejected, src1}:  {Replayed: 1},
				{invalidTime, src1}: {Replayed: 2},
				{chRejected, src2}:  {Filtered: 2},
			},
			topics:   map[where][]Rejected{{src1, 0}: {sent[0], sent[0]}, {src1, 1}: {sent[1], sent[4]}, {src2, 0}: {sent[2]}},
			earliest: true,
		},
	}
	for i, step := range steps {
		cfg := step.cfg
		cfg.Topic, cfg.Brokers, cfg.Dialer, cfg.Transport = dlqTopic, []string{st.KafkaAddr}, dialer, tr
		cfg.Idle = 5 * time.Second
		var out bytes.Buffer
		cfg.Out = &out
		sum, err := Replay(ctx, cfg, zaptest.NewLogger(t))
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, step.name, err)
		}
		got := map[ReplayKey]ReplayCounts{}
		for k, c := range sum.Counts {
			got[k] = *c
		}
		if !reflect.DeepEqual(got, step.want) {
			t.Errorf("step %d (%s): counts %+v, want %+v", i, step.name, got, step.want)
		}
		wantInvalid := 1
		if i == 2 {
			wantInvalid = 0 // read and committed by step 1
		}
		if sum.FromEarliest != step.earliest {
			t.Errorf("step %d (%s): from earliest = %v, want %v", i, step.name, sum.FromEarliest, step.earliest)
		}
		if sum.Invalid != wantInvalid {
			t.Errorf("step %d (%s): invalid = %d, want %d", i, step.name, sum.Invalid, wantInvalid)
		}
		if n := strings.Count(out.String(), "would replay "); n != step.listed {
			t.Errorf("step %d (%s): %d lines of would replay, want %d:\n%s", i, step.name, n, step.listed, out.String())
		}
		for _, w := range []where{{src1, 0}, {src1, 1}, {src2, 0}} {
			msgs := readPartition(ctx, t, st.KafkaAddr, w.topic, w.partition)
			want := step.topics[w]
			if len(msgs) != len(want) {
				t.Errorf("step %d (%s): %s/%d holds %d messages, want %d", i, step.name, w.topic, w.partition, len(msgs), len(want))
				continue
			}
			for j, m := range msgs {
				assertReplayed(t, m, want[j])
			}
		}
	}

	// A group with a member (a consumer reading the DLQ) refuses the
	// commits: the replay says so before it produces anything.
	member := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{st.KafkaAddr}, Topic: dlqTopic, GroupID: "g3", MaxWait: 100 * time.Millisecond})
	defer member.Close()
	if _, err := member.FetchMessage(ctx); err != nil {
		t.Fatalf("member of g3: %v", err)
	}
	before := len(readPartition(ctx, t, st.KafkaAddr, src1, 0))
	cfg := ReplayConfig{Group: "g3", Topic: dlqTopic, Brokers: []string{st.KafkaAddr}, Dialer: dialer, Transport: tr, Idle: 5 * time.Second}
	if _, err := Replay(ctx, cfg, zaptest.NewLogger(t)); err == nil || !strings.Contains(err.Error(), "group g3 has members") {
		t.Errorf("replay with a group that has members: %v, want it refused naming the group", err)
	}
	if n := len(readPartition(ctx, t, st.KafkaAddr, src1, 0)); n != before {
		t.Errorf("%s/0 holds %d messages after the refused replay, want %d: produced before the refusal", src1, n, before)
	}
}

// clients returns a dialer and a transport of the test broker, as the
// ingester's config builds them.
func clients(t *testing.T, st *testenv.Stack) (*kafka.Dialer, *kafka.Transport) {
	t.Helper()
	kc := config.Kafka{Brokers: []string{st.KafkaAddr}}
	dialer, err := kafkaclient.Dialer(kc)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := kafkaclient.Transport(kc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return dialer, tr
}

// assertReplayed checks that m is the original message of r: its key,
// value and headers, and no predlog header.
func assertReplayed(t *testing.T, m kafka.Message, r Rejected) {
	t.Helper()
	if !bytes.Equal(m.Key, r.Key) || !bytes.Equal(m.Value, r.Value) {
		t.Errorf("offset %d: key %q value %q, want %q %q", r.Offset, m.Key, m.Value, r.Key, r.Value)
	}
	if len(m.Headers) != len(r.Headers) {
		t.Errorf("offset %d: headers %s, want %s", r.Offset, fmtHeaders(m.Headers), fmtHeaders(r.Headers))
		return
	}
	for i := range m.Headers {
		if m.Headers[i].Key != r.Headers[i].Key || !bytes.Equal(m.Headers[i].Value, r.Headers[i].Value) {
			t.Errorf("offset %d: headers %s, want %s", r.Offset, fmtHeaders(m.Headers), fmtHeaders(r.Headers))
			return
		}
	}
}

func fmtHeaders(hs []kafka.Header) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "[%s=%q]", h.Key, h.Value)
	}
	return b.String()
}

func TestReplaySummaryPrint(t *testing.T) {
	s := ReplaySummary{DryRun: true, Invalid: 1, Counts: map[ReplayKey]*ReplayCounts{
		{"invalid_time", "predlog.predictions"}:     {Filtered: 3},
		{"clickhouse_rejected", "predlog.outcomes"}: {Replayed: 2, Skipped: 1},
	}}
	var b bytes.Buffer
	if err := s.Print(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"CODE                 SOURCE TOPIC         WOULD REPLAY  SKIPPED (VALUE DROPPED)  FILTERED OUT\n" +
			"clickhouse_rejected  predlog.outcomes     2             1                        0\n" +
			"invalid_time         predlog.predictions  0             0                        3\n" +
			"total                                     2             1                        3\n",
		"1 messages of the dlq topic were not dlq messages",
		"Dry run: nothing was produced",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
}

// TestReplayMessage: what replay produces of one DLQ message, without a
// broker.
func TestReplayMessage(t *testing.T) {
	w, err := New(Config{Topic: "dlq", MaxMessageBytes: 16 << 10}, []string{"unused:9092"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tp := kafka.Header{Key: "traceparent", Value: []byte("00-abc-01")}
	tests := []struct {
		name        string
		give        Rejected
		wantHeaders []kafka.Header // nil: no message to produce
		wantCounts  ReplayCounts
	}{
		{
			name:        "original headers kept",
			give:        Rejected{Topic: "src", Partition: 3, Key: []byte("k"), Value: []byte("v"), Headers: []kafka.Header{tp}, Code: "invalid_time"},
			wantHeaders: []kafka.Header{tp},
			wantCounts:  ReplayCounts{Replayed: 1},
		},
		{
			// Replayed by hand with its DLQ headers, then rejected again.
			name: "an earlier rejection's headers dropped too",
			give: Rejected{Topic: "src", Value: []byte("v"), Code: "invalid_time", Headers: []kafka.Header{
				tp, {Key: HeaderErrorCode, Value: []byte("clickhouse_rejected")}, {Key: HeaderRejectedAt, Value: []byte("2026-01-01T00:00:00.000Z")},
			}},
			wantHeaders: []kafka.Header{tp},
			wantCounts:  ReplayCounts{Replayed: 1},
		},
		{
			name:       "value dropped",
			give:       Rejected{Topic: "src", Value: bytes.Repeat([]byte("x"), 20<<10), Code: "invalid_time"},
			wantCounts: ReplayCounts{Skipped: 1},
		},
		{
			name:       "filtered out",
			give:       Rejected{Topic: "src", Value: []byte("v"), Code: "invalid_json"},
			wantCounts: ReplayCounts{Filtered: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := &replayer{cfg: ReplayConfig{}, log: zaptest.NewLogger(t), filter: Filter{Codes: []string{"invalid_time"}},
				sum: ReplaySummary{Counts: map[ReplayKey]*ReplayCounts{}}}
			out, count := rp.message(w.message(&tt.give, time.Now()))
			count()
			if got := *rp.sum.Counts[ReplayKey{tt.give.Code, "src"}]; got != tt.wantCounts {
				t.Errorf("counts %+v, want %+v", got, tt.wantCounts)
			}
			if (out == nil) != (tt.wantHeaders == nil) {
				t.Fatalf("message to produce: %v, want one: %v", out, tt.wantHeaders != nil)
			}
			if out == nil {
				return
			}
			if out.Topic != "src" || out.Partition != tt.give.Partition {
				t.Errorf("to %s/%d, want src/%d", out.Topic, out.Partition, tt.give.Partition)
			}
			assertReplayed(t, *out, Rejected{Key: tt.give.Key, Value: tt.give.Value, Headers: tt.wantHeaders})
		})
	}
}

// TestReplayRebalance: a second replay of the group joins while the first
// is replaying (two runs started together, both finding the group empty).
// The group waits for the first to finish the batch in hand, commit it
// and rejoin; the two split the partitions; each message is replayed
// once. Replaying outside the generation (the group rebalancing while a
// batch is produced but not committed) produces duplicates.
func TestReplayRebalance(t *testing.T) {
	st := testenv.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	src, dlqTopic := st.Topic(t, 2), st.Topic(t, 2)
	w := brokerWriter(t, st, Config{Topic: dlqTopic}, nil)
	const n = 200
	var sent []Rejected
	for i := range n {
		sent = append(sent, Rejected{Topic: src, Partition: i % 2, Offset: int64(i), Value: fmt.Appendf(nil, `{"n":%d}`, i), Code: "clickhouse_rejected", Reason: "r"})
	}
	if err := w.Write(ctx, sent); err != nil {
		t.Fatalf("write: %v", err)
	}
	dialer, tr := clients(t, st)
	cfg := ReplayConfig{Group: "gr", Topic: dlqTopic, Brokers: []string{st.KafkaAddr}, Dialer: dialer, Transport: tr,
		Idle: 5 * time.Second, BatchSize: 5}

	// The first run spends most of its time between producing a batch
	// and committing it, where the rebalance the second run's join starts
	// finds it.
	first, second := cfg, cfg
	started := make(chan struct{})
	var once sync.Once
	first.beforeCommit = func(int) {
		once.Do(func() { close(started) })
		time.Sleep(100 * time.Millisecond)
	}
	second.joinWithMembers = true
	type result struct {
		sum ReplaySummary
		err error
	}
	res := make(chan result, 2)
	go func() {
		sum, err := Replay(ctx, first, zaptest.NewLogger(t).Named("first"))
		res <- result{sum, err}
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the first run produced nothing")
	}
	go func() {
		sum, err := Replay(ctx, second, zaptest.NewLogger(t).Named("second"))
		res <- result{sum, err}
	}()
	replayed := 0
	for range 2 {
		r := <-res
		if r.err != nil {
			t.Errorf("replay: %v", r.err)
		}
		for _, c := range r.sum.Counts {
			replayed += c.Replayed
		}
	}
	if replayed != n {
		t.Errorf("the two runs replayed %d messages, want %d", replayed, n)
	}
	seen := map[string]int{}
	for p := range 2 {
		for _, m := range readPartition(ctx, t, st.KafkaAddr, src, p) {
			seen[string(m.Value)]++
		}
	}
	for i := range n {
		if v := fmt.Sprintf(`{"n":%d}`, i); seen[v] != 1 {
			t.Errorf("message %s produced %d times, want once", v, seen[v])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct messages produced, want %d", len(seen), n)
	}
}
