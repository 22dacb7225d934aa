package main

// End-to-end acceptance tests of the ingester: the binary runs as a
// subprocess against the devstack (kfake Kafka, chDB ClickHouse), each test
// in its own database, topics and consumer group. Run them alone with
//
//	go test -count=1 -run E2E ./cmd/ingester/ -v
//
// PREDLOG_E2E_SEED=n replays the random kill moments of a failed run.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/predlog/predlog/internal/dlq"
	"github.com/predlog/predlog/pkg/events"
	"github.com/predlog/predlog/pkg/events/eventstest"
)

const (
	// inputPartitions is what the five other input topics add to the
	// predictions topic's partitions in predlog_ingester_assigned_partitions.
	inputPartitions = 5
	readyTimeout    = 30 * time.Second
	stopTimeout     = 40 * time.Second // shutdown.timeout is 30s
)

// TestE2EMillion: 1,000,000 prediction logs become exactly 1,000,000 rows,
// and the real-time view counts each once.
func TestE2EMillion(t *testing.T) {
	const n = 1_000_000
	e := newE2E(t, 8)
	p := e.start(t, "ingester", "")
	p.waitReady(readyTimeout)
	t0 := time.Now()
	require.NoError(t, <-e.produceAsync(t, producer{n: n, seed: 1}))
	e.waitDrained(t, n, 3*time.Minute)
	el := time.Since(t0)
	t.Logf("produced and ingested %d messages in %s: %.0f msg/s", n, el.Round(100*time.Millisecond), float64(n)/el.Seconds())
	e.requireExactlyOnce(t, n)
	require.Equal(t, int64(n), e.query(t, "SELECT sum(prediction_count) FROM prediction_stats_1m"), "real-time view")
	p.stop(stopTimeout)
}

// TestE2EKill: the ingester is killed (SIGKILL) at five random moments while
// 500,000 messages flow, and restarted after each kill; every message ends
// up in ClickHouse exactly once.
func TestE2EKill(t *testing.T) {
	const n = 500_000
	seed := e2eSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	e := newE2E(t, 8)
	// ~15s of traffic: longer than the five kills take.
	produced := e.produceAsync(t, producer{n: n, seed: 2, rate: 33_000})
	flowing := 0
	for i := range 5 {
		p := e.start(t, "ingester-"+strconv.Itoa(i), "")
		// From the process start, so a kill may land during startup, the
		// group join, a batch being recorded, inserted or committed.
		d := 300*time.Millisecond + time.Duration(rng.Int64N(int64(2700*time.Millisecond)))
		time.Sleep(d)
		m, _ := p.metrics()
		p.kill()
		select {
		case err := <-produced:
			require.NoError(t, err)
			produced = nil
		default:
			if produced != nil {
				flowing++
			}
		}
		evicted := e.evictMembers(t)
		t.Logf("kill %d after %s: %.0f rows inserted, %.0f commits, %.0f batches replayed (evicted %d dead members)", i+1, d.Round(time.Millisecond),
			sumMetric(m, "predlog_ingester_inserted_rows_total"), sumMetric(m, "predlog_ingester_commits_total"), sumMetric(m, "predlog_ingester_replayed_batches_total"), evicted)
	}
	t.Logf("the producer was still writing at %d of 5 kills", flowing)
	p := e.start(t, "ingester-final", "")
	p.waitReady(readyTimeout)
	if produced != nil {
		require.NoError(t, <-produced)
	}
	e.waitDrained(t, n, 2*time.Minute)
	e.requireExactlyOnce(t, n)
	t.Logf("last run replayed %.0f batches", p.metric("predlog_ingester_replayed_batches_total"))
	p.stop(stopTimeout)
}

// TestE2EClickHouseOutage puts a fault-injecting proxy between the ingester
// and ClickHouse: first the connection is cut for 20s, then replies are
// delayed past the client's 2s timeout (the inserts succeed in ClickHouse,
// the ingester sees errors and retries them). Nothing is lost or
// duplicated, and the lag returns to zero.
func TestE2EClickHouseOutage(t *testing.T) {
	const n = 300_000
	e := newE2E(t, 4)
	px := e.faultProxy(t)

	p := e.start(t, "ingester", "http://"+px.Addr(), "--clickhouse.read-timeout", "2s")
	p.waitReady(readyTimeout)
	produced := e.produceAsync(t, producer{n: n, seed: 3, rate: 9_000}) // ~33s, through both faults
	rows := func() int64 { return e.query(t, "SELECT count() FROM prediction_logs") }
	require.Eventually(t, func() bool { return rows() > 0 }, 30*time.Second, 100*time.Millisecond, "nothing ingested")

	before := rows()
	px.Cut()
	t.Logf("cut ClickHouse for 20s at %d rows", before)
	time.Sleep(20 * time.Second)
	retries := p.metric("predlog_ingester_retries_total")
	t.Logf("restored ClickHouse at %d rows; insert errors %.0f, retries %.0f, buffered %s", rows(),
		p.metric("predlog_ingester_insert_errors_total"), retries, mib(int64(p.metric("predlog_ingester_buffered_bytes"))))
	require.Positive(t, retries, "the cut caused no retries")
	px.Restore()
	after := rows()
	require.Eventually(t, func() bool { return rows() > after }, 30*time.Second, 100*time.Millisecond, "no progress after the cut")

	// Every write to ClickHouse times out while replies are delayed: the
	// batch's ledger record (ingest_batches) as well as its insert, so the
	// timeouts show as retries of either operation, depending on which
	// step each partition is at.
	writeRetries := func() float64 {
		m, err := p.metrics()
		require.NoError(t, err)
		var n float64
		for k, v := range seriesOf(m, "predlog_ingester_retries_total") {
			if strings.Contains(k, `op="insert"`) || strings.Contains(k, `op="ledger"`) {
				n += v
			}
		}
		return n
	}
	errs, retried := p.metric("predlog_ingester_insert_errors_total"), writeRetries()
	px.SetDelay(3 * time.Second)
	t.Logf("delaying ClickHouse replies by 3s (read timeout 2s) at %d rows", rows())
	time.Sleep(8 * time.Second)
	px.SetDelay(0)
	errs = p.metric("predlog_ingester_insert_errors_total") - errs
	retried = writeRetries() - retried
	t.Logf("delay off at %d rows; during the delay: insert errors %.0f, insert and ledger retries %.0f", rows(), errs, retried)
	require.Positive(t, retried, "the delay caused no insert or ledger timeouts")

	select {
	case err := <-produced:
		require.NoError(t, err)
		t.Log("note: the producer finished before the delay phase ended")
	default:
		require.NoError(t, <-produced)
	}
	e.waitDrained(t, n, 2*time.Minute)
	e.requireExactlyOnce(t, n)
	require.Eventually(t, func() bool {
		m, err := p.metrics()
		if err != nil {
			return false
		}
		lag := seriesOf(m, "predlog_ingester_consumer_lag_messages")
		for _, v := range lag {
			if v != 0 {
				return false
			}
		}
		return len(lag) >= e.partitions // a series per partition that committed
	}, 30*time.Second, 200*time.Millisecond, "consumer lag did not return to zero")
	m, err := p.metrics()
	require.NoError(t, err)
	t.Logf("insert errors %v; retries %v; proxy %+v", seriesOf(m, "predlog_ingester_insert_errors_total"), seriesOf(m, "predlog_ingester_retries_total"), px.Stats())
	p.stop(stopTimeout)
}

// TestE2EPoison: 10% of the messages are bad, of every kind the decoder
// rejects; each lands in the DLQ with its code, every good message in
// ClickHouse. Unknown extra fields are no error: ingested and counted.
func TestE2EPoison(t *testing.T) {
	const (
		nGood   = 18_000
		nPoison = 2_000
		extraN  = 10 // every extraN-th good message carries unknown fields
	)
	e := newE2E(t, 4)
	now := time.Now().UTC().Add(-time.Hour)
	ts := func(i int) string { return now.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano) }
	obj := func(fields ...string) []byte { return []byte("{" + strings.Join(fields, ",") + "}") }
	id := func(i int) string { return fmt.Sprintf(`"request_id":"poison-%d"`, i) }
	base := func(i int) []string {
		return []string{id(i), `"model_id":"m"`, `"model_version":"v1"`, `"event_time":"` + ts(i) + `"`, `"score":0.5`, `"latency_ms":3.5`}
	}
	with := func(i int, field, value string) []byte { // base with field replaced or added
		fs := base(i)
		for j, f := range fs {
			if strings.HasPrefix(f, `"`+field+`":`) {
				fs[j] = `"` + field + `":` + value
				return obj(fs...)
			}
		}
		return obj(append(fs, `"`+field+`":`+value)...)
	}
	without := func(i int, field string) []byte {
		var fs []string
		for _, f := range base(i) {
			if !strings.HasPrefix(f, `"`+field+`":`) {
				fs = append(fs, f)
			}
		}
		return obj(fs...)
	}
	oversized := func(i int) []byte {
		return with(i, "padding", `"`+strings.Repeat("x", events.DefaultMaxSize)+`"`)
	}
	// Under the message limit, over the DLQ's (kafka.dlq_max_message_bytes,
	// set to 64KiB below): rejected with its value dropped.
	const dlqMax = 64 << 10
	large := func(i int) []byte {
		return with(i, "status", `"maybe","padding":"`+strings.Repeat("x", 2*dlqMax)+`"`)
	}
	kinds := []struct {
		name string
		code events.Code
		make func(i int) []byte
		max  int // at most this many (0: no limit)
	}{
		{"truncated", events.CodeInvalidJSON, func(i int) []byte { b := with(i, "x", "1"); return b[:len(b)/2] }, 0},
		{"not json", events.CodeInvalidJSON, func(int) []byte { return []byte("request_id=1 model=m") }, 0},
		{"trailing garbage", events.CodeInvalidJSON, func(i int) []byte { return append(with(i, "x", "1"), "}}"...) }, 0},
		{"missing request_id", events.CodeMissingField, func(i int) []byte { return without(i, "request_id") }, 0},
		{"missing latency", events.CodeMissingField, func(i int) []byte { return without(i, "latency_ms") }, 0},
		{"null model_id", events.CodeMissingField, func(i int) []byte { return with(i, "model_id", "null") }, 0},
		{"empty model_version", events.CodeMissingField, func(i int) []byte { return with(i, "model_version", `""`) }, 0},
		{"string latency", events.CodeWrongType, func(i int) []byte { return with(i, "latency_ms", `"fast"`) }, 0},
		{"numeric request_id", events.CodeWrongType, func(i int) []byte { return with(i, "request_id", "42") }, 0},
		{"features array", events.CodeWrongType, func(i int) []byte { return with(i, "features", "[1,2]") }, 0},
		{"array message", events.CodeWrongType, func(int) []byte { return []byte(`[{"request_id":"x"}]`) }, 0},
		{"infinite score (1e999)", events.CodeOutOfRange, func(i int) []byte { return with(i, "score", "1e999") }, 0},
		{"infinite feature", events.CodeOutOfRange, func(i int) []byte { return with(i, "features", `{"amount":-1e999}`) }, 0},
		{"negative latency", events.CodeOutOfRange, func(i int) []byte { return with(i, "latency_ms", "-1") }, 0},
		{"confidence above 1", events.CodeOutOfRange, func(i int) []byte { return with(i, "confidence", "1.5") }, 0},
		{"bad status", events.CodeInvalidValue, func(i int) []byte { return with(i, "status", `"maybe"`) }, 0},
		{"bad event_time", events.CodeInvalidTime, func(i int) []byte { return with(i, "event_time", `"yesterday"`) }, 0},
		{"event_time in 1999", events.CodeInvalidTime, func(i int) []byte { return with(i, "event_time", `"1999-12-31T23:59:59Z"`) }, 0},
		{"invalid utf-8", events.CodeInvalidUTF8, func(i int) []byte { return with(i, "request_id", "\"poison-\xff\xfe\"") }, 0},
		{"empty", events.CodeEmpty, func(int) []byte { return []byte{} }, 0},
		{"whitespace", events.CodeEmpty, func(int) []byte { return []byte(" \n\t ") }, 0},
		{"oversized", events.CodeOversized, oversized, 3},
		{"invalid, above the DLQ limit", events.CodeInvalidValue, large, 3},
	}

	type sent struct {
		kind string
		code events.Code
		val  []byte
	}
	poison := map[string]sent{} // key -> message
	var msgs []kafka.Message
	count := map[string]int{}
	for i := 0; len(poison) < nPoison; i++ {
		k := kinds[i%len(kinds)]
		if k.max > 0 && count[k.name] >= k.max {
			continue
		}
		count[k.name]++
		key := "poison-" + strconv.Itoa(i)
		v := k.make(i)
		poison[key] = sent{k.name, k.code, v}
		msgs = append(msgs, kafka.Message{Key: []byte(key), Value: v})
	}
	gen := eventstest.New(4, eventstest.Config{Start: now})
	for i := range nGood {
		v := gen.AppendPrediction(nil)
		if i%extraN == 0 {
			// Two members outside the contract, one of them nested.
			v = append(v[:len(v)-1], `,"x_trace_id":"abc","x_debug":{"a":[1,2,{"b":null}]}}`...)
		}
		msgs = append(msgs, kafka.Message{Key: []byte("good-" + strconv.Itoa(i)), Value: v})
	}
	rand.New(rand.NewPCG(4, 4)).Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	t.Logf("%d good messages (%d with unknown fields), %d poison: %v", nGood, (nGood+extraN-1)/extraN, nPoison, count)

	w := &kafka.Writer{Addr: kafka.TCP(e.st.KafkaAddr), Topic: e.topic, Balancer: &kafka.RoundRobin{},
		BatchSize: 1000, BatchBytes: 16 << 20, BatchTimeout: 5 * time.Millisecond, Compression: kafka.Lz4, RequiredAcks: kafka.RequireAll, Transport: e.transport}
	require.NoError(t, w.WriteMessages(context.Background(), msgs...))
	require.NoError(t, w.Close())

	p := e.start(t, "ingester", "", fmt.Sprintf("--kafka.dlq-max-message-bytes=%d", dlqMax))
	p.waitReady(readyTimeout)
	e.waitDrained(t, int64(len(msgs)), time.Minute)
	e.requireExactlyOnce(t, nGood)
	require.Zero(t, e.query(t, "SELECT count() FROM prediction_logs WHERE startsWith(request_id, 'poison-')"))

	// The DLQ holds each poison message once, with its code.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{e.st.KafkaAddr}, Topic: e.dlq, Partition: 0, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[string]int{}
	for n := 0; n < nPoison; n++ {
		m, err := r.ReadMessage(ctx)
		require.NoError(t, err, "DLQ: read %d of %d", n, nPoison)
		rej, err := dlq.Parse(m)
		require.NoError(t, err)
		key := string(rej.Key)
		seen[key]++
		want, ok := poison[key]
		if !assert.True(t, ok, "DLQ holds %s (%s)", key, rej.Code) {
			continue
		}
		assert.Equal(t, string(want.code), rej.Code, "%s: %s", want.kind, rej.Reason)
		assert.Equal(t, e.topic, rej.Topic)
		if len(want.val) > dlqMax {
			assert.True(t, rej.Value == nil, "%s: a value above kafka.dlq_max_message_bytes is dropped from the DLQ message (%d bytes kept)", want.kind, len(rej.Value))
			i := slices.IndexFunc(m.Headers, func(h kafka.Header) bool { return h.Key == dlq.HeaderValueDropped })
			if assert.GreaterOrEqual(t, i, 0, "%s: %s header", want.kind, dlq.HeaderValueDropped) {
				assert.Equal(t, strconv.Itoa(len(want.val)), string(m.Headers[i].Value), "%s: dropped length", want.kind)
			}
		} else {
			assert.Equal(t, string(want.val), string(rej.Value), "%s: DLQ value", want.kind)
		}
	}
	for key, s := range poison {
		assert.Equal(t, 1, seen[key], "%s (%s) in the DLQ", key, s.kind)
	}
	// Nothing more in the DLQ.
	end, err := e.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{e.dlq: {kafka.LastOffsetOf(0)}}})
	require.NoError(t, err)
	require.Equal(t, int64(nPoison), end.Topics[e.dlq][0].LastOffset, "DLQ messages")

	m, err := p.metrics()
	require.NoError(t, err)
	byCode := map[events.Code]int{}
	for _, s := range poison {
		byCode[s.code]++
	}
	for code, n := range byCode {
		assert.Equal(t, float64(n), m[`predlog_ingester_rejected_messages_total{code="`+string(code)+`",topic="`+e.topic+`"}`], "rejected %s", code)
	}
	unknown := sumMetric(m, "predlog_ingester_unknown_fields_total")
	t.Logf("rejected by code %v; unknown fields %.0f", seriesOf(m, "predlog_ingester_rejected_messages_total"), unknown)
	// Only ingested messages count: the "trailing garbage" poison has an
	// unknown member too, but it is rejected as a whole.
	assert.Equal(t, float64(2*((nGood+extraN-1)/extraN)), unknown, "unknown fields: two per good message that has them")
	p.stop(stopTimeout)
}

// TestE2ETwoInstances: two ingesters in one group split the partitions; one
// is stopped (SIGTERM) mid-stream and the other takes over without loss or
// duplicates.
func TestE2ETwoInstances(t *testing.T) {
	const n = 300_000
	e := newE2E(t, 8)
	a := e.start(t, "ingester-a", "")
	b := e.start(t, "ingester-b", "")
	a.waitReady(readyTimeout)
	b.waitReady(readyTimeout)
	total := float64(e.partitions + inputPartitions)
	var na, nb float64
	require.Eventually(t, func() bool {
		na, nb = a.metric("predlog_ingester_assigned_partitions"), b.metric("predlog_ingester_assigned_partitions")
		return na > 0 && nb > 0 && na+nb == total
	}, 60*time.Second, 100*time.Millisecond, "assigned partitions: a %v, b %v, want both > 0 summing to %v", na, nb, total)
	t.Logf("assigned partitions: a %.0f, b %.0f", na, nb)
	produced := e.produceAsync(t, producer{n: n, seed: 5, rate: 20_000}) // ~15s
	// Both consume before one goes.
	require.Eventually(t, func() bool {
		return a.metric("predlog_ingester_commits_total") > 0 && b.metric("predlog_ingester_commits_total") > 0
	}, 60*time.Second, 100*time.Millisecond, "both instances commit")

	select {
	case err := <-produced:
		require.NoError(t, err)
		t.Fatal("the producer finished before an instance was stopped: not mid-stream")
	default:
	}
	rows := e.query(t, "SELECT count() FROM prediction_logs")
	took := b.stop(stopTimeout)
	t.Logf("stopped b at %d rows in %s", rows, took.Round(time.Millisecond))
	require.Eventually(t, func() bool { return a.metric("predlog_ingester_assigned_partitions") == total },
		60*time.Second, 100*time.Millisecond, "a takes over every partition")
	require.NoError(t, <-produced)
	e.waitDrained(t, n, 2*time.Minute)
	e.requireExactlyOnce(t, n)
	a.stop(stopTimeout)
}

// TestE2ERevokedWhileSlow: instance a's ClickHouse replies take 2.5s when b
// joins. The rebalance ends a's generation; kafka-go stops heartbeating
// then, so a's session expires (6s) while it still drains, and b gets the
// partitions and reads the ledger. Batch boundaries a recorded after that
// would be inserted under tokens b does not use: a stops recording half a
// session after the generation ended, and every message is in ClickHouse
// exactly once.
func TestE2ERevokedWhileSlow(t *testing.T) {
	const n = 150_000
	e := newE2E(t, 4)
	px := e.faultProxy(t)

	a := e.start(t, "ingester-a", "http://"+px.Addr(), "--kafka.session-timeout", "6s", "--clickhouse.read-timeout", "30s")
	a.waitReady(readyTimeout)
	produced := e.produceAsync(t, producer{n: n, seed: 11, rate: 10_000}) // ~15s
	require.Eventually(t, func() bool { return a.metric("predlog_ingester_commits_total") > 0 },
		60*time.Second, 100*time.Millisecond, "a commits")
	px.SetDelay(2500 * time.Millisecond)
	b := e.start(t, "ingester-b", "", "--kafka.session-timeout", "6s")
	b.waitReady(readyTimeout)
	time.Sleep(12 * time.Second) // a drains slowly past its session
	px.SetDelay(0)
	require.NoError(t, <-produced)
	e.waitDrained(t, n, 2*time.Minute)
	e.requireExactlyOnce(t, n)
	a.stop(stopTimeout)
	b.stop(stopTimeout)
}

// TestE2EPaused: instance a is frozen (SIGSTOP, as in a long GC pause or a
// suspended VM) for longer than its session while batches are in flight;
// b takes every partition over and cuts its own batches from the ledger.
// When a wakes, its generation is gone but it has not noticed yet: it must
// not record new batch boundaries over offsets b may be cutting
// differently (both would insert under their own tokens: duplicates).
func TestE2EPaused(t *testing.T) {
	const n = 150_000
	e := newE2E(t, 4)
	a := e.start(t, "ingester-a", "", "--kafka.session-timeout", "6s")
	b := e.start(t, "ingester-b", "", "--kafka.session-timeout", "6s")
	a.waitReady(readyTimeout)
	b.waitReady(readyTimeout)
	produced := e.produceAsync(t, producer{n: n, seed: 13, rate: 10_000}) // ~15s
	require.Eventually(t, func() bool {
		return a.metric("predlog_ingester_commits_total") > 0 && b.metric("predlog_ingester_commits_total") > 0
	}, 60*time.Second, 100*time.Millisecond, "both instances commit")
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGSTOP))
	time.Sleep(14 * time.Second) // past a's session: b takes its partitions
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGCONT))
	require.NoError(t, <-produced)
	e.waitDrained(t, n, 2*time.Minute)
	e.requireExactlyOnce(t, n)
	a.stop(stopTimeout)
	b.stop(stopTimeout)
}

// TestE2EBacklogMemory: with 2,000,000 messages backlogged and ClickHouse
// unreachable, the ingester's memory stays within its buffer bound plus
// 150 MB.
func TestE2EBacklogMemory(t *testing.T) {
	const (
		n        = 2_000_000
		buffered = 64 << 20
		slack    = 150 << 20
	)
	e := newE2E(t, 8)
	px := e.faultProxy(t)

	// The startup schema check needs ClickHouse once, and so does each
	// partition's ledger when it is assigned: a warm-up through every
	// partition before the cut, or a partition assigned late would wait
	// for its ledger rather than fill the buffer.
	p := e.start(t, "ingester", "http://"+px.Addr(), "--batch.max-buffered-bytes", "64MiB")
	p.waitReady(readyTimeout)
	const warm = 8_000
	_, err := e.produce(context.Background(), producer{n: warm, seed: 60})
	require.NoError(t, err)
	e.waitDrained(t, warm, time.Minute)
	px.Cut()

	idle, _, err := p.memory()
	require.NoError(t, err)
	rate, err := e.produce(context.Background(), producer{n: n, seed: 6, workers: 2})
	require.NoError(t, err)
	t.Logf("backlogged %d messages at %.0f msg/s", n, rate)
	// The pipeline fills its buffer and stalls on it.
	require.Eventually(t, func() bool { return p.metric("predlog_ingester_buffered_bytes") > buffered*0.9 },
		30*time.Second, 100*time.Millisecond, "buffer never filled")
	consumed := p.metric("predlog_ingester_consumed_messages_total")
	time.Sleep(3 * time.Second) // hold there a while
	rss, hwm, err := p.memory()
	require.NoError(t, err)
	m, err := p.metrics()
	require.NoError(t, err)
	t.Logf("with %d messages backlogged and ClickHouse cut: VmRSS %s, VmHWM %s (%s when ready); buffered %s of %s; consumed %.0f messages (%.0f 3s earlier); Go heap in use %s",
		n, mib(rss), mib(hwm), mib(idle), mib(int64(sumMetric(m, "predlog_ingester_buffered_bytes"))), mib(buffered),
		sumMetric(m, "predlog_ingester_consumed_messages_total"), consumed, mib(int64(sumMetric(m, "go_memstats_heap_inuse_bytes"))))
	assert.Less(t, hwm, int64(buffered+slack), "VmHWM above the buffer bound + 150 MB")

	// ClickHouse back: the ingester resumes.
	px.Restore()
	require.Eventually(t, func() bool { return e.query(t, "SELECT count() FROM prediction_logs") > warm },
		60*time.Second, 200*time.Millisecond, "no progress after ClickHouse came back")
	p.stop(stopTimeout)
}

// TestE2EGracefulShutdown: SIGTERM mid-stream, twice; each stop commits
// exactly what it inserted, and after the last restart every message is in
// ClickHouse once.
func TestE2EGracefulShutdown(t *testing.T) {
	const n = 200_000
	seed := e2eSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newE2E(t, 4)
	produced := e.produceAsync(t, producer{n: n, seed: 7, rate: 12_000}) // ~17s, past both stops
	for i := range 2 {
		p := e.start(t, "ingester-"+strconv.Itoa(i), "")
		p.waitReady(readyTimeout)
		d := time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))
		time.Sleep(d)
		took := p.stop(stopTimeout)
		// Everything the stopped instance inserted is committed, and
		// nothing past the commits is in ClickHouse.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		committed, _, err := e.offsets(ctx)
		cancel()
		require.NoError(t, err)
		var sum int64
		for part, off := range committed {
			sum += max(off, 0)
			got := e.query(t, fmt.Sprintf("SELECT count() FROM prediction_logs WHERE kafka_partition = %d", part))
			assert.Equal(t, max(off, 0), got, "partition %d: rows vs committed offset after a graceful stop", part)
		}
		t.Logf("stop %d after %s took %s; committed %d", i+1, d.Round(time.Millisecond), took.Round(time.Millisecond), sum)
		select {
		case err := <-produced:
			require.NoError(t, err)
			t.Fatalf("the producer finished before stop %d: not mid-stream", i+1)
		default:
		}
	}
	p := e.start(t, "ingester-final", "")
	p.waitReady(readyTimeout)
	require.NoError(t, <-produced)
	e.waitDrained(t, n, 2*time.Minute)
	e.requireExactlyOnce(t, n)
	p.stop(stopTimeout)
}

// e2eSeed returns PREDLOG_E2E_SEED or a fresh seed, logged for replay.
func e2eSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PREDLOG_E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "PREDLOG_E2E_SEED")
		seed = v
	}
	t.Logf("seed %d (replay with PREDLOG_E2E_SEED=%d)", seed, seed)
	return seed
}
