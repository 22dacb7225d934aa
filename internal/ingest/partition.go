package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/backoff"
	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/internal/dlq"
	"github.com/predlog/predlog/pkg/events"
)

// CodeClickHouseRejected is the DLQ code of a message whose row ClickHouse
// refused (found by bisecting the batch).
const CodeClickHouseRejected = "clickhouse_rejected"

var errAbandoned = errors.New("partition revoked: in-flight batches left to the next owner")

// errFenced stops recording new batch boundaries once the generation has
// ended: kafka-go stops heartbeating then, so after the session timeout the
// partition may belong to another member, which reads the ledger when it
// is assigned; boundaries recorded after that would make this member
// insert rows under tokens the next owner does not use (duplicates).
// Batches recorded before are still inserted (same tokens as the next
// owner's: ClickHouse drops the second copy).
var errFenced = errors.New("generation ended: unrecorded batches left to the next owner")

// batch is a run of consecutive messages of one partition. Its boundaries
// are either cut here (rows, bytes, age) or replayed from the ledger.
type batch struct {
	span    span
	planned bool // boundaries came from the ledger
	// restart: no messages; commit span.first, where fetching starts
	// again on a partition created again (partition.restart).
	restart  bool
	cutAt    int64 // no message past this offset may join
	ingestMs int64
	ttl      retention // of the table when the batch started
	started  time.Time

	msgs     []kafka.Message // owned: kafka-go allocates each message
	valid    []int32         // indexes of msgs that produced rows
	rows     rows
	rejected []dlq.Rejected
	events   []int64 // event times of the rows, for freshness
	bytes    int64
	charge   int64 // bytes taken from the budget
	unknown  int
	markers  [2]int // transaction markers skipped, by txnMarker
}

func (b *batch) add(dec *events.Decoder, m kafka.Message) {
	b.msgs = append(b.msgs, m)
	i := len(b.msgs) - 1
	if t, ok := markerOf(&m); ok { // no row, no DLQ entry (txnmarker.go)
		b.markers[t]++
		if !b.planned {
			b.span.last = m.Offset
		}
		return
	}
	eventMs, err := b.rows.add(dec, &b.msgs[i], b.ingestMs, b.ttl)
	if err != nil {
		b.rejected = append(b.rejected, reject(&b.msgs[i], string(events.CodeOf(err)), err.Error()))
	} else {
		b.valid = append(b.valid, int32(i))
		if eventMs > 0 {
			b.events = append(b.events, eventMs)
		}
		b.unknown += dec.UnknownFields() // of accepted messages only
	}
	if !b.planned {
		b.span.last = m.Offset
	}
	b.bytes += int64(len(m.Value))
}

func reject(m *kafka.Message, code, reason string) dlq.Rejected {
	if code == "" {
		code = dlq.CodeUnknown
	}
	return dlq.Rejected{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Key: m.Key, Value: m.Value, Headers: m.Headers, Time: m.Time,
		Code: code, Reason: reason,
	}
}

// partition is one assigned partition: this goroutine fetches, decodes and
// cuts batches; a flusher goroutine writes them in order.
type partition struct {
	p     *Pipeline
	k     tp
	kind  Kind
	com   *committer
	lease *lease // of the generation: new boundaries only while it holds
	log   *zap.Logger
	plan  []span
	free  chan *batch // flushed batches to reuse (rows, slices); at most three exist
	msgs  func(n int)
	bytes func(n int)
	// resets counts restarts from the earliest offset (partition.restart).
	resets prometheus.Counter
	// passedOver counts the recorded batches passOver passed over.
	passedOver int
	// aborts counts the aborted transactions seen (countMarkers).
	aborts int
	// future counts the events dated in the future (observeEventTimes).
	future int

	// pastEnd is set, from the reader's goroutine or the lag reporter,
	// when the reader may be past the end of the partition's log; wake
	// then interrupts fetch's wait for a message (see fetchContext).
	pastEnd atomic.Bool
	wake    atomic.Pointer[context.CancelFunc]

	// hold is set while the flusher holds a refused batch (whileRefused),
	// which then wakes fetch as signalPastEnd does; the channel is closed
	// when the hold ends. fetch reads nothing further meanwhile (park).
	hold atomic.Pointer[chan struct{}]

	// refusals counts the refusals under way per table (whileRefused),
	// under p.mu: the fetcher's and the flusher's overlap, e.g. when the
	// ledger is refused, or the ledger and another table (a grant revoked
	// on both). The gauge counts a partition once per table, and the
	// table's refusal (readiness) stays until the last of them ends.
	refusals map[string]int
}

// refusing adds d (1 or -1) to the refusals of table under way, and
// reports whether that began the table's first or ended its last. p.mu
// is held: the partition's refusal of the table (partState.refused) is
// set and cleared under the same lock, so that one beginning as another
// ends is not cleared by it.
func (pt *partition) refusing(table string, d int) (edge bool) {
	if pt.refusals == nil {
		pt.refusals = map[string]int{}
	}
	n := pt.refusals[table] + d
	if n <= 0 {
		delete(pt.refusals, table)
	} else {
		pt.refusals[table] = n
	}
	return (d > 0 && n == 1) || (d < 0 && n == 0)
}

// recycle returns b's bytes to the budget and b to the free list.
func (pt *partition) recycle(b *batch) {
	pt.p.budget.release(b.charge)
	b.rows.reset()
	// Drop the references to the messages' bytes; keep the capacity.
	clear(b.msgs)
	clear(b.rejected)
	select {
	case pt.free <- b:
	default:
	}
}

// waitHold waits for the flusher's hold to end; false when run ended first.
func (pt *partition) waitHold(run context.Context) bool {
	if ch := pt.hold.Load(); ch != nil {
		select {
		case <-*ch:
		case <-run.Done():
		}
	}
	return run.Err() == nil
}

// signalPastEnd has fetch check whether its offset is past the end of the
// partition's log. Flag first, then wake: fetch makes its context before
// it reads the flag, so it either sees the flag or is woken.
func (pt *partition) signalPastEnd() {
	pt.pastEnd.Store(true)
	pt.wakeFetch()
}

func (pt *partition) wakeFetch() {
	if cancel := pt.wake.Load(); cancel != nil {
		(*cancel)()
	}
}

// acquire waits for n bytes of the budget; false when run ends or the
// flusher holds a refused batch first (whileRefused sets the hold, then
// wakes: the context is made before the hold is read, so either it is
// seen or the wait is woken).
func (pt *partition) acquire(run context.Context, idle *context.Context, n int64) bool {
	for {
		*idle = pt.fetchContext(run, *idle)
		if pt.hold.Load() != nil {
			return false
		}
		if pt.p.budget.acquire(*idle, n) == nil {
			return true
		}
		if run.Err() != nil {
			return false
		}
	}
}

// fetchContext returns ctx, a child of run that wakeFetch cancels, made
// again once cancelled (run still going).
func (pt *partition) fetchContext(run, ctx context.Context) context.Context {
	if ctx != nil && ctx.Err() == nil {
		return ctx
	}
	ctx, cancel := context.WithCancel(run)
	pt.wake.Store(&cancel)
	return ctx
}

// consume runs one partition for one generation. It returns when fetching
// must stop (shutdown, revocation) and what it fetched is
// flushed and committed, or abandoned.
func (p *Pipeline) consume(stop, hard, gctx context.Context, com *committer, ls *lease, topic string, a kafka.PartitionAssignment) {
	if gctx.Err() != nil {
		// kafka-go's Generation.Start runs this for a generation that has
		// already ended too, in a goroutine nobody waits for: it must touch
		// nothing, above all not the partition's state, which the next
		// generation's consume may have set already.
		return
	}
	k := tp{topic, a.ID}
	pt := &partition{
		p: p, k: k, kind: p.cfg.Topics[topic], com: com, lease: ls,
		log:  p.log.With(zap.String("topic", topic), zap.Int("partition", a.ID)),
		free: make(chan *batch, 3),
	}
	cm, cb := p.m.consumedMessages.WithLabelValues(topic), p.m.consumedBytes.WithLabelValues(topic)
	pt.msgs, pt.bytes = func(n int) { cm.Add(float64(n)) }, func(n int) { cb.Add(float64(n)) }
	pt.resets = p.m.offsetResets.WithLabelValues(topic)

	// run ends fetching: shutdown, or the generation's end.
	run, cancelRun := context.WithCancel(stop)
	defer cancelRun()
	defer context.AfterFunc(gctx, cancelRun)()
	// flush ends retries: hard stop, or AbandonAfter past a revocation
	// (not past a shutdown: then DrainTimeout, via hard, governs).
	flush, cancelFlush := context.WithCancelCause(hard)
	defer cancelFlush(nil)
	defer context.AfterFunc(gctx, func() {
		if stop.Err() == nil {
			t := time.AfterFunc(p.cfg.AbandonAfter, func() { cancelFlush(errAbandoned) })
			context.AfterFunc(flush, func() { t.Stop() })
		}
	})()
	// record ends the recording of new batch boundaries half a session
	// timeout after the generation ended (shutdown or revocation).
	record, cancelRecord := context.WithCancelCause(flush)
	defer cancelRecord(nil)
	defer context.AfterFunc(gctx, func() {
		t := time.AfterFunc(p.cfg.SessionTimeout/2, func() { cancelRecord(errFenced) })
		context.AfterFunc(record, func() { t.Stop() })
	})()

	ps := &partState{lastCommit: time.Now(), committed: a.Offset, first: -1, pastEnd: pt.signalPastEnd, pastEndAt: -1}
	p.setPart(k, ps)
	defer func() {
		p.clearPart(k, ps)
		p.m.lag.DeleteLabelValues(topic, strconv.Itoa(a.ID))
		p.m.commitAge.DeleteLabelValues(topic, strconv.Itoa(a.ID))
	}()

	start := a.Offset
	from := max(start, 0) // no commit yet: any recorded batch may be pending
	if err := pt.loadPlan(run, from); err != nil {
		return // fetching stopped before anything was read
	}
	if start > 0 {
		pt.checkResumed(run, start)
	}
	pt.checkLogStart(run, start)
	pt.log.Debug("partition assigned", zap.Int64("offset", start), zap.Int("replay_batches", len(pt.plan)))

	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   p.cfg.Brokers,
		Dialer:    p.cfg.Dialer,
		Topic:     topic,
		Partition: a.ID,
		MinBytes:  1,
		MaxBytes:  p.cfg.MaxFetch,
		MaxWait:   250 * time.Millisecond,
		// Queued messages are outside batch.max_buffered_bytes: 100 (kafka-go's
		// default) rather than 1000 bounds them tenfold for large messages;
		// ingest throughput was the same within noise (make bench, ingest
		// step, alternating: 96-98k vs 91-101k rows/s with one instance).
		QueueCapacity: 100,
		StartOffset:   kafka.FirstOffset,
		// The reader reports here what it otherwise swallows, e.g. a
		// committed offset that retention deleted (it skips to the first
		// offset left: those messages are lost to the pipeline).
		// A read that timed out is retried on a new connection; under load a
		// fetch answered just past its deadline (MaxWait) does that now and
		// then: counted as a fetch retry and logged at debug, not as a fault.
		// An offset past the end of the log is waited at, for the log to
		// grow past it: once a topic was created again, that skips the new
		// log's first messages. Fetch checks, and starts again from the
		// earliest offset if so (restart), with a warning of its own.
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			lvl := zap.WarnLevel
			if strings.Contains(msg, "passed the last offset") { // a fetch answered OffsetOutOfRange
				lvl = zap.DebugLevel
				pt.signalPastEnd()
			}
			// (Not a dial that timed out: "error initializing the kafka
			// reader", the broker unreachable.)
			for _, a := range args {
				err, ok := a.(error)
				if !ok {
					continue
				}
				if errors.Is(err, kafka.OffsetOutOfRange) { // seeking the offset failed
					lvl = zap.DebugLevel
					pt.signalPastEnd()
					break
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && !strings.Contains(msg, "initializing") {
					lvl = zap.DebugLevel
					p.m.retries.WithLabelValues("fetch").Inc()
					break
				}
			}
			pt.log.Log(lvl, "kafka reader: "+fmt.Sprintf(msg, args...))
		}),
	})
	defer reader.Close()
	if start >= 0 {
		if err := reader.SetOffset(start); err != nil {
			pt.log.Error("set offset", zap.Error(err))
			return
		}
	}
	p.mu.Lock()
	if s := p.parts[k]; s != nil {
		s.reader = reader
	}
	p.mu.Unlock()

	batches := make(chan *batch, 1)
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		f := newFlusher(pt, run, flush, record)
		for b := range batches {
			f.flush(b)
		}
	}()
	defer func() {
		close(batches)
		<-flushed
	}()
	pt.fetch(run, reader, batches)
}

// fetch reads messages into batches until run is done, then hands over the
// open batch.
func (pt *partition) fetch(run context.Context, reader *kafka.Reader, out chan *batch) {
	p := pt.p
	dec := events.NewDecoder(events.Options{MaxSize: p.cfg.MaxMessage})
	var (
		cur     *batch
		age     deadline // of the open batch, if it was cut here
		attempt int
		behind  int64 // messages after the last one fetched, as of its fetch
		// refusedAt is the offset of the last batch refused as too large.
		refusedAt int64 = -1
		first           = true
	)
	defer age.stop()
	var idle context.Context // run, interrupted by wakeFetch (signalPastEnd, a hold)
	// While the flusher holds a refused batch, fetching goes no further
	// than that batch: the batch handed over behind it, which the flusher
	// has not taken (this loop is out's only sender), is taken back, and
	// so is the open batch (their bytes to the budget, the reader to the
	// first offset given back, or to next without one); then the loop
	// waits for the hold to end (parked). A refused table then keeps one
	// batch per partition of batch.max_buffered_bytes, the one retried, and
	// the other tables go on. A replayed batch cannot be given back (see
	// stopping): one handed over stays queued, as does restart's marker,
	// and an open one is bounded by its recorded size and parks once it is
	// handed over.
	parked := false
	park := func(next int64) {
		// Callers park only without an open batch or with one that is not
		// replayed, so the reader going back before it skips no plan entry.
		if cur != nil {
			next = cur.span.first
			age.stop()
			pt.recycle(cur)
			cur = nil
		}
		select {
		case b := <-out: // cut before the open batch
			if b.planned || b.restart {
				out <- b // the slot it left is free: no other sender
				break
			}
			next = b.span.first
			pt.recycle(b)
		default:
		}
		if reader.SetOffset(next) == nil { // else closed: stopping
			parked = true
		}
	}
	restarting := false // the reader leaves the log it read cur from
	seal := func() {
		if cur == nil {
			return
		}
		age.stop()
		// While the flusher is busy, a hold beginning wakes this wait (the
		// context is made before the hold is read, as in acquire). Once
		// fetching has stopped, the flusher drains: a plain send. Nor is
		// cur given back when the reader is about to leave its log
		// (restart): it could not be read again.
		for run.Err() == nil {
			idle = pt.fetchContext(run, idle)
			if pt.hold.Load() != nil && !cur.planned && !restarting {
				park(0)
				return
			}
			if h := pt.p.hooks.handingOver; h != nil {
				h(cur.span.first)
			}
			select {
			case out <- cur:
				cur = nil
				return
			case <-idle.Done():
			}
		}
		out <- cur
		cur = nil
	}
	// stopping hands over the open batch when fetching ends. A replayed
	// batch must be whole: cut short, it would carry its recorded token and
	// offsets without all its messages (a partial insert under the full
	// token, a commit past messages it never read). So a partial one is
	// dropped and whoever consumes the partition next replays it.
	stopping := func() {
		if cur != nil && cur.planned {
			age.stop()
			pt.recycle(cur)
			cur = nil
			return
		}
		seal()
	}
	for {
		if parked {
			if !pt.waitHold(run) {
				return // nothing open: the reader went back to the first message not handed over
			}
			parked = false
		}
		idle = pt.fetchContext(run, idle)
		if pt.pastEnd.Load() && pt.pastEnd.Swap(false) { // a load per message, not a write
			if start, past := pt.checkEnd(run, reader.Offset()); past {
				restarting = true
				ok := pt.restart(run, reader, start, stopping, out)
				restarting = false
				if !ok {
					return // stopping
				}
			}
		}
		ctx := idle
		if cur != nil && !cur.planned {
			ctx = age.ctx
		}
		m, err := reader.FetchMessage(ctx)
		if err != nil {
			if run.Err() != nil {
				stopping()
				return
			}
			if ctx == idle && idle.Err() != nil { // woken: check the end of the log
				continue
			}
			if cur != nil && ctx.Err() != nil { // the batch is old enough
				// Catching up: freshness is lost already, and fewer, bigger
				// batches drain the backlog with less work per row here and
				// in ClickHouse. Let the batch grow, to catchUpAge at most.
				if behind >= catchUpBehind && time.Since(cur.started) < catchUpAge*p.cfg.MaxAge {
					age.stop()
					age.start(run, time.Now().Add(p.cfg.MaxAge))
					continue
				}
				seal()
				continue
			}
			p.m.retries.WithLabelValues("fetch").Inc()
			if errors.Is(err, errBatchTooLarge) {
				// Retried like any fetch error (kafka-go reads the batch
				// again), but said once per offset, and what to do.
				if at := reader.Offset(); at != refusedAt {
					refusedAt = at
					p.m.refusedBatches.WithLabelValues(pt.k.topic).Inc()
					pt.log.Error("a record batch decompresses past kafka.max_decompressed_batch_bytes: this partition stops at its offset; "+
						"if the topic's batches are legitimately that large, raise the setting; otherwise skip the batch "+
						"(stop the ingesters, move the group's offset past it with kafka-consumer-groups --reset-offsets, start them)",
						zap.Int64("offset", at), zap.Int64("limit_bytes", decompressLimit.Load()))
				}
			} else {
				pt.log.Warn("fetch", zap.Error(err))
			}
			select {
			case <-time.After(p.cfg.Retry.Delay(attempt, nil)):
			case <-run.Done():
			}
			attempt++
			continue
		}
		attempt = 0
		if pt.hold.Load() != nil && (cur == nil || !cur.planned) {
			park(m.Offset)
			continue
		}
		if first {
			p.fetchedFirst(pt.k, m.Offset) // lag before the first commit counts from here
			first = false
		}
		behind = m.HighWaterMark - m.Offset - 1
		pt.msgs(1)
		pt.bytes(len(m.Value))

		// Raw message, columns and encoded body: about three times the value.
		charge := 3*int64(len(m.Value)+len(m.Key)) + 512
		switch {
		case cur != nil && cur.planned && m.Offset <= cur.cutAt:
			// A replayed batch cannot be cut early (see stopping), so it
			// may overdraw the budget; by no more than its recorded size,
			// which the budget held once already.
			p.budget.force(charge)
		case !p.budget.tryAcquire(charge):
			seal() // what this partition holds must be able to drain
			if !parked && !pt.acquire(run, &idle, charge) {
				if run.Err() != nil {
					return // stopping; the message is not committed, so it is replayed
				}
				park(m.Offset)
			}
			if parked { // m is read again after the hold
				continue
			}
		}
		if cur != nil && m.Offset > cur.cutAt {
			seal()
			if parked {
				p.budget.release(charge)
				continue
			}
		}
		if cur == nil {
			cur = pt.newBatch(&m)
			if !cur.planned {
				age.start(run, cur.started.Add(p.cfg.MaxAge))
			}
		}
		cur.charge += charge
		cur.add(dec, m)
		if h := p.hooks.added; h != nil {
			h(m.Offset)
		}
		switch {
		case cur.planned && m.Offset >= cur.cutAt:
			seal()
		case !cur.planned && (len(cur.msgs) >= p.cfg.MaxRows || cur.bytes >= p.cfg.MaxBytes):
			seal()
		}
	}
}

// checkEnd reports whether offset, the next one to fetch, is past the end
// of the partition's log, and the log's first offset. That happens when
// the topic was deleted and created again (or the broker lost its log): the
// offset is the old life's, and the new log is shorter. Not when the
// offsets cannot be read: the reader is signalled again while it waits.
func (pt *partition) checkEnd(ctx context.Context, offset int64) (first int64, past bool) {
	if offset < 0 { // no offset yet: the reader starts at the first one
		return 0, false
	}
	first, last, err := pt.p.logOffsets(ctx, pt.k.topic, pt.k.partition)
	if err != nil {
		pt.log.Debug("cannot read the partition's offsets", zap.Int64("offset", offset), zap.Error(err))
		return 0, false
	}
	return first, offset > last
}

// restart has fetching start again at first, the earliest offset of the
// partition, which the reader is past the end of: as Kafka's
// auto.offset.reset=earliest would, but warned about and counted. Waiting
// for the log to grow past the old offset would skip the new log's first
// messages, silently. The open batch is handed over (one replayed from the
// ledger is dropped: the rest of its messages went with the old log); then
// the flusher commits first, after the batches before it, so that whoever
// consumes the partition next starts from the new log's beginning too; and
// the ledger is read again from first, so the recorded batches of the old
// life are passed over where their first message is not the same one.
// It returns false when run ended.
func (pt *partition) restart(run context.Context, reader *kafka.Reader, first int64, handOver func(), out chan<- *batch) bool {
	at := reader.Offset()
	pt.resets.Inc()
	pt.log.Warn("the offset to read is past the end of the partition's log (topic deleted and created again, or its log lost?): "+
		"reading it again from its earliest offset", zap.Int64("offset", at), zap.Int64("earliest_offset", first))
	handOver()
	out <- &batch{restart: true, span: span{first: first, last: first - 1}}
	if err := pt.loadPlan(run, first); err != nil {
		return false
	}
	// A recorded batch starting before the new log's first offset is the
	// old log's: its first message cannot be compared, and replayed, its
	// token would have ClickHouse drop the new messages as a duplicate.
	for len(pt.plan) > 0 && pt.plan[0].first < first {
		pt.passOver(zap.Int64("log_start", first))
	}
	if err := reader.SetOffset(first); err != nil { // closed: stopping
		return false
	}
	return true
}

// While a partition is at least catchUpBehind messages behind, its batches
// may grow to catchUpAge times the maximum age.
const (
	catchUpBehind = 5000
	catchUpAge    = 8
)

// deadline is a context that ends at a batch's maximum age.
type deadline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (d *deadline) start(parent context.Context, t time.Time) {
	d.ctx, d.cancel = context.WithDeadline(parent, t)
}

func (d *deadline) stop() {
	if d.cancel != nil {
		d.cancel()
		d.cancel = nil
	}
}

// checkResumed drops the recorded batch that fetching resumes inside of
// (its first offset before start, the committed offset) when its first
// offset now holds another message: newBatch checks the batches it starts
// at their first offset, but not one it enters midway, and after a topic
// was created again the committed offset usually falls inside a batch of
// the earlier life. It reads that one message; when it cannot (retention
// deleted it, the broker does not answer), the batch replays as recorded.
func (pt *partition) checkResumed(ctx context.Context, start int64) {
	// Several earlier lives may each have left one there.
	for len(pt.plan) > 0 && pt.plan[0].first < start && pt.plan[0].fp != 0 {
		first := pt.plan[0].first
		m, err := pt.p.readAt(ctx, pt.k.topic, pt.k.partition, first)
		switch {
		case err != nil:
			pt.log.Warn("cannot read the first message of the recorded batch being resumed; replaying it as recorded",
				zap.Int64("first_offset", first), zap.Error(err))
			return
		case m.Offset != first || fingerprint(&m) == pt.plan[0].fp: // deleted (nothing to compare), or the same
			return
		}
		pt.passOver(zap.Int64("resumed_at", start))
	}
}

// checkLogStart passes over the recorded batch the partition's log now
// starts inside of (its first messages deleted by retention, or the topic
// created again since it was recorded) when fetching starts at the log's
// first offset (start, the committed offset, is before it or none) and the
// next recorded batch's first offset holds another message: the ledger is
// an earlier life's, and replaying the batch under its token would have
// ClickHouse drop the new messages as a duplicate. Without a next batch to
// compare (or its first message not readable yet), the batch replays as
// recorded, as within one life it must.
func (pt *partition) checkLogStart(ctx context.Context, start int64) {
	if len(pt.plan) < 2 || pt.plan[1].fp == 0 {
		return
	}
	first, _, err := pt.p.logOffsets(ctx, pt.k.topic, pt.k.partition)
	if err != nil || start > first || pt.plan[0].first >= first || pt.plan[0].last < first {
		return
	}
	next := pt.plan[1].first
	m, err := pt.p.readAt(ctx, pt.k.topic, pt.k.partition, next)
	if err != nil || m.Offset != next || fingerprint(&m) == pt.plan[1].fp {
		return
	}
	pt.passOver(zap.Int64("log_start", first))
}

// passOver drops pt.plan[0], a recorded batch whose first offset was just
// seen holding another message, and has the ledger retire it: it belongs
// to an earlier life of the partition and can never replay, so later
// assignments need not load it, read its first message and warn again.
// Only a mismatch seen here retires a batch; a batch whose first message
// cannot be read (or matches) is left as recorded.
func (pt *partition) passOver(fields ...zap.Field) {
	s := pt.plan[0]
	pt.plan = pt.plan[1:]
	pt.p.m.ledgerMismatches.Inc()
	// A topic created again passes over every batch of its old log's
	// ledger as the new log grows: the 1st, 2nd, 4th, 8th... are logged.
	pt.passedOver++
	if n := pt.passedOver; crossedPowerOfTwo(n-1, n) {
		pt.log.Warn("recorded batch not replayed: the message at its first offset is another one (topic created again or log lost?)",
			append([]zap.Field{zap.Int64("first_offset", s.first), zap.Int64("last_offset", s.last), zap.Int("passed_over", n)}, fields...)...)
	}
	pt.p.retirer.add(pt.k.topic, pt.k.partition, s)
}

// readAt reads the message at offset of topic/partition from its leader.
func (p *Pipeline) readAt(ctx context.Context, topic string, partition int, offset int64) (kafka.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := p.dialLeader(ctx, topic, partition)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("read offset %d: %w", offset, err)
	}
	defer conn.Close()
	if _, err = conn.Seek(offset, kafka.SeekAbsolute); err != nil {
		return kafka.Message{}, err
	}
	return conn.ReadMessage(p.cfg.MaxFetch)
}

// logOffsets reads the first offset of topic/partition and its last (the
// high watermark: the offset the next message will get) from its leader.
func (p *Pipeline) logOffsets(ctx context.Context, topic string, partition int) (first, last int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := p.dialLeader(ctx, topic, partition)
	if err != nil {
		return 0, 0, fmt.Errorf("read offsets: %w", err)
	}
	defer conn.Close()
	return conn.ReadOffsets()
}

// dialLeader connects to the leader of topic/partition through the first
// broker that answers, with ctx's deadline.
func (p *Pipeline) dialLeader(ctx context.Context, topic string, partition int) (*kafka.Conn, error) {
	dialer := p.cfg.Dialer
	if dialer == nil {
		dialer = kafka.DefaultDialer
	}
	var err error
	for _, broker := range p.cfg.Brokers {
		var conn *kafka.Conn
		if conn, err = dialer.DialLeader(ctx, "tcp", broker, topic, partition); err != nil {
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		return conn, nil
	}
	return nil, err
}

// newBatch starts a batch at m: on a recorded boundary if the ledger has
// one there that started with this message, else free but ending before
// the next recorded one.
func (pt *partition) newBatch(m *kafka.Message) *batch {
	offset := m.Offset
	for len(pt.plan) > 0 && pt.plan[0].last < offset {
		pt.plan = pt.plan[1:]
	}
	// A recorded batch whose first offset now holds another message belongs
	// to an earlier life of the partition (a topic created again, a broker
	// that lost its log): replaying it would give new messages its old
	// token, which ClickHouse drops as a duplicate.
	fp := fingerprint(m)
	for len(pt.plan) > 0 && pt.plan[0].first == offset && pt.plan[0].fp != 0 && pt.plan[0].fp != fp {
		pt.passOver()
	}
	now := time.Now()
	var b *batch
	select {
	case b = <-pt.free:
	default:
		b = &batch{rows: newRows(pt.kind)}
	}
	// A recycled batch keeps its rows and the capacity of its slices: a
	// fresh one regrows them message by message (3% of the ingester's CPU
	// in growslice for msgs alone, 1M-row profile).
	ttl := pt.p.ttl(pt.kind)
	*b = batch{span: span{first: offset, last: offset, fp: fp, ttl: int32(ttl)}, cutAt: math.MaxInt64, started: now, ingestMs: now.UnixMilli(), ttl: ttl,
		rows: b.rows, msgs: b.msgs[:0], valid: b.valid[:0], events: b.events[:0], rejected: b.rejected[:0]}
	if len(pt.plan) > 0 {
		next := pt.plan[0]
		if next.first <= offset {
			b.planned, b.span, b.cutAt = true, next, next.last
			if next.ttl >= 0 { // the TTL of the first attempt, not today's
				b.ttl = retention(next.ttl)
			}
			pt.plan = pt.plan[1:]
			pt.p.m.replayed.Inc()
			// Overlaps cannot come from one writer; if two instances raced
			// on a partition during a rebalance, the first range wins and
			// any that starts inside it is dropped, so cuts stay monotonic.
			for len(pt.plan) > 0 && pt.plan[0].first <= next.last {
				pt.plan = pt.plan[1:]
			}
		} else {
			b.cutAt = next.first - 1
		}
	}
	return b
}

func (p *Pipeline) onRetry(op string, log *zap.Logger) func(int, error, time.Duration) {
	c := p.m.retries.WithLabelValues(op)
	return func(attempt int, err error, wait time.Duration) {
		c.Inc()
		// A blip retried once is routine; a timeout is not (a server that
		// does not answer has already cost the attempt its whole timeout,
		// a minute for an insert, and would otherwise be silent for three).
		// Past that, warnings thin out (the 3rd, 5th, 9th, 17th, ...): while
		// ClickHouse is down every partition retries, and one line per
		// partition and attempt buried the one that said what was wrong.
		lvl := zap.DebugLevel
		powerOf2 := attempt&(attempt-1) == 0
		if attempt == 2 || powerOf2 && (attempt > 2 || isTimeout(err)) {
			lvl = zap.WarnLevel
		}
		log.Log(lvl, "retry "+op, zap.Int("attempt", attempt+1), zap.Duration("wait", wait), zap.Error(err))
	}
}

// isTimeout reports a deadline or a socket timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// ensureLease is lease.ensure, with a lost generation as a permanent error
// (nothing to retry). A partition without a lease (tests) always holds one.
func (pt *partition) ensureLease(ctx context.Context) error {
	if pt.lease == nil {
		return nil
	}
	err := pt.lease.ensure(ctx)
	if errors.Is(err, errFenced) {
		return backoff.Permanent(err)
	}
	return err
}

// flusher writes a partition's batches in order.
type flusher struct {
	pt     *partition
	ctx    context.Context
	run    context.Context // fetching: ends waiting for a refused insert (whileRefused)
	record context.Context // bounds recording new boundaries (errFenced)
	// stopped: a batch was abandoned, so no later one may commit (its
	// offset would cover the abandoned one's messages).
	stopped bool
	dec     *events.Decoder
	scratch rows // for rebuilding parts of a batch while bisecting
}

func newFlusher(pt *partition, run, ctx, record context.Context) *flusher {
	return &flusher{pt: pt, ctx: ctx, run: run, record: record, dec: events.NewDecoder(events.Options{MaxSize: pt.p.cfg.MaxMessage}), scratch: newRows(pt.kind)}
}

func (f *flusher) flush(b *batch) {
	if b.restart {
		f.restart(b.span.first)
		return
	}
	pt, p := f.pt, f.pt.p
	defer pt.recycle(b)
	if f.ctx.Err() != nil || f.stopped {
		return // abandoned: the next owner replays it from the ledger
	}
	topic, part := pt.k.topic, pt.k.partition
	token := b.span.token(topic, part)
	if !b.planned {
		err := pt.retryHeld(f.record, f.run, ledgerTable, "ledger", func(ctx context.Context) error {
			if err := pt.ensureLease(ctx); err != nil {
				return err
			}
			return p.ledger.record(ctx, topic, part, b.span, len(b.msgs))
		})
		if err != nil {
			f.abandoned(b, err, false)
			return
		}
		// The member may have been frozen while recording: the boundary
		// is in the ledger, but if the generation is gone the next owner
		// may have read the ledger before it landed.
		err = backoff.Retry(f.record, p.cfg.Retry, pt.ensureLease, p.onRetry("lease", pt.log))
		if err != nil {
			f.abandoned(b, err, true)
			return
		}
	}
	if len(b.valid) > 0 {
		if err := f.insert(b, 0, len(b.valid), token, true); err != nil {
			f.abandoned(b, err, true)
			return
		}
	}
	if len(b.rejected) > 0 && p.dlq != nil {
		err := backoff.Retry(f.ctx, p.cfg.Retry, func(ctx context.Context) error {
			return p.dlq.Write(ctx, b.rejected)
		}, p.onRetry("dlq", pt.log))
		if err != nil {
			f.abandoned(b, err, true)
			return
		}
	}
	next := b.span.last + 1
	err := backoff.Retry(f.ctx, p.cfg.Retry, func(ctx context.Context) error {
		return pt.com.commit(ctx, topic, part, next)
	}, p.onRetry("commit", pt.log))
	if err != nil {
		f.abandoned(b, err, true)
		return
	}
	p.m.commits.Inc()
	pt.observeEventTimes(b, time.Now().UnixMilli())
	for _, r := range b.rejected {
		p.m.rejected.WithLabelValues(topic, r.Code).Inc()
	}
	if b.unknown > 0 {
		p.m.unknownFields.WithLabelValues(topic).Add(float64(b.unknown))
	}
	pt.countMarkers(b)
	p.m.batchRows.Observe(float64(len(b.msgs) - b.markers[markerAbort] - b.markers[markerCommit]))
	p.m.batchBytes.Observe(float64(b.bytes))
	p.committed(pt.k, next)
}

// restart commits first, where fetching starts again on a partition found
// created again (partition.restart): a consumer of the partition after a
// crash would otherwise resume at the old life's offset, inside the new
// log, skipping its start. The commit moves the offset back: it covers none
// of the messages of a batch abandoned before, so it is made even then,
// and the new life's batches may commit after it.
func (f *flusher) restart(first int64) {
	pt, p := f.pt, f.pt.p
	if f.ctx.Err() != nil {
		return
	}
	err := backoff.Retry(f.ctx, p.cfg.Retry, func(ctx context.Context) error {
		return pt.com.commit(ctx, pt.k.topic, pt.k.partition, first)
	}, p.onRetry("commit", pt.log))
	if err != nil {
		f.stopped = true
		pt.log.Warn("offset of the restart not committed; whoever consumes the partition next finds it past the log's end again",
			zap.Int64("offset", first), zap.Error(err))
		return
	}
	f.stopped = false
	p.m.commits.Inc()
	p.committed(pt.k, first)
}

// abandoned stops the flusher after b failed; recorded says whether b's
// range reached the ledger (or came from it), which decides how the next
// owner of the partition reads it again.
func (f *flusher) abandoned(b *batch, err error, recorded bool) {
	f.stopped = true
	msg := "batch not committed; it is replayed from the ledger by whoever consumes the partition next"
	if !recorded {
		msg = "batch not committed and its range not recorded; whoever consumes the partition next reads it again from the committed offset"
	}
	f.pt.log.Warn(msg, zap.Int64("first_offset", b.span.first), zap.Int64("last_offset", b.span.last), zap.Error(err))
}

// insert writes the rows of b.valid[lo:hi]. When ClickHouse rejects them for
// their content, it bisects down to the offending messages, which join the
// batch's rejects; the rest goes in. The pieces' tokens derive from the
// batch's, so a replay bisects and deduplicates identically.
func (f *flusher) insert(b *batch, lo, hi int, token string, whole bool) error {
	p := f.pt.p
	table := f.pt.kind.Table()
	rows := b.rows
	if !whole {
		rows = f.scratch
		rows.reset()
		for _, i := range b.valid[lo:hi] {
			_, _ = rows.add(f.dec, &b.msgs[i], b.ingestMs, b.ttl) // decoded fine the first time
		}
	}
	ins := rows.insert()
	ins.Token = token
	var t0 time.Time
	err := f.pt.retryHeld(f.ctx, f.run, table, "insert", func(ctx context.Context) error {
		t0 = time.Now()
		// ingest_time is the attempt's, not the batch's: rows that land
		// after ClickHouse was down are not older than the aggregator's
		// ingest-time scans (chwriter.PredictionBlock.StampIngestTime).
		rows.stamp(t0.UnixMilli())
		err := p.sink.Insert(ctx, ins)
		if err == nil {
			return nil
		}
		kind := chwriter.KindOf(err)
		p.m.insertErrors.WithLabelValues(table, kind.String()).Inc()
		if kind == chwriter.KindContent {
			return backoff.Permanent(err) // bisected by the caller
		}
		return err
	})
	switch {
	case err == nil:
		p.m.insertDuration.WithLabelValues(table).Observe(time.Since(t0).Seconds())
		p.m.insertedRows.WithLabelValues(table).Add(float64(rows.count()))
		return nil
	case chwriter.KindOf(err) == chwriter.KindContent && f.ctx.Err() == nil:
		if whole {
			p.m.bisected.Inc()
		}
		if hi-lo == 1 {
			b.rejected = append(b.rejected, reject(&b.msgs[b.valid[lo]], CodeClickHouseRejected, err.Error()))
			return nil
		}
		mid := (lo + hi) / 2
		sub := func(lo, hi int) string {
			return token + "/" + strconv.FormatInt(b.msgs[b.valid[lo]].Offset, 10) + "-" + strconv.FormatInt(b.msgs[b.valid[hi-1]].Offset, 10)
		}
		if err := f.insert(b, lo, mid, sub(lo, mid), false); err != nil {
			return err
		}
		return f.insert(b, mid, hi, sub(mid, hi), false)
	}
	return err
}

// loadPlan reads the partition's recorded batches from offset from on into
// pt.plan, until it succeeds or run ends. A read ClickHouse refuses for
// the ledger table or the credentials counts as a refused partition, as a
// refused insert does: the partition cannot start without it.
func (pt *partition) loadPlan(run context.Context, from int64) error {
	return pt.retryHeld(run, run, ledgerTable, "ledger", func(ctx context.Context) error {
		var err error
		pt.plan, err = pt.p.ledger.load(ctx, pt.k.topic, pt.k.partition, from)
		return err
	})
}

// retryHeld runs attempt, an operation on table, with the Retry policy
// (onRetry logs it as op) until it succeeds or returns a Permanent error;
// a refusal for the table or the credentials ends that and is held by
// whileRefused.
func (pt *partition) retryHeld(ctx, run context.Context, table, op string, attempt func(context.Context) error) error {
	p := pt.p
	return pt.whileRefused(ctx, run, table, func(ctx context.Context) error {
		return backoff.Retry(ctx, p.cfg.Retry, func(ctx context.Context) error {
			err := attempt(ctx)
			if chwriter.KindOf(err) == chwriter.KindSchema && !backoff.IsPermanent(err) {
				return backoff.Permanent(err)
			}
			return err
		}, p.onRetry(op, pt.log))
	})
}

// whileRefused runs attempt again, with the same insert and token, for as
// long as ClickHouse refuses it for the table or the credentials
// (chwriter.KindSchema: a table dropped, renamed or short of a column
// while the ingester runs, a grant revoked, a password changed). Only an
// operator can fix those, so attempts are spaced by RefusedRetry; the
// partition holds its batch meanwhile (nothing committed, nothing lost),
// the other partitions go on, and it resumes by itself once the table is
// back. Any other outcome is returned, and so is the refusal once fetching
// has stopped (run: shutdown, revocation) or ctx is done: the batch is
// then left to the partition's next owner at once, rather than retried
// until the drain or abandon deadline.
func (pt *partition) whileRefused(ctx, run context.Context, table string, attempt func(context.Context) error) (err error) {
	p := pt.p
	held := false
	// The fetcher's own refused reads (loadPlan at a restart) may overlap
	// the flusher's hold: one sets pt.hold at a time, and each ends only
	// its own.
	var mine *chan struct{}
	defer func() {
		if held {
			if mine != nil {
				pt.hold.CompareAndSwap(mine, nil)
				close(*mine)
			}
			p.accepted(pt, table, err == nil)
		}
	}()
	for n := 0; ; n++ {
		err = attempt(ctx)
		if err == nil || chwriter.KindOf(err) != chwriter.KindSchema || ctx.Err() != nil || run.Err() != nil {
			return err
		}
		if !held {
			held = true
			p.refusalBegan(pt, table)
		}
		if mine == nil { // at each retry: the other hold may have ended
			ch := make(chan struct{})
			if pt.hold.CompareAndSwap(nil, &ch) {
				mine = &ch
				pt.wakeFetch()
			}
		}
		p.refused(pt.k, table, err)
		p.m.retries.WithLabelValues("refused").Inc()
		t := time.NewTimer(p.cfg.RefusedRetry.Delay(n, nil))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		case <-run.Done():
			t.Stop()
			return err
		}
	}
}
