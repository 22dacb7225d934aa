package kafkabroker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestNewErrors(t *testing.T) {
	// Occupy a port so that New must fail to listen on it.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name    string
		give    Config
		wantErr string
	}{
		{
			name:    "zero partitions",
			give:    Config{Addr: "127.0.0.1:0", Topics: map[string]int{"a": 0}},
			wantErr: `invalid partitions for topic "a": 0, must be > 0`,
		},
		{
			name:    "bad topic name",
			give:    Config{Addr: "127.0.0.1:0", Topics: map[string]int{"a/b": 1}},
			wantErr: `invalid topic "a/b": want at most 249 of [a-zA-Z0-9._-]`,
		},
		{
			name:    "negative default partitions",
			give:    Config{Addr: "127.0.0.1:0", DefaultPartitions: -1},
			wantErr: "invalid default partitions -1: must be > 0",
		},
		{
			name:    "advertised host not an IP",
			give:    Config{Addr: "127.0.0.1:0", AdvertisedHost: "localhost"},
			wantErr: `invalid advertised host "localhost": must be an IP address`,
		},
		{
			name:    "port in use",
			give:    Config{Addr: busy.Addr().String()},
			wantErr: "listen: listen tcp " + busy.Addr().String() + ": bind: address already in use",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.give, nil)
			if err == nil {
				b.Close()
				t.Fatalf("New succeeded, want error %q", tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Fatalf("New error = %q, want %q", err, tt.wantErr)
			}
		})
	}
}

// Clients bootstrap from Addr and then dial whatever Metadata advertises, so
// that must be the same dialable 127.0.0.1:port, also when the broker listens
// on every interface.
func TestAdvertisedAddr(t *testing.T) {
	tests := []struct {
		name     string
		give     Config
		wantHost string
	}{
		{name: "loopback", give: Config{Addr: "127.0.0.1:0"}, wantHost: "127.0.0.1"},
		{name: "all interfaces", give: Config{Addr: "0.0.0.0:0"}, wantHost: "127.0.0.1"},
		{name: "empty host", give: Config{Addr: ":0"}, wantHost: "127.0.0.1"},
		{name: "explicit", give: Config{Addr: "0.0.0.0:0", AdvertisedHost: "127.0.0.2"}, wantHost: "127.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			b := startBroker(t, tt.give)
			host, port, err := net.SplitHostPort(b.Addr())
			if err != nil || host != tt.wantHost || port == "0" {
				t.Fatalf("Addr() = %q, want %s:<port>", b.Addr(), tt.wantHost)
			}

			c := &kafka.Client{Addr: kafka.TCP(b.Addr()), Transport: newTransport(t)}
			resp, err := c.Metadata(ctx, &kafka.MetadataRequest{})
			if err != nil {
				t.Fatalf("metadata: %v", err)
			}
			var got []string
			for _, br := range resp.Brokers {
				got = append(got, net.JoinHostPort(br.Host, strconv.Itoa(br.Port)))
			}
			if want := []string{b.Addr()}; !slices.Equal(got, want) {
				t.Fatalf("advertised brokers = %v, want %v", got, want)
			}
			if resp.Controller.Host != tt.wantHost {
				t.Fatalf("controller host = %q, want %q", resp.Controller.Host, tt.wantHost)
			}
		})
	}
}

func TestTopics(t *testing.T) {
	ctx := testCtx(t)
	b := startBroker(t, Config{
		Topics:            map[string]int{"seeded.three": 3, "seeded.five": 5},
		DefaultPartitions: 2,
	})

	if err := b.CreateTopic(ctx, "created.four", 4); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	err := b.CreateTopic(ctx, "created.four", 4)
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("CreateTopic twice: error = %v, want TopicAlreadyExists", err)
	}
	if want := `create topic "created.four": ` + kerr.TopicAlreadyExists.Error(); err.Error() != want {
		t.Fatalf("CreateTopic twice: error = %q, want %q", err, want)
	}
	if err := b.CreateTopic(ctx, "created.zero", 0); err == nil ||
		err.Error() != `invalid partitions for topic "created.zero": 0, must be > 0` {
		t.Fatalf("CreateTopic with 0 partitions: error = %v", err)
	}

	// A kafka-go writer creates the topic it writes to; it gets
	// DefaultPartitions.
	w := newWriter(t, b, "auto.created", func(w *kafka.Writer) { w.AllowAutoTopicCreation = true })
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("write to auto-created topic: %v", err)
	}

	got := partitionCounts(ctx, t, b, "seeded.three", "seeded.five", "created.four", "auto.created")
	want := map[string]int{"seeded.three": 3, "seeded.five": 5, "created.four": 4, "auto.created": 2}
	if !maps.Equal(got, want) {
		t.Fatalf("partition counts = %v, want %v", got, want)
	}

	r := newReader(t, kafka.ReaderConfig{Brokers: []string{b.Addr()}, Topic: "auto.created", Partition: 0})
	r2 := newReader(t, kafka.ReaderConfig{Brokers: []string{b.Addr()}, Topic: "auto.created", Partition: 1})
	// One message landed in one of the two partitions; read whichever.
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan kafka.Message, 2)
	var wg sync.WaitGroup
	for _, r := range []*kafka.Reader{r, r2} {
		wg.Go(func() {
			if m, err := r.FetchMessage(readCtx); err == nil {
				msgs <- m
			}
		})
	}
	m := <-msgs
	cancel()
	wg.Wait()
	if got := msgString(m); got != "k=v" {
		t.Fatalf("read back %q, want %q", got, "k=v")
	}
}

func TestAutoCreateDisabled(t *testing.T) {
	ctx := testCtx(t)
	b := startBroker(t, Config{DisableAutoTopicCreation: true})
	c := &kafka.Client{Addr: kafka.TCP(b.Addr()), Transport: newTransport(t)}
	resp, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"nope"}})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if len(resp.Topics) != 1 || !errors.Is(resp.Topics[0].Error, kafka.UnknownTopicOrPartition) {
		t.Fatalf("metadata topics = %+v, want one with UnknownTopicOrPartition", resp.Topics)
	}
}

// Two readers in one group split a topic's partitions between them, like two
// ingester replicas will, and commit through the group coordinator; when one
// leaves, the other takes over its partitions from the committed offsets.
func TestConsumerGroup(t *testing.T) {
	tests := []struct {
		name      string
		balancers []kafka.GroupBalancer
	}{
		{name: "default balancers"}, // kafka-go offers range, then round robin
		{name: "range", balancers: []kafka.GroupBalancer{kafka.RangeGroupBalancer{}}},
		{name: "round robin", balancers: []kafka.GroupBalancer{kafka.RoundRobinGroupBalancer{}}},
	}
	b := startBroker(t, Config{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testConsumerGroup(t, b, fmt.Sprintf("group.%d", i), tt.balancers)
		})
	}
}

func testConsumerGroup(t *testing.T, b *Broker, name string, balancers []kafka.GroupBalancer) {
	const (
		partitions = 4
		perPart    = 10
	)
	var (
		topic = name
		group = name + ".ingester"
		ctx   = testCtx(t)
	)
	if err := b.CreateTopic(ctx, topic, partitions); err != nil {
		t.Fatal(err)
	}
	readerCfg := kafka.ReaderConfig{
		Brokers:           []string{b.Addr()},
		GroupID:           group,
		Topic:             topic,
		GroupBalancers:    balancers,
		CommitInterval:    0, // synchronous commits, as the ingester does
		HeartbeatInterval: 100 * time.Millisecond,
		JoinGroupBackoff:  100 * time.Millisecond,
		SessionTimeout:    6 * time.Second, // kfake's minimum
		RebalanceTimeout:  5 * time.Second,
		StartOffset:       kafka.FirstOffset,
	}
	readers := []*kafka.Reader{newReader(t, readerCfg), newReader(t, readerCfg)}
	// Produce only once both readers hold their assignment, so neither can
	// consume everything alone before the other joins.
	if err := b.WaitGroupStable(ctx, group, 2); err != nil {
		t.Fatal(err)
	}

	// RoundRobin puts message i in partition i%partitions.
	w := newWriter(t, b, topic, func(w *kafka.Writer) { w.Balancer = &kafka.RoundRobin{} })
	write := func(prefix string, n int) []string {
		t.Helper()
		var msgs []kafka.Message
		var want []string
		for i := range n {
			m := kafka.Message{Key: fmt.Appendf(nil, "%s%02d", prefix, i), Value: []byte("v")}
			msgs = append(msgs, m)
			want = append(want, msgString(m))
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("write: %v", err)
		}
		return want
	}
	// consume runs the ingester's loop (fetch, commit, next) on each reader
	// until n messages have been consumed in all, and returns what each
	// reader consumed and from which partitions.
	consume := func(readers []*kafka.Reader, n int) (msgs [][]string, parts []map[int]bool) {
		t.Helper()
		var (
			mu      sync.Mutex
			total   int // distinct messages
			seen    = map[string]bool{}
			allRead = make(chan struct{})
			wg      sync.WaitGroup
		)
		readCtx, stop := context.WithCancel(ctx)
		defer stop()
		msgs = make([][]string, len(readers))
		parts = make([]map[int]bool, len(readers))
		for i, r := range readers {
			parts[i] = make(map[int]bool)
			wg.Go(func() {
				for {
					m, err := r.FetchMessage(readCtx)
					if err != nil {
						return // readCtx canceled: done, or the test timed out
					}
					if err := r.CommitMessages(readCtx, m); err != nil {
						if readCtx.Err() == nil { // not our own stop once all were read
							t.Errorf("reader %d: commit: %v", i, err)
						}
						return
					}
					mu.Lock()
					msgs[i] = append(msgs[i], msgString(m))
					parts[i][m.Partition] = true
					if !seen[msgString(m)] {
						seen[msgString(m)] = true
						total++
						if total == n {
							close(allRead)
						}
					}
					mu.Unlock()
				}
			})
		}
		select {
		case <-allRead:
		case <-ctx.Done():
			mu.Lock()
			t.Errorf("timed out after consuming %d of %d messages", total, n)
			mu.Unlock()
		}
		stop()
		wg.Wait()
		return msgs, parts
	}

	sent := write("k", partitions*perPart)
	msgs, parts := consume(readers, len(sent))
	if got := slices.Sorted(slices.Values(slices.Concat(msgs...))); !slices.Equal(got, sent) {
		t.Errorf("consumed %v, want each of %v once", got, sent)
	}
	var union []int
	for i, ps := range parts {
		if len(ps) == 0 {
			t.Errorf("reader %d got no partitions", i)
		}
		union = append(union, slices.Collect(maps.Keys(ps))...)
	}
	slices.Sort(union)
	if want := []int{0, 1, 2, 3}; !slices.Equal(union, want) {
		t.Errorf("partitions consumed by the two readers = %v, want each exactly once: %v", union, want)
	}
	// Every commit reached the coordinator: each partition's committed
	// offset is its end offset.
	info := b.cluster.GroupInfo(group)
	for p := range int32(partitions) {
		if got := info.Commits[topic][p].Offset; got != perPart {
			t.Errorf("partition %d committed offset = %d, want %d", p, got, perPart)
		}
	}

	// Reader 1 leaves (LeaveGroup); reader 0 takes over all partitions and
	// resumes from the commits (OffsetFetch), not from FirstOffset.
	if err := readers[1].Close(); err != nil {
		t.Fatalf("close reader: %v", err)
	}
	sent = write("late", partitions)
	msgs, _ = consume(readers[:1], len(sent))
	// At least once: a message fetched as the group rebalanced may come
	// again from the committed offset (kafka-go semantics), none may miss.
	if got := slices.Compact(slices.Sorted(slices.Values(msgs[0]))); !slices.Equal(got, sent) {
		t.Errorf("after rebalance the remaining reader consumed %v, want %v", got, sent)
	}
}

func TestCompression(t *testing.T) {
	codecs := []struct {
		name  string
		codec kafka.Compression
	}{
		{"none", 0},
		{"gzip", kafka.Gzip},
		{"snappy", kafka.Snappy},
		{"lz4", kafka.Lz4},
		{"zstd", kafka.Zstd},
	}
	ctx := testCtx(t)
	b := startBroker(t, Config{})

	// Record the codec of each batch the broker receives, so the test fails
	// if the writer silently sent uncompressed batches.
	var (
		mu        sync.Mutex
		gotCodecs = make(map[string][]int16) // topic -> codec of each batch
	)
	b.cluster.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		b.cluster.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		for _, tp := range kreq.(*kmsg.ProduceRequest).Topics {
			for _, p := range tp.Partitions {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(p.Records); err != nil {
					t.Errorf("produce to %s: parse record batch: %v", tp.Topic, err)
					continue
				}
				gotCodecs[tp.Topic] = append(gotCodecs[tp.Topic], rb.Attributes&0x07)
			}
		}
		return nil, nil, false // let kfake handle the request as usual
	})

	for _, tt := range codecs {
		t.Run(tt.name, func(t *testing.T) {
			topic := "compression." + tt.name
			if err := b.CreateTopic(ctx, topic, 1); err != nil {
				t.Fatal(err)
			}
			var sent []kafka.Message
			for i := range 20 {
				sent = append(sent, kafka.Message{
					Key: fmt.Appendf(nil, "key-%d", i),
					// Repetitive values so every codec really compresses.
					Value: fmt.Appendf(nil, "%s-%d", tt.name+tt.name+tt.name+tt.name, i),
					Headers: []kafka.Header{
						{Key: "model", Value: []byte("m" + strconv.Itoa(i%3))},
						{Key: "schema", Value: []byte("v1")},
					},
				})
			}
			w := newWriter(t, b, topic, func(w *kafka.Writer) { w.Compression = tt.codec })
			if err := w.WriteMessages(ctx, sent...); err != nil {
				t.Fatalf("write: %v", err)
			}
			mu.Lock()
			// kafka-go's Compression values are the protocol's codec ids.
			if got, want := gotCodecs[topic], []int16{int16(tt.codec)}; !slices.Equal(got, want) {
				t.Errorf("codecs of produced batches = %v, want %v", got, want)
			}
			mu.Unlock()
			r := newReader(t, kafka.ReaderConfig{Brokers: []string{b.Addr()}, Topic: topic, Partition: 0})
			got := readN(ctx, t, r, len(sent))
			for i := range sent {
				if g, w := msgString(got[i]), msgString(sent[i]); g != w || got[i].Offset != int64(i) {
					t.Errorf("message %d = %q at offset %d, want %q at offset %d", i, g, got[i].Offset, w, i)
				}
			}
		})
	}
}

// Close with clients still connected must stop every goroutine the broker
// started and free the port for the next devstack or test.
func TestCloseStopsEverything(t *testing.T) {
	ctx := testCtx(t)
	b, err := New(Config{Addr: "127.0.0.1:0", Topics: map[string]int{"close.t": 1}}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()

	tr := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "close.t", Transport: tr, BatchTimeout: 10 * time.Millisecond}
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("v")}); err != nil {
		t.Fatalf("write: %v", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: "close.t", MaxWait: 100 * time.Millisecond})
	if _, err := r.FetchMessage(ctx); err != nil {
		t.Fatalf("fetch: %v", err)
	}

	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.CreateTopic(ctx, "after.close", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("CreateTopic after Close: error = %v, want ErrClosed", err)
	}
	if err := b.WaitGroupStable(ctx, "g", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitGroupStable after Close: error = %v, want ErrClosed", err)
	}

	// The clients only now notice the broker is gone; their errors are
	// expected and irrelevant here.
	r.Close()
	w.Close()
	tr.CloseIdleConnections()
	goleak.VerifyNone(t, leakOpts...)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not free after Close: %v", err)
	}
	ln.Close()
}
