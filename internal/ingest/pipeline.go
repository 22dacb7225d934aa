// Package ingest is the ingester's pipeline: a Kafka consumer group whose
// partitions are each fetched, decoded and batched by one goroutine and
// flushed by another, in order: record the batch's offsets, insert its rows,
// write its rejects to the DLQ, commit its offsets.
//
// Effectively once. A batch's boundaries are recorded in ClickHouse before
// its rows are inserted, and its insert carries a deduplication token made
// of the partition and those boundaries. Whoever consumes the partition
// after a crash, a restart or a rebalance loads the boundaries recorded after
// the committed offset and re-cuts the replayed messages on them: the same
// rows with the same token, which ClickHouse drops as duplicates (in the
// table and in its materialized views). No external state store is needed.
//
// Bounded memory. Every fetched message is charged to one budget until its
// batch is committed; when the budget is spent, partitions stop fetching.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/backoff"
	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/internal/dlq"
	"github.com/predlog/predlog/pkg/events"
)

// Config configures a Pipeline.
type Config struct {
	GroupID string
	Brokers []string
	Dialer  *kafka.Dialer
	// Transport's dial, TLS and SASL settings carry the start-up check
	// that the topics exist (nil: none).
	Transport *kafka.Transport
	Topics    map[string]Kind // topic -> what it carries

	MaxRows     int           // messages per batch
	MaxBytes    int64         // message bytes per batch
	MaxAge      time.Duration // age of a batch's first message before it is cut
	MaxBuffered int64         // bytes held by all uncommitted batches
	MaxFetch    int           // bytes per fetch request per partition
	// MaxMessage: longer messages are rejected as oversized (DLQ).
	MaxMessage int
	// MaxDecompressed bounds what one compressed record batch may
	// decompress to (see decompress.go); default max(64 MiB, 32 x
	// MaxMessage), as kafka.max_decompressed_batch_bytes.
	MaxDecompressed int64

	Retry backoff.Policy
	// RefusedRetry spaces the attempts at an insert ClickHouse refuses for
	// the table or the credentials (a table dropped or renamed, a column
	// missing, a password changed): only an operator can fix those, so
	// attempts are rarer than Retry's, but the partition resumes by itself
	// once it is fixed. Default: full jitter up to max(Retry.Max, 1s),
	// growing to three times that.
	RefusedRetry backoff.Policy
	// DrainTimeout bounds the flush after Run's context is cancelled.
	DrainTimeout time.Duration
	// AbandonAfter bounds how long a revoked partition retries its
	// in-flight batches before leaving them to the next owner, which
	// replays them from the ledger.
	AbandonAfter time.Duration
	// StallAfter makes Ready fail when a partition with lag has not
	// committed for that long.
	StallAfter time.Duration

	Instance string // host/pid, recorded in the ledger
	// LagInterval is how often consumer lag is measured.
	LagInterval time.Duration
	// RetentionInterval is how often the tables' TTL is read again (an
	// ALTER TABLE … MODIFY TTL applies without a restart). Default 5 min.
	RetentionInterval time.Duration

	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	HeartbeatInterval time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxRows <= 0 {
		c.MaxRows = 100_000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 16 << 20
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 500 * time.Millisecond
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 256 << 20
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = events.DefaultMaxSize
	}
	if c.MaxDecompressed <= 0 {
		c.MaxDecompressed = max(64<<20, 32*int64(c.MaxMessage))
	}
	if c.MaxFetch <= 0 {
		// The broker cuts messages longer than a fetch's limit short.
		c.MaxFetch = max(4<<20, 2*c.MaxMessage)
	}
	if c.RefusedRetry.Initial <= 0 {
		base := max(c.Retry.Max, time.Second)
		c.RefusedRetry = backoff.Policy{Initial: base, Max: 3 * base}
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 25 * time.Second
	}
	if c.AbandonAfter <= 0 {
		c.AbandonAfter = 10 * time.Second
	}
	if c.StallAfter <= 0 {
		c.StallAfter = 2 * time.Minute
	}
	if c.LagInterval <= 0 {
		c.LagInterval = 5 * time.Second
	}
	if c.RetentionInterval <= 0 {
		c.RetentionInterval = 5 * time.Minute
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 30 * time.Second
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 30 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 3 * time.Second
	}
}

// DeadLetters takes rejected messages; *dlq.Writer implements it.
type DeadLetters interface {
	Write(ctx context.Context, msgs []dlq.Rejected) error
}

// Pipeline consumes the configured topics into ClickHouse.
type Pipeline struct {
	cfg    Config
	sink   chwriter.Sink
	ledger *ledger
	// retirer records the recorded batches found stale (partition.passOver).
	retirer *retirer
	dlq     DeadLetters
	log     *zap.Logger
	m       *metrics
	budget  *budget
	// retention is the TTL of each kind's table, read when Run starts
	// (before any partition) and every RetentionInterval after; batches
	// take the value current when they start.
	retention atomic.Pointer[map[Kind]retention]

	mu       sync.Mutex
	started  bool      // Run was called (components start once the schema check passed)
	joined   time.Time // last generation joined; zero before the first
	joinErr  error     // last error joining the group
	joinFail time.Time // first of the join errors since the last join
	parts    map[tp]*partState
	// refusedLogged is when the refusal of each table's inserts was last
	// logged (see refused); a table is in it while a partition is refused.
	refusedLogged map[string]time.Time

	// hooks are nil outside tests (export_test.go sets them before Run).
	// They stop a partition's fetcher at points that timing reaches only
	// by luck (windows of a few instructions), so that a test can begin a
	// hold or create the topic again exactly there.
	hooks struct {
		// added: the message at offset joined the open batch; the fetcher
		// then seals the batch if full, and checks its log's end.
		added func(offset int64)
		// handingOver: seal, having read the hold, keeps the open batch
		// (its first offset) and waits for the flusher to take it.
		handingOver func(first int64)
	}
}

type tp struct {
	topic     string
	partition int
}

// partState is what readiness and lag reporting know of a partition.
type partState struct {
	lastCommit time.Time
	committed  int64 // next offset to consume as committed; < 0 before the first commit
	first      int64 // offset of the first message fetched before the first commit; < 0 until then
	lag        int64
	reader     *kafka.Reader
	// pastEnd has the partition check whether it reads past the end of
	// its log (partition.signalPastEnd); pastEndAt is the reader's offset
	// when the last lag report found it past the high watermark, else -1.
	pastEnd   func()
	pastEndAt int64
	// refused holds, per table, the refusal under way of the partition's
	// inserts into it (partition.whileRefused).
	refused map[string]*refusal
}

// refusal is an insert ClickHouse refuses for the table or the credentials.
type refusal struct {
	table string
	err   error
	since time.Time
}

// ErrInsertsRefused is what Ready reports while ClickHouse refuses a
// table's inserts for its schema or the credentials.
var ErrInsertsRefused = errors.New("ClickHouse refuses inserts")

// ErrDrainTimeout is the cause of abandoning batches at shutdown.
var ErrDrainTimeout = errors.New("drain timeout")

// New checks cfg and returns a pipeline. conn reads the batch ledger; sink
// writes everything.
func New(cfg Config, sink chwriter.Sink, conn driver.Conn, dl DeadLetters, log *zap.Logger, reg prometheus.Registerer) (*Pipeline, error) {
	cfg.setDefaults()
	switch {
	case cfg.GroupID == "":
		return nil, errors.New("ingest: empty consumer group id")
	case len(cfg.Brokers) == 0:
		return nil, errors.New("ingest: no Kafka brokers")
	case len(cfg.Topics) == 0:
		return nil, errors.New("ingest: no topics")
	}
	for t, k := range cfg.Topics {
		if k.Table() == "" {
			return nil, fmt.Errorf("ingest: topic %s: unknown kind %d", t, k)
		}
	}
	if log == nil {
		log = zap.NewNop()
	}
	// Both change kafka-go's process-wide tables: before this pipeline's
	// Kafka clients start (others of the process must not be running).
	limitDecompression(cfg.MaxDecompressed)
	registerHeartbeat()
	m := newMetrics(reg)
	m.start(cfg.Topics)
	l := &ledger{group: cfg.GroupID, instance: cfg.Instance, sink: sink, conn: conn}
	p := &Pipeline{
		cfg:     cfg,
		sink:    sink,
		ledger:  l,
		retirer: newRetirer(l.retire, log),
		dlq:     dl,
		log:     log,
		m:       m,
		budget:  newBudget(cfg.MaxBuffered, func(n int64) { m.buffered.Set(float64(n)) }),
		parts:   map[tp]*partState{},

		refusedLogged: map[string]time.Time{},
	}
	return p, nil
}

// Run consumes until ctx is done, then stops fetching, flushes and commits
// what it holds (within DrainTimeout), leaves the group and returns nil.
// Inserts ClickHouse refuses for the table or the credentials do not stop
// it: their partitions hold their batches, retry (partition.whileRefused)
// and read no further, while the others go on (not when the refused table
// is the ledger, which every batch needs), and Ready fails.
func (p *Pipeline) Run(ctx context.Context) error {
	p.mu.Lock()
	p.started = true
	p.mu.Unlock()
	ret := readRetention(ctx, p.ledger.conn, p.cfg.Retry, p.log)
	p.retention.Store(&ret)
	topics := make([]string, 0, len(p.cfg.Topics))
	for t := range p.cfg.Topics {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	p.checkTopics(ctx, topics)
	groupsSeen := map[string]bool{}
	p.warnOtherGroups(ctx, topics, groupsSeen)
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                p.cfg.GroupID,
		Brokers:           p.cfg.Brokers,
		Dialer:            p.cfg.Dialer,
		Topics:            topics,
		StartOffset:       kafka.FirstOffset,
		SessionTimeout:    p.cfg.SessionTimeout,
		RebalanceTimeout:  p.cfg.RebalanceTimeout,
		HeartbeatInterval: p.cfg.HeartbeatInterval,
		JoinGroupBackoff:  time.Second,
		ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { p.log.Debug("kafka group: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("consumer group: %w", err)
	}

	// stop ends fetching: the caller's shutdown. hard ends flushing:
	// DrainTimeout after stop.
	stop, cancelStop := context.WithCancel(ctx)
	defer cancelStop()
	hard, cancelHard := context.WithCancelCause(context.Background())
	defer cancelHard(nil)

	// The retirer outlives the partitions, which may pass over stale
	// batches until they return: it is stopped after group.Close (deferred
	// here, so it runs after the body), then writes what is left within
	// hard, before hard is cancelled (the defer above runs later).
	retireDone, retireStopped := make(chan struct{}), make(chan struct{})
	go func() { defer close(retireStopped); p.retirer.run(hard, retireDone) }()
	defer func() {
		close(retireDone)
		<-retireStopped
	}()
	stopDrain := context.AfterFunc(stop, func() {
		t := time.AfterFunc(p.cfg.DrainTimeout, func() { cancelHard(ErrDrainTimeout) })
		context.AfterFunc(hard, func() { t.Stop() })
	})
	defer stopDrain()

	lagCtx, stopLag := context.WithCancel(stop)
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); p.reportLag(lagCtx, p.cfg.LagInterval) }()
	defer func() { stopLag(); <-lagDone }()
	retCtx, stopRet := context.WithCancel(stop)
	retDone := make(chan struct{})
	go func() {
		defer close(retDone)
		p.refreshRetention(retCtx, p.cfg.RetentionInterval, func() { p.warnOtherGroups(retCtx, topics, groupsSeen) })
	}()
	defer func() { stopRet(); <-retDone }()

	// One committer per generation; the previous generation's partitions
	// have all returned once Next hands out the next one, and Close below
	// waits for the last generation's.
	var com *committer
	defer func() {
		if com != nil {
			com.close()
		}
	}()

	attempt := 0
	for {
		gen, err := group.Next(stop)
		if err != nil {
			if stop.Err() != nil {
				break
			}
			// The previous generation, if any, has ended: its partitions
			// are no longer ours.
			p.m.assigned.Set(0)
			p.mu.Lock()
			if p.joinErr == nil {
				p.joinFail = time.Now()
			}
			p.joinErr = err
			p.mu.Unlock()
			p.m.retries.WithLabelValues("join").Inc()
			p.log.Warn("join consumer group", zap.Error(err))
			wait := p.cfg.Retry.Delay(attempt, nil)
			attempt++
			select {
			case <-time.After(wait):
			case <-stop.Done():
			}
			continue
		}
		attempt = 0
		if com != nil {
			com.close()
		}
		com = newCommitter(gen)
		ls := newLease(p.heartbeat(gen), p.cfg.SessionTimeout/2, time.Now)
		p.m.rebalances.Inc()
		n := 0
		for topic, as := range gen.Assignments {
			n += len(as)
			for _, a := range as {
				gen.Start(func(gctx context.Context) {
					p.consume(stop, hard, gctx, com, ls, topic, a)
				})
			}
		}
		p.m.assigned.Set(float64(n))
		p.mu.Lock()
		p.joined, p.joinErr = time.Now(), nil
		p.mu.Unlock()
		p.log.Info("joined consumer group", zap.Int32("generation", gen.ID), zap.String("member", gen.MemberID), zap.Int("partitions", n))
	}
	// Close waits for the generation's partition goroutines, which drain
	// (flush and commit) before they return, then leaves the group.
	t0 := time.Now()
	_ = group.Close()
	p.log.Info("left consumer group", zap.Duration("drain", time.Since(t0)))
	return nil
}

// checkTopics warns about configured topics the brokers do not have. The
// consumer group would go on without a word: with automatic topic creation
// on, the broker creates a misspelt topic, and the ingester consumes it
// while the real one fills up unread. A missing topic may only be new
// (producers not started yet), hence a warning. The metadata request does
// not create topics.
func (p *Pipeline) checkTopics(ctx context.Context, topics []string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// A transport of its own: a kafka.Transport answers metadata requests
	// from a cache that a shared one may have filled before the topic was
	// created; a new one fetches the cluster's metadata first.
	tr := &kafka.Transport{}
	if t := p.cfg.Transport; t != nil {
		tr = &kafka.Transport{Dial: t.Dial, DialTimeout: t.DialTimeout, TLS: t.TLS, SASL: t.SASL, ClientID: t.ClientID}
	}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(p.cfg.Brokers...), Transport: tr}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		p.log.Debug("cannot check that the topics exist", zap.Error(err))
		return
	}
	var names []string
	for _, t := range md.Topics {
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			p.log.Warn("topic does not exist (yet): check its name in kafka.topics; if it is created later, restart the ingester to consume it",
				zap.String("topic", t.Name), zap.Stringer("carries", p.cfg.Topics[t.Name]))
			continue
		}
		names = append(names, t.Name)
	}
	if len(names) > 0 {
		p.log.Debug("topics exist", zap.Strings("topics", names))
	}
}

// Ready reports whether the pipeline is consuming: in the group (its last
// join attempt succeeded), no partition whose inserts ClickHouse refuses,
// and none with lag left uncommitted for StallAfter.
func (p *Pipeline) Ready(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.refusedErr(); err != nil {
		return err
	}
	switch {
	case !p.started:
		return errors.New("not started")
	case p.joinErr != nil && p.joined.IsZero():
		return fmt.Errorf("not in consumer group: %w", p.joinErr)
	case p.joinErr != nil && time.Since(p.joinFail) > p.cfg.SessionTimeout:
		// After a successful join: the broker went away, or the group
		// cannot be joined again. Not at once: a rebalance while members
		// come and go (a rolling deploy) fails a join or two
		// (RebalanceInProgress) without anything being wrong.
		return fmt.Errorf("not in consumer group for %s: %w", time.Since(p.joinFail).Round(time.Second), p.joinErr)
	case p.joined.IsZero():
		return errors.New("joining consumer group")
	}
	now := time.Now()
	for k, s := range p.parts {
		if s.lag > 0 && now.Sub(s.lastCommit) > p.cfg.StallAfter {
			return fmt.Errorf("stalled: %s/%d has lag %d and no commit for %s", k.topic, k.partition, s.lag, now.Sub(s.lastCommit).Round(time.Second))
		}
	}
	return nil
}

// refusedErr reports the partition refused longest, if any (p.mu held).
func (p *Pipeline) refusedErr() error {
	var first *refusal
	n := 0
	for _, s := range p.parts {
		if len(s.refused) > 0 {
			n++
		}
		for _, r := range s.refused {
			if first == nil || r.since.Before(first.since) {
				first = r
			}
		}
	}
	if first == nil {
		return nil
	}
	return fmt.Errorf("%w into %s for %s (%d partition(s) hold their batches and retry): %w",
		ErrInsertsRefused, first.table, time.Since(first.since).Round(time.Second), n, first.err)
}

// refusedLogEvery: while ClickHouse refuses a table's inserts, the error is
// logged again this often, not at every partition's every attempt.
const refusedLogEvery = 5 * time.Minute

// refused records that ClickHouse refused an insert of k into table for
// the table or the credentials, and logs it for the table's first refused
// partition, then every refusedLogEvery.
func (p *Pipeline) refused(k tp, table string, err error) {
	now := time.Now()
	p.mu.Lock()
	if s := p.parts[k]; s != nil {
		r := s.refused[table]
		if r == nil {
			if s.refused == nil {
				s.refused = map[string]*refusal{}
			}
			r = &refusal{table: table, since: now}
			s.refused[table] = r
		}
		r.err = err
	}
	n := 0
	for _, s := range p.parts {
		if s.refused[table] != nil {
			n++
		}
	}
	last, seen := p.refusedLogged[table]
	logNow := !seen || now.Sub(last) >= refusedLogEvery
	if logNow {
		p.refusedLogged[table] = now
	}
	p.mu.Unlock()
	if !logNow {
		return
	}
	msg := "ClickHouse refuses inserts into " + table + " (table dropped or renamed, a column missing, a grant revoked, " +
		"or a setting or version mismatch?): its partitions hold their batches, commit nothing and retry until it is fixed " +
		"(rename it back, or create it again: `ingester migrate check` names what is missing and how)"
	if table == ledgerTable {
		msg += "; every batch is recorded there first, so no table goes on meanwhile"
	} else {
		msg += "; they read no further meanwhile, and the other tables go on"
	}
	if chwriter.AuthError(err) {
		msg = "ClickHouse rejects the ingester's credentials: the partitions hold their batches, commit nothing and retry " +
			"until they are accepted; check clickhouse.user and clickhouse.password (or its env var or file) against the server's users"
	}
	p.log.Error(msg, zap.String("table", table), zap.Int("partitions", n), zap.Error(err))
}

// refusalBegan counts a refusal of pt's inserts into table beginning
// (whileRefused, before its first refused call): the partition counts
// once per table in the gauge however many it holds at once.
func (p *Pipeline) refusalBegan(pt *partition, table string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pt.refusing(table, 1) {
		p.m.refusedPartitions.WithLabelValues(table).Inc()
	}
}

// accepted ends a refusal of pt's inserts into table (see refused),
// resumed says by a successful insert (else: the partition stopped
// trying); the partition's refusal of the table ends with the last of
// those under way. The table's last refused partition to resume says so.
func (p *Pipeline) accepted(pt *partition, table string, resumed bool) {
	p.mu.Lock()
	if !pt.refusing(table, -1) {
		// Another refusal of the table on the partition lasts: it stays
		// refused (readiness), and that one ends it.
		p.mu.Unlock()
		return
	}
	p.m.refusedPartitions.WithLabelValues(table).Dec()
	if s := p.parts[pt.k]; s != nil {
		delete(s.refused, table)
	}
	for _, s := range p.parts {
		if s.refused[table] != nil {
			p.mu.Unlock()
			return
		}
	}
	_, logged := p.refusedLogged[table]
	delete(p.refusedLogged, table)
	p.mu.Unlock()
	if logged && resumed {
		p.log.Info("ClickHouse accepts inserts into "+table+" again", zap.String("table", table))
	}
}

func (p *Pipeline) setPart(k tp, s *partState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.parts[k] = s
}

// clearPart removes k's state if it is still s: a later generation's
// consume of the same partition may have set its own meanwhile.
func (p *Pipeline) clearPart(k tp, s *partState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parts[k] == s {
		delete(p.parts, k)
	}
}

// fetchedFirst records the offset of the first message fetched on k
// before anything was committed.
func (p *Pipeline) fetchedFirst(k tp, offset int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.parts[k]; s != nil && s.first < 0 {
		s.first = offset
	}
}

// committed records a commit of next on k.
func (p *Pipeline) committed(k tp, next int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.parts[k]; s != nil {
		s.lastCommit, s.committed = time.Now(), next
	}
}

// reportLag refreshes the lag of every assigned partition every interval
// until ctx is done. Lag is measured against the committed offset and the
// broker's high watermark, so it keeps growing while fetching is paused
// (ClickHouse down, budget spent) instead of freezing at its last value.
func (p *Pipeline) reportLag(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		snap := make(map[tp]partState, len(p.parts))
		for k, s := range p.parts {
			snap[k] = *s
		}
		p.mu.Unlock()
		for k, s := range snap {
			if s.reader == nil {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, interval)
			behind, err := s.reader.ReadLag(rctx) // high watermark - next fetch offset
			cancel()
			if err != nil {
				continue
			}
			// The high watermark below the reader's offset: the topic
			// created again under it, or, on a busy partition, fetching
			// moved on since the watermark was read (ReadLag reads it
			// first). A reader past the end waits where it is: only twice
			// at the same offset has the partition check (a dial).
			offset, pastEndAt := s.reader.Offset(), int64(-1)
			if behind < 0 && s.pastEnd != nil {
				pastEndAt = offset
				if s.pastEndAt == offset {
					s.pastEnd()
				}
			}
			lag := max(behind+offset-s.committed, 0)
			switch {
			case s.committed >= 0:
			case s.first >= 0:
				// Nothing committed yet: everything fetched since the first
				// message is still uncommitted.
				lag = max(behind+offset-s.first, 0)
			default:
				lag = max(behind, 0)
			}
			p.mu.Lock()
			if cur := p.parts[k]; cur != nil {
				cur.lag, cur.pastEndAt = lag, pastEndAt
				part := strconv.Itoa(k.partition)
				p.m.lag.WithLabelValues(k.topic, part).Set(float64(lag))
				p.m.commitAge.WithLabelValues(k.topic, part).Set(time.Since(cur.lastCommit).Seconds())
			}
			p.mu.Unlock()
		}
	}
}
