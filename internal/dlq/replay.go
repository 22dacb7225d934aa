package dlq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Replay defaults for zero ReplayConfig fields.
const (
	DefaultReplayGroup     = "predlog-dlq-replay"
	DefaultReplayBatchSize = 500
	// DefaultReplayJoin bounds joining the group (Kafka holds a join
	// for up to group.initial.rebalance.delay.ms and the other members'
	// rebalance).
	DefaultReplayJoin = time.Minute
	// DefaultReplayIdle is how long Replay waits for the next message of a
	// partition below the high watermark it saw at start before it stops
	// reading that partition (a leader that does not answer, offsets
	// compacted away at the end): the partition is then reported as
	// stopped early and Replay returns ErrReplayIncomplete.
	DefaultReplayIdle = 10 * time.Second
	// maxListed is how many value-dropped messages Replay logs one by one;
	// the rest are summarised.
	maxListed = 20
)

// ReplayConfig configures Replay. Topic, Brokers and Group are required.
type ReplayConfig struct {
	// Topic is the dead-letter topic to read (kafka.topics.dlq).
	Topic   string
	Brokers []string
	// Dialer reads the DLQ and Transport produces and commits: the
	// ingester's (kafkaclient.Dialer and Transport, with its TLS and SASL).
	// Nil means kafka-go's defaults.
	Dialer    *kafka.Dialer
	Transport *kafka.Transport
	// Group is the consumer group whose committed offsets say where to
	// start (the earliest offset when it has none, warned about) and which
	// Replay advances. Replay joins it as a member for the run, and
	// replays the DLQ partitions the group assigns it, so two replays of
	// one group started together split the partitions; a group that
	// already has members (a running consumer's, another replay's) is
	// refused before anything is produced. A dry run does not join.
	Group string
	// Codes and SourceTopics select the messages to replay; empty selects
	// all.
	Codes, SourceTopics []string
	// DryRun produces and commits nothing; each message that would be
	// replayed is listed on Out.
	DryRun bool
	Out    io.Writer
	// MaxMessageBytes bounds one message read or produced (the larger of
	// kafka.max_message_bytes and kafka.dlq_max_message_bytes). Default
	// 1 MiB.
	MaxMessageBytes int
	// BatchSize is how many DLQ messages of a partition are read before
	// the kept ones are produced and the partition's offset is committed.
	// Default 500.
	BatchSize int
	// Idle: see DefaultReplayIdle.
	Idle time.Duration

	// Tests only: join the group even when it has members (as two runs
	// started together do), and a call between a batch's produce and its
	// commit.
	joinWithMembers bool
	beforeCommit    func(partition int)
}

// ReplayKey groups the summary: a DLQ message's code and source topic.
type ReplayKey struct {
	Code, SourceTopic string
}

// ReplayCounts counts the DLQ messages of one ReplayKey.
type ReplayCounts struct {
	// Replayed were produced to their source topic (in a dry run: would
	// have been).
	Replayed int
	// Skipped were selected but cannot be replayed whole: their value,
	// headers or key were dropped (HeaderValueDropped,
	// HeaderHeadersDropped, HeaderKeyDropped).
	Skipped int
	// Filtered were not selected by --code or --source-topic.
	Filtered int
}

// ReplaySummary is what Replay did.
type ReplaySummary struct {
	DryRun bool
	Counts map[ReplayKey]*ReplayCounts
	// Invalid counts messages of the DLQ topic that Parse refused (not
	// written by a Writer); they are skipped.
	Invalid int
	// Partitions is how many DLQ partitions held messages to read.
	Partitions int
	// Stopped lists the DLQ partitions whose reading stopped before the
	// end seen at start (nothing to read for Idle): what was read of them
	// is replayed and committed, the rest left for a rerun.
	Stopped []int
	// FromEarliest: the group had no committed offset on the DLQ topic
	// (a first run, or offsets expired under the broker's
	// offsets.retention.minutes), so every retained message was read.
	FromEarliest bool
}

// ErrReplayIncomplete: a DLQ partition stopped before its end
// (ReplaySummary.Stopped); what was read is replayed and committed.
var ErrReplayIncomplete = errors.New("dlq replay: some dlq partitions stopped before their end; run it again")

// Filter selects DLQ messages by code and source topic; an empty list
// selects all.
type Filter struct {
	Codes, SourceTopics []string
}

// Keep reports whether r is selected.
func (f Filter) Keep(r Rejected) bool {
	return (len(f.Codes) == 0 || slices.Contains(f.Codes, r.Code)) &&
		(len(f.SourceTopics) == 0 || slices.Contains(f.SourceTopics, r.Topic))
}

// ParseList splits a comma-separated flag value ("a,b, c") into its
// trimmed, non-empty, distinct items in order; "" gives none. An empty
// item between commas is an error, so that a stray comma is not taken for
// "all".
func ParseList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("empty item in %q", s)
		}
		if !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return out, nil
}

// replayer holds one Replay's clients and counts.
type replayer struct {
	cfg    ReplayConfig
	log    *zap.Logger
	filter Filter
	client *kafka.Client
	w      *kafka.Writer
	sum    ReplaySummary
	listed int   // value-dropped messages logged one by one
	seen   []int // DLQ partitions with messages read (ReplaySummary.Partitions)
}

// Replay produces the DLQ messages of cfg.Topic that cfg selects back to
// their source topic, from cfg.Group's committed offsets up to the high
// watermarks at start, committing each partition's offset once what was
// read of it is acknowledged (by all in-sync replicas). Messages go back to
// their source partition (modulo the topic's partitions) with their
// original key, value and headers (the ones the DLQ added removed) and the
// current time as timestamp. A message whose value was dropped is counted
// as skipped and logged; one that is not a DLQ message is counted as
// invalid and logged. Filtered and skipped messages are committed too: the
// group's offsets mark what it has read, not what it replayed.
//
// On error the summary counts what was done until then; the offsets of
// what was produced but not yet committed are not, so a rerun replays it
// again.
func Replay(ctx context.Context, cfg ReplayConfig, log *zap.Logger) (ReplaySummary, error) {
	if cfg.Topic == "" {
		return ReplaySummary{}, errors.New("dlq replay: invalid kafka.topics.dlq: must not be empty")
	}
	if len(cfg.Brokers) == 0 {
		return ReplaySummary{}, errors.New("dlq replay: invalid kafka.brokers: must not be empty")
	}
	if cfg.Group == "" {
		return ReplaySummary{}, errors.New("dlq replay: invalid --group: must not be empty")
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultReplayBatchSize
	}
	if cfg.Idle <= 0 {
		cfg.Idle = DefaultReplayIdle
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if log == nil {
		log = zap.NewNop()
	}
	rp := &replayer{
		cfg:    cfg,
		log:    log,
		filter: Filter{Codes: cfg.Codes, SourceTopics: cfg.SourceTopics},
		client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: DefaultWriteTimeout},
		sum:    ReplaySummary{DryRun: cfg.DryRun, Counts: map[ReplayKey]*ReplayCounts{}},
	}
	if cfg.Transport != nil {
		rp.client.Transport = cfg.Transport
	}
	if !cfg.DryRun {
		rp.w = &kafka.Writer{
			Addr:         kafka.TCP(cfg.Brokers...),
			Balancer:     sourcePartition{},
			MaxAttempts:  DefaultMaxAttempts,
			BatchSize:    cfg.BatchSize,
			BatchBytes:   int64(cfg.MaxMessageBytes),
			BatchTimeout: DefaultBatchTimeout,
			WriteTimeout: DefaultWriteTimeout,
			RequiredAcks: kafka.RequireAll,
			// A source topic that is gone is an error, not a new topic.
			AllowAutoTopicCreation: false,
		}
		if cfg.Transport != nil {
			rp.w.Transport = cfg.Transport
		}
		defer rp.w.Close()
	}
	err := rp.run(ctx)
	if err == nil && len(rp.sum.Stopped) > 0 {
		err = ErrReplayIncomplete
	}
	return rp.sum, err
}

// span is the part of one DLQ partition to read: [start, end).
type span struct {
	partition  int
	start, end int64
}

// errRebalanced: the group's generation ended (a member joined or left)
// while this run replayed a partition; it finished the batch in hand,
// committed it, and joins the next generation.
var errRebalanced = errors.New("the group rebalanced")

// member is the group generation a non-dry run replays in: its commits
// go through it, and ended is done once the group rebalances.
type member struct {
	gen   *kafka.Generation
	ended context.Context
}

func (rp *replayer) run(ctx context.Context) error {
	parts, err := rp.partitions(ctx)
	if err != nil {
		return err
	}
	// Each partition's end is its high watermark now: a run replays what
	// was dead-lettered before it started, however late a rebalance gives
	// it a partition (not what it replayed and was rejected again since).
	_, ends, err := rp.offsets(ctx, parts)
	if err != nil {
		return err
	}
	if rp.cfg.DryRun {
		err = rp.replay(ctx, parts, ends, nil)
	} else {
		err = rp.asMember(ctx, ends)
	}
	if err != nil {
		return err
	}
	if n := rp.listed; n > maxListed {
		rp.log.Warn("more selected messages without their value were skipped than were logged", zap.Int("not_logged", n-maxListed))
	}
	return nil
}

// asMember joins cfg.Group and replays the DLQ partitions each generation
// assigns this run until one ends with all of them read. A group that
// already has members is refused before anything is produced: joining a
// running consumer's group would take part in its rebalances.
func (rp *replayer) asMember(ctx context.Context, ends map[int]int64) error {
	if !rp.cfg.joinWithMembers {
		if err := rp.checkEmpty(ctx); err != nil {
			return err
		}
	}
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:               rp.cfg.Group,
		Brokers:          rp.cfg.Brokers,
		Dialer:           rp.cfg.Dialer,
		Topics:           []string{rp.cfg.Topic},
		StartOffset:      kafka.FirstOffset,
		JoinGroupBackoff: time.Second,
		// Longer than a batch's produce can take (3 attempts of
		// DefaultWriteTimeout), so that a rebalance waits for the batch in
		// hand to be committed rather than evicting this member.
		RebalanceTimeout: 2 * time.Minute,
		ErrorLogger:      kafka.LoggerFunc(func(msg string, args ...any) { rp.log.Debug("kafka group: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("dlq replay: group %s: %w", rp.cfg.Group, err)
	}
	defer cg.Close() // leaves the group (a second Close is a no-op)
	for {
		gen, err := rp.join(ctx, cg)
		if err != nil {
			return err
		}
		var parts []int
		for _, a := range gen.Assignments[rp.cfg.Topic] {
			parts = append(parts, a.ID)
		}
		slices.Sort(parts)
		if len(parts) == 0 {
			rp.log.Info("the group assigned this run no dlq partition (another replay of the group reads them)",
				zap.String("group", rp.cfg.Group), zap.Int32("generation", gen.ID))
		}
		// Replayed inside the generation: the group waits for it to
		// return before it rebalances, so a batch produced is committed
		// before another member can be given its partition.
		done, release := make(chan error, 1), make(chan struct{})
		gen.Start(func(ended context.Context) {
			err := rp.replay(ctx, parts, ends, &member{gen, ended})
			done <- err
			if !errors.Is(err, errRebalanced) {
				// Ending the generation before the group is closed would
				// have kafka-go join it again (another rebalance for the
				// other members, and Close waiting for it).
				<-release
			}
		})
		err = <-done
		if errors.Is(err, errRebalanced) {
			rp.log.Info("the group rebalanced (another member joined or left): rejoining", zap.String("group", rp.cfg.Group))
			continue
		}
		closed := make(chan struct{})
		go func() { _ = cg.Close(); close(closed) }()
		for { // until Close has marked the group closed
			if _, nerr := cg.Next(context.Background()); errors.Is(nerr, kafka.ErrGroupClosed) {
				break
			}
		}
		close(release)
		<-closed
		return err
	}
}

// join waits for the group's next generation, joining again after the
// errors a rebalance gives a member that was slow to rejoin (kafka-go has
// then left the group and joins afresh), for up to DefaultReplayJoin.
func (rp *replayer) join(ctx context.Context, cg *kafka.ConsumerGroup) (*kafka.Generation, error) {
	jctx, cancel := context.WithTimeout(ctx, DefaultReplayJoin)
	defer cancel()
	for {
		gen, err := cg.Next(jctx)
		switch {
		case err == nil:
			return gen, nil
		case jctx.Err() == nil && (errors.Is(err, kafka.UnknownMemberId) || errors.Is(err, kafka.IllegalGeneration) ||
			errors.Is(err, kafka.RebalanceInProgress) || errors.Is(err, kafka.GroupCoordinatorNotAvailable) ||
			errors.Is(err, kafka.NotCoordinatorForGroup) || errors.Is(err, kafka.GroupLoadInProgress)):
			rp.log.Info("joining the group again", zap.String("group", rp.cfg.Group), zap.Error(err))
		default:
			return nil, fmt.Errorf("dlq replay: join group %s: %w", rp.cfg.Group, err)
		}
	}
}

// offsets returns the first offset and the high watermark of each of
// parts.
func (rp *replayer) offsets(ctx context.Context, parts []int) (first, last map[int]int64, err error) {
	topic := rp.cfg.Topic
	var reqs []kafka.OffsetRequest
	for _, p := range parts {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	lo, err := rp.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, nil, fmt.Errorf("dlq replay: offsets of %s: %w", topic, err)
	}
	first, last = map[int]int64{}, map[int]int64{}
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			return nil, nil, fmt.Errorf("dlq replay: offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		first[po.Partition], last[po.Partition] = po.FirstOffset, po.LastOffset
	}
	return first, last, nil
}

// checkEmpty refuses a group with members.
func (rp *replayer) checkEmpty(ctx context.Context) error {
	res, err := rp.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{rp.cfg.Group}})
	if err != nil {
		return fmt.Errorf("dlq replay: describe group %s: %w", rp.cfg.Group, err)
	}
	for _, g := range res.Groups {
		if g.Error != nil && !errors.Is(g.Error, kafka.GroupIdNotFound) {
			return fmt.Errorf("dlq replay: describe group %s: %w", rp.cfg.Group, g.Error)
		}
		if len(g.Members) > 0 {
			return fmt.Errorf("dlq replay: group %s has members (%d: a running consumer, or another replay, uses it): stop them or pass another --group",
				rp.cfg.Group, len(g.Members))
		}
	}
	return nil
}

// replay reads parts of the DLQ topic from the group's committed offsets
// up to ends (each partition's high watermark when this run first saw it,
// recorded there).
func (rp *replayer) replay(ctx context.Context, parts []int, ends map[int]int64, m *member) error {
	spans, err := rp.spans(ctx, parts, ends)
	if err != nil {
		return err
	}
	for _, s := range spans {
		if s.start >= s.end {
			continue
		}
		if !slices.Contains(rp.seen, s.partition) {
			rp.seen = append(rp.seen, s.partition)
			rp.sum.Partitions++
		}
		rp.log.Info("replaying dlq partition", zap.String("dlq_topic", rp.cfg.Topic), zap.Int("partition", s.partition),
			zap.Int64("from_offset", s.start), zap.Int64("to_offset", s.end), zap.Bool("dry_run", rp.cfg.DryRun))
		if err := rp.partition(ctx, s, m); err != nil {
			return err
		}
	}
	return nil
}

// partitions lists the DLQ topic's partitions.
func (rp *replayer) partitions(ctx context.Context) ([]int, error) {
	topic := rp.cfg.Topic
	meta, err := rp.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("dlq replay: metadata of %s: %w", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		var terr error = kafka.UnknownTopicOrPartition
		if len(meta.Topics) == 1 {
			terr = meta.Topics[0].Error
		}
		return nil, fmt.Errorf("dlq replay: dlq topic %s (kafka.topics.dlq): %w", topic, terr)
	}
	var parts []int
	for _, p := range meta.Topics[0].Partitions {
		parts = append(parts, p.ID)
	}
	slices.Sort(parts)
	return parts, nil
}

// spans finds, for parts, the group's committed offset (or the earliest
// one, also when the committed one is gone to retention) and the end: the
// one in ends, else the high watermark now, recorded there.
func (rp *replayer) spans(ctx context.Context, parts []int, ends map[int]int64) ([]span, error) {
	if len(parts) == 0 {
		return nil, nil
	}
	topic := rp.cfg.Topic
	first, last, err := rp.offsets(ctx, parts)
	if err != nil {
		return nil, err
	}
	of, err := rp.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: rp.cfg.Group, Topics: map[string][]int{topic: parts}})
	if err == nil {
		err = of.Error
	}
	if errors.Is(err, kafka.GroupIdNotFound) {
		// Some brokers answer so for a group that never committed; Kafka
		// answers offset -1.
		of, err = &kafka.OffsetFetchResponse{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dlq replay: committed offsets of group %s: %w", rp.cfg.Group, err)
	}
	committed := map[int]int64{} // partitions with an offset (Kafka answers -1 for none)
	for _, p := range of.Topics[topic] {
		if errors.Is(p.Error, kafka.GroupIdNotFound) {
			continue
		}
		if p.Error != nil {
			return nil, fmt.Errorf("dlq replay: committed offset of group %s on %s/%d: %w", rp.cfg.Group, topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			committed[p.Partition] = p.CommittedOffset
		}
	}
	if len(committed) == 0 && !rp.sum.FromEarliest {
		rp.sum.FromEarliest = true
		rp.log.Warn("the group has no committed offset on the dlq topic (a first run, or its offsets expired under the broker's offsets.retention.minutes): replaying from the earliest retained message",
			zap.String("group", rp.cfg.Group), zap.String("dlq_topic", topic))
	}
	spans := make([]span, 0, len(parts))
	for _, p := range parts {
		f, l := first[p], last[p]
		start := f
		if c, ok := committed[p]; ok {
			if c < f {
				rp.log.Warn("the group's committed offset is below the dlq partition's first offset (deleted by retention); starting at the first",
					zap.String("group", rp.cfg.Group), zap.Int("partition", p), zap.Int64("committed", c), zap.Int64("first", f))
			} else if c > l {
				rp.log.Warn("the group's committed offset is past the dlq partition's end (the dlq topic created again?); starting at its first offset",
					zap.String("group", rp.cfg.Group), zap.Int("partition", p), zap.Int64("committed", c), zap.Int64("end", l))
			} else {
				start = c
			}
		}
		end, ok := ends[p]
		if !ok {
			end = l
			ends[p] = end
		}
		// Past end: another member of the group, started later, read
		// further; nothing is left here.
		spans = append(spans, span{partition: p, start: start, end: end})
	}
	return spans, nil
}

// partition replays one span in batches of cfg.BatchSize messages. As a
// member, it stops once the group rebalances, after the batch in hand is
// produced and committed (errRebalanced).
func (rp *replayer) partition(ctx context.Context, s span, m *member) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   rp.cfg.Brokers,
		Topic:     rp.cfg.Topic,
		Partition: s.partition,
		Dialer:    rp.cfg.Dialer,
		MinBytes:  1,
		MaxBytes:  max(rp.cfg.MaxMessageBytes, 1<<20) + 64<<10,
		MaxWait:   250 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(s.start); err != nil {
		return fmt.Errorf("dlq replay: seek %s/%d to %d: %w", rp.cfg.Topic, s.partition, s.start, err)
	}
	next := s.start // the offset to commit: past everything read
	rebalanced := func() bool { return m != nil && m.ended.Err() != nil }
	for next < s.end {
		if rebalanced() {
			return errRebalanced
		}
		var batch []kafka.Message
		var counts []func() // applied once the batch is acknowledged
		for next < s.end && len(counts) < rp.cfg.BatchSize && !rebalanced() {
			rctx, cancel := context.WithTimeout(ctx, rp.cfg.Idle)
			msg, err := r.ReadMessage(rctx)
			cancel()
			if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				rp.log.Warn("no message to read below the high watermark seen at start; stopping this dlq partition there",
					zap.Int("partition", s.partition), zap.Int64("offset", next), zap.Int64("high_watermark", s.end), zap.Duration("waited", rp.cfg.Idle))
				if !slices.Contains(rp.sum.Stopped, s.partition) { // assigned again after a rebalance
					rp.sum.Stopped = append(rp.sum.Stopped, s.partition)
				}
				s.end = next
				break
			}
			if err != nil {
				return fmt.Errorf("dlq replay: read %s/%d at %d: %w", rp.cfg.Topic, s.partition, next, err)
			}
			if msg.Offset >= s.end {
				s.end = next // written after the start: left for the next run
				break
			}
			next = msg.Offset + 1
			out, count := rp.message(msg)
			counts = append(counts, count)
			if out != nil {
				batch = append(batch, *out)
			}
		}
		if len(counts) == 0 {
			if rebalanced() {
				return errRebalanced
			}
			break
		}
		if err := rp.flush(ctx, s.partition, batch, next, m); err != nil {
			return err
		}
		for _, c := range counts {
			c()
		}
	}
	return nil
}

// message decides what to do with DLQ message m: it returns the message
// to produce (nil for none) and the count to add once done.
func (rp *replayer) message(m kafka.Message) (*kafka.Message, func()) {
	r, err := Parse(m)
	if err != nil {
		rp.log.Warn("skipping a message of the dlq topic that is not a dlq message",
			zap.String("dlq_topic", m.Topic), zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset), zap.Error(err))
		return nil, func() { rp.sum.Invalid++ }
	}
	c := rp.counts(ReplayKey{Code: r.Code, SourceTopic: r.Topic})
	if !rp.filter.Keep(r) {
		return nil, func() { c.Filtered++ }
	}
	if hasHeader(m.Headers, HeaderValueDropped) || hasHeader(m.Headers, HeaderHeadersDropped) || hasHeader(m.Headers, HeaderKeyDropped) {
		rp.listed++
		if rp.listed <= maxListed {
			rp.log.Warn("cannot replay a message whose value, headers or key were dropped from the dlq; find it at its source offset (if still retained)",
				zap.String("code", r.Code), zap.String("source_topic", r.Topic), zap.Int("source_partition", r.Partition),
				zap.Int64("source_offset", r.Offset), zap.Int("dlq_partition", m.Partition), zap.Int64("dlq_offset", m.Offset))
		}
		return nil, func() { c.Skipped++ }
	}
	out := &kafka.Message{
		Topic: r.Topic,
		// Read by sourcePartition only: kafka-go's Writer ignores it.
		Partition: r.Partition,
		Key:       r.Key,
		Value:     r.Value,
	}
	if out.Value == nil {
		out.Value = []byte{} // not a tombstone (see Writer.message)
	}
	for _, h := range r.Headers {
		if !isOurs(h.Key) {
			out.Headers = append(out.Headers, h)
		}
	}
	if rp.cfg.DryRun {
		fmt.Fprintf(rp.cfg.Out, "would replay %s/%d@%d to %s/%d (code %s, source offset %d, %d bytes)\n",
			m.Topic, m.Partition, m.Offset, r.Topic, r.Partition, r.Code, r.Offset, len(r.Value))
		return nil, func() { c.Replayed++ }
	}
	return out, func() { c.Replayed++ }
}

// flush produces batch and commits next as the partition's offset. A dry
// run does neither.
func (rp *replayer) flush(ctx context.Context, partition int, batch []kafka.Message, next int64, m *member) error {
	if rp.cfg.DryRun {
		return nil
	}
	if len(batch) > 0 {
		if err := rp.w.WriteMessages(ctx, batch...); err != nil {
			return fmt.Errorf("dlq replay: produce %d messages read from %s/%d to %s (a source topic gone? --source-topic selects the others): %w",
				len(batch), rp.cfg.Topic, partition, sourceTopics(batch), firstError(err))
		}
	}
	if rp.cfg.beforeCommit != nil {
		rp.cfg.beforeCommit(partition)
	}
	// Produced and acknowledged: committed even when ctx ends now (a
	// Ctrl-C), or a rerun would produce the batch again. The group allows
	// it while it waits for this member to rejoin.
	err := m.gen.CommitOffsets(map[string]map[int]int64{rp.cfg.Topic: {partition: next}})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kafka.UnknownMemberId), errors.Is(err, kafka.IllegalGeneration), errors.Is(err, kafka.RebalanceInProgress):
		// Out of the group before the commit (the rebalance did not wait
		// this long): whoever reads the partition next produces the
		// batch again.
		rp.log.Warn("the group rebalanced before the batch produced was committed: its messages will be produced again",
			zap.String("group", rp.cfg.Group), zap.Int("partition", partition), zap.Int("messages", len(batch)), zap.Error(err))
		return errRebalanced
	default:
		return fmt.Errorf("dlq replay: commit offset %d of %s/%d for group %s: %w (%d messages were produced; a rerun produces them again)",
			next, rp.cfg.Topic, partition, rp.cfg.Group, err, len(batch))
	}
}

// sourceTopics names the topics of batch, for an error.
func sourceTopics(batch []kafka.Message) string {
	var ts []string
	for _, m := range batch {
		if !slices.Contains(ts, m.Topic) {
			ts = append(ts, m.Topic)
		}
	}
	return strings.Join(ts, ", ")
}

func (rp *replayer) counts(k ReplayKey) *ReplayCounts {
	c, ok := rp.sum.Counts[k]
	if !ok {
		c = &ReplayCounts{}
		rp.sum.Counts[k] = c
	}
	return c
}

// isOurs reports whether key names a header a Writer adds.
func isOurs(key string) bool {
	switch key {
	case HeaderErrorCode, HeaderErrorMessage, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset,
		HeaderSourceTimestamp, HeaderRejectedAt, HeaderValueDropped, HeaderHeadersDropped, HeaderKeyDropped:
		return true
	}
	return false
}

// sourcePartition sends a replayed message back to its source partition,
// carried in Message.Partition (modulo the topic's partitions; a hash of
// the key when negative).
type sourcePartition struct{}

func (sourcePartition) Balance(msg kafka.Message, partitions ...int) int {
	if len(partitions) == 0 {
		return 0
	}
	return partitionOf(msg.Partition, msg.Key, partitions)
}

var _ kafka.Balancer = sourcePartition{}

// Print writes the summary as a table: per code and source topic, the
// messages replayed, skipped (value dropped) and filtered out.
func (s ReplaySummary) Print(w io.Writer) error {
	keys := make([]ReplayKey, 0, len(s.Counts))
	for k := range s.Counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b ReplayKey) int {
		return cmp.Or(cmp.Compare(a.Code, b.Code), cmp.Compare(a.SourceTopic, b.SourceTopic))
	})
	replayed := "REPLAYED"
	if s.DryRun {
		replayed = "WOULD REPLAY"
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "CODE\tSOURCE TOPIC\t%s\tSKIPPED (VALUE DROPPED)\tFILTERED OUT\n", replayed)
	var total ReplayCounts
	for _, k := range keys {
		c := s.Counts[k]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", k.Code, k.SourceTopic, c.Replayed, c.Skipped, c.Filtered)
		total.Replayed += c.Replayed
		total.Skipped += c.Skipped
		total.Filtered += c.Filtered
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\n", total.Replayed, total.Skipped, total.Filtered)
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.Invalid > 0 {
		fmt.Fprintf(w, "%d messages of the dlq topic were not dlq messages and were skipped (see the warnings).\n", s.Invalid)
	}
	if s.FromEarliest {
		fmt.Fprintln(w, "The group had no committed offset on the dlq topic: read from the earliest retained message.")
	}
	if len(s.Stopped) > 0 {
		fmt.Fprintf(w, "Stopped early (nothing to read before the end seen at start) on dlq partitions %v: run it again for the rest.\n", s.Stopped)
	}
	if s.DryRun {
		_, err := fmt.Fprintln(w, "Dry run: nothing was produced and no offset was committed.")
		return err
	}
	return nil
}
