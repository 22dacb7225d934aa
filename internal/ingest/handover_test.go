package ingest_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"

	"github.com/predlog/predlog/internal/backoff"
	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/internal/ingest"
)

// TestOpenBatchHandedOverUnderHold: the topic is created again while the
// flusher holds a refused batch, and the fetcher, with an open batch, finds
// its offset past the new log's end (partition.restart). The open batch's
// messages are gone from Kafka with the old log: seal must not give it back
// (park) under the hold as it otherwise does, but keep it and wait for the
// flusher. Every message of both lives then lands once, each batch is
// committed only after its insert, and the ledger holds each batch once.
//
// The interleaving is driven, not waited for: the fetcher stops in its
// hooks after the open batch's last message (before it checks the log's
// end) and where seal keeps the open batch; the flusher stops in the sink
// at each refused attempt, so that the hold (set before the second) is in
// place across the hand-over and ends only when the test says.
//
// Not parallel: goleak compares against the goroutines when it starts.
func TestOpenBatchHandedOverUnderHold(t *testing.T) {
	e := newEnv(t, 1)
	// Checked after the pipeline's cleanups (registered later, run
	// earlier). Not leaks: the keep-alive connections of the env's and
	// the stack's ClickHouse clients, and the pool of kafka-go's
	// process-wide DefaultTransport, which the lease's heartbeats use.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, before,
			goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
			goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*conn).run"))
	})
	group := "g-" + e.db
	const (
		maxRows = 10
		oldLen  = 25 // [0-9] [10-19] cut by rows, [20-24] left open
		openAt  = 20 // first offset of the open batch
		lastOld = oldLen - 1
		newLen  = 10 // the new life: one batch [0-9], fewer than oldLen
	)
	e.produce(t, predictions(oldLen, 101))

	sink := &handOverSink{
		Sink: e.sink, refused: make(chan string), fixed: make(chan struct{}),
		accepted:  make(chan inserted, 16),
		committed: func(ctx context.Context) (int64, error) { return e.committed(ctx, group) },
	}
	endRefusal := sync.OnceFunc(func() { close(sink.fixed) })
	defer endRefusal() // before the stop (t.Cleanup): a flusher in the sink would hold it up

	// The fetcher stops after adding the old life's last message, with
	// [20-24] open, until release; keeping reports seal keeping that batch.
	reached, release, keeping := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	releaseFetcher := sync.OnceFunc(func() { close(release) })
	defer releaseFetcher()
	var stopAtLast sync.Once
	added := func(offset int64) {
		if offset == lastOld {
			stopAtLast.Do(func() { close(reached); <-release })
		}
	}
	handingOver := func(first int64) {
		if first == openAt {
			select {
			case keeping <- struct{}{}:
			default:
			}
		}
	}
	reg := prometheus.NewRegistry()
	r := e.runWith(t, group, reg, sink, func(c *ingest.Config) {
		c.MaxRows = maxRows
		c.MaxAge = time.Hour // batches cut by rows only: [20-24] stays open
		c.RefusedRetry = backoff.Policy{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	}, func(p *ingest.Pipeline) { p.SetFetchHooks(added, handingOver) })

	const wait = 30 * time.Second
	await(t, reached, wait, "the fetcher to add the old life's last message to its open batch")
	// [0-9]'s first insert attempt waits in the sink until taken, so the
	// hold cannot begin before the fetcher has [20-24] open ([10-19] is
	// queued behind [0-9]); it is set before the second attempt.
	b1 := receive(t, sink.refused, wait, "the first insert attempt of [0-9]")
	receive(t, sink.refused, wait, "the second insert attempt of [0-9] (the hold set)")
	if c, err := e.committed(context.Background(), group); err != nil || c >= 0 {
		t.Errorf("committed offset %d (%v) while [0-9] is refused, want none", c, err)
	}

	e.recreate(t, "")
	e.produce(t, predictions(newLen, 102))
	if !r.p.SignalPastEnd(e.topic, 0) {
		t.Fatal("partition 0 not consumed")
	}
	releaseFetcher()
	// The restart hands over [20-24] under the hold: seal read the hold
	// and kept the batch. (A batch given back instead never gets here.)
	// Seal keeps it at once, or never: the wait bounds a failure only.
	const keepWait = 10 * time.Second
	select {
	case <-keeping:
	case <-time.After(keepWait):
		t.Errorf("restart with the hold set: seal did not keep the open batch [%d-%d] for the flusher within %s (offset resets: %v)",
			openAt, lastOld, keepWait, counter(t, reg, "predlog_ingester_offset_resets_total"))
	}
	if got := counter(t, reg, "predlog_ingester_offset_resets_total"); got != 1 {
		t.Errorf("%v offset resets, want 1", got)
	}
	endRefusal()

	// The new life's batch is the partition's last insert, whatever was
	// lost before it.
	var got []inserted
	for done := false; !done; {
		select {
		case ins := <-sink.accepted:
			got = append(got, ins)
			done = ins.first == 0 && ins.token != b1
		case <-time.After(wait):
			t.Fatalf("the new life's batch not inserted within %s; inserted: %v", wait, got)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for done := false; !done; {
		select {
		case ins := <-sink.accepted:
			got = append(got, ins)
		default:
			done = true
		}
	}

	// Inserted in order, once each, each after the commits of the
	// batches before it only (the restart's commit of 0 before the new
	// life's batch).
	want := "[0-9] [10-19] [20-24] [0-9]"
	var ranges []string
	for _, ins := range got {
		ranges = append(ranges, fmt.Sprintf("[%d-%d]", ins.first, ins.last))
		if ins.err != nil || ins.committed > ins.first {
			t.Errorf("batch [%d-%d] inserted with offset %d committed (%v): committed past messages not inserted", ins.first, ins.last, ins.committed, ins.err)
		}
	}
	if s := strings.Join(ranges, " "); s != want {
		t.Errorf("batches inserted: %s, want %s", s, want)
	}
	if n := e.count(t, "SELECT count() FROM prediction_logs"); n != oldLen+newLen {
		t.Errorf("prediction_logs holds %d rows, want %d; of the old life's offsets %d-%d (its batches handed over across the restart): %d, want %d",
			n, oldLen+newLen, maxRows, lastOld, e.count(t, fmt.Sprintf("SELECT count() FROM prediction_logs WHERE kafka_offset BETWEEN %d AND %d", maxRows, lastOld)), oldLen-maxRows)
	}
	if n := e.count(t, "SELECT uniqExact(request_id) FROM prediction_logs"); n != oldLen+newLen {
		t.Errorf("distinct = %d, want %d", n, oldLen+newLen)
	}
	ledger := strings.TrimSpace(e.st.Exec(t, e.db, "SELECT arrayStringConcat(groupArray(format('[{}-{}]', toString(first_offset), toString(last_offset))), ' ') FROM "+
		"(SELECT first_offset, last_offset FROM ingest_batches WHERE retired = 0 ORDER BY created_at, first_offset)"))
	if ledger != want {
		t.Errorf("ledger: %s, want %s", ledger, want)
	}
	if c, err := e.committed(context.Background(), group); err != nil || c != newLen {
		t.Errorf("committed offset %d (%v) at the end, want %d (the new life's)", c, err, newLen)
	}
}

// handOverSink refuses the inserts into prediction_logs until fixed is
// closed, as ClickHouse does a dropped table's: each refused attempt's
// token is sent on refused, unbuffered, so the flusher waits in the
// attempt until the test takes it. Accepted inserts are sent on accepted
// with the group's committed offset before them.
type handOverSink struct {
	chwriter.Sink
	refused   chan string
	fixed     chan struct{}
	accepted  chan inserted
	committed func(context.Context) (int64, error)
}

// inserted is an accepted insert into prediction_logs: its token, the
// batch's offsets read from it, and the committed offset before it.
type inserted struct {
	token       string
	first, last int64
	committed   int64
	err         error // reading the committed offset or the token
}

func (s *handOverSink) Insert(ctx context.Context, ins chwriter.Insert) error {
	if ins.Table != "prediction_logs" {
		return s.Sink.Insert(ctx, ins)
	}
	select {
	case <-s.fixed:
	case s.refused <- ins.Token:
		return &chwriter.Error{Table: ins.Table, Code: 60, Kind: chwriter.KindSchema, Msg: "Table prediction_logs does not exist (test)"}
	case <-ctx.Done():
		return ctx.Err()
	}
	rec := inserted{token: ins.Token}
	rec.committed, rec.err = s.committed(ctx)
	if rec.err == nil {
		rec.first, rec.last, rec.err = tokenRange(ins.Token)
	}
	if err := s.Sink.Insert(ctx, ins); err != nil {
		return err
	}
	s.accepted <- rec
	return nil
}

// tokenRange reads a batch's offsets from its token
// (topic/partition/first-last/fingerprint).
func tokenRange(token string) (first, last int64, err error) {
	parts := strings.Split(token, "/")
	if len(parts) < 3 {
		return 0, 0, fmt.Errorf("token %q: no offsets", token)
	}
	a, b, _ := strings.Cut(parts[2], "-")
	if first, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("token %q: %w", token, err)
	}
	if last, err = strconv.ParseInt(b, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("token %q: %w", token, err)
	}
	return first, last, nil
}

// committed reads group's committed offset of partition 0 of e's topic;
// -1 when none.
func (e *env) committed(ctx context.Context, group string) (int64, error) {
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(e.st.KafkaAddr), Transport: tr, Timeout: 10 * time.Second}
	res, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{e.topic: {0}}})
	if err != nil {
		return 0, fmt.Errorf("offset fetch: %w", err)
	}
	if res.Error != nil {
		return 0, fmt.Errorf("offset fetch: %w", res.Error)
	}
	ps := res.Topics[e.topic]
	if len(ps) != 1 {
		return -1, nil
	}
	if ps[0].Error != nil {
		return 0, fmt.Errorf("offset fetch: %w", ps[0].Error)
	}
	return ps[0].CommittedOffset, nil
}

// await waits for ch to be closed, or fails after timeout.
func await(t *testing.T, ch <-chan struct{}, timeout time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(timeout):
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// receive takes a value from ch, or fails after timeout.
func receive[T any](t *testing.T, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
		panic("unreachable")
	}
}
