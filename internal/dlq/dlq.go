// Package dlq writes messages the ingester cannot store to the dead-letter
// topic, parses them back, and replays them to their source topics
// (Replay, `ingester dlq replay`).
//
// A dead-lettered message keeps the original key, value and headers
// unchanged and appends the headers named by the Header* constants, in that
// order, after the original ones. Because they come last, a message that is
// dead-lettered twice (replayed from the DLQ and rejected again) still
// parses to its latest rejection: Parse takes the last occurrence of each.
//
// Partitioning: a DLQ message goes to partition (source partition mod DLQ
// partitions), so messages of one source partition stay in their original
// order in one DLQ partition and can be replayed in order. A negative source
// partition (unknown) falls back to a hash of the key. One exception: the
// messages of a Write that the broker refused as too large are written
// again one by one after the others of that Write (see writeRefused); the
// source offset header orders them.
//
// Delivery is at least once: Write waits for acks from all in-sync replicas,
// and a Write that returns an error may still have written some or all of
// its messages, so a retried Write can duplicate them.
//
// Size: a message over Config.MaxMessageBytes loses its value (then its
// original headers, then its key) before it is sent. When the broker still
// refuses a write as too large (Config.MaxMessageBytes above the topic's
// max.message.bytes), Write sends the refused messages one by one and drops
// the value of each one the broker refuses alone, the same way, rather than
// fail for ever on a message no retry can deliver.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/clip"
)

// Header names added to every DLQ message.
const (
	HeaderErrorCode       = "predlog.error.code"
	HeaderErrorMessage    = "predlog.error.message"
	HeaderSourceTopic     = "predlog.source.topic"
	HeaderSourcePartition = "predlog.source.partition"
	HeaderSourceOffset    = "predlog.source.offset"
	// HeaderSourceTimestamp is the original message's timestamp, RFC 3339
	// with milliseconds in UTC; empty when the original had none.
	HeaderSourceTimestamp = "predlog.source.timestamp"
	// HeaderRejectedAt is when the message was dead-lettered, RFC 3339 with
	// milliseconds in UTC.
	HeaderRejectedAt = "predlog.rejected.at"
	// HeaderValueDropped is present only when the value was dropped because
	// the DLQ message would exceed Config.MaxMessageBytes, or the broker
	// refused it as too large; it holds the original value's length in
	// bytes.
	HeaderValueDropped = "predlog.dlq.value_dropped"
	// HeaderHeadersDropped is present only when the original message's
	// headers were dropped too, because the DLQ message still exceeded
	// Config.MaxMessageBytes (or the broker still refused it) without its
	// value; it holds their number.
	HeaderHeadersDropped = "predlog.dlq.headers_dropped"
	// HeaderKeyDropped is present only when the key was dropped as well,
	// for the same reason; it holds the key's length in bytes.
	HeaderKeyDropped = "predlog.dlq.key_dropped"
)

// TimeFormat is the layout of the timestamp headers.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// CodeUnknown replaces an empty Rejected.Code.
const CodeUnknown = "unknown"

// codeOther is the metric label for codes past maxCodes distinct ones.
const (
	codeOther = "other"
	maxCodes  = 32
)

// Defaults for zero Config fields.
const (
	DefaultMaxReasonBytes  = 1024
	DefaultBatchTimeout    = 5 * time.Millisecond
	DefaultWriteTimeout    = 10 * time.Second
	DefaultMaxAttempts     = 3
	DefaultMaxMessageBytes = 1 << 20 // kafka-go's default BatchBytes
)

// Rejected is one message that failed, and why.
type Rejected struct {
	Topic      string
	Partition  int
	Offset     int64
	Key, Value []byte // a nil Value is written as an empty one, never null
	Headers    []kafka.Header
	Time       time.Time // the original message's timestamp
	Code       string    // stable error code, e.g. "invalid_json", "missing_field", "clickhouse_rejected"
	Reason     string    // human-readable message
}

// Config configures a Writer. Only Topic is required.
type Config struct {
	// Topic is the dead-letter topic (kafka.topics.dlq). It is created on
	// first write if the broker allows auto-creation.
	Topic string
	// MaxReasonBytes caps the HeaderErrorMessage value; longer reasons are
	// cut at a rune boundary and end in "…". Default 1 KiB.
	MaxReasonBytes int
	// BatchTimeout is how long kafka-go waits to fill a batch before sending
	// it; Write always waits for it once, so keep it small. Default 5ms.
	BatchTimeout time.Duration
	// WriteTimeout bounds one produce request. Default 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how many times kafka-go tries a batch before Write
	// returns the error (the caller retries with backoff). Default 3.
	MaxAttempts int
	// MaxMessageBytes bounds one DLQ message; a bigger one has its value
	// dropped (see HeaderValueDropped) so it cannot block the pipeline.
	// Keep it at most the DLQ topic's max.message.bytes. Default 1 MiB.
	MaxMessageBytes int64
	// Now returns the rejection time; default time.Now. For tests.
	Now func() time.Time
}

// Writer writes rejected messages to the dead-letter topic. It is safe for
// concurrent use.
type Writer struct {
	cfg Config
	w   *kafka.Writer
	log *zap.Logger

	messages    *prometheus.CounterVec
	writeErrors prometheus.Counter
	// dropped counts messages written without their value, by cause.
	droppedLimit, droppedRefused prometheus.Counter

	// one writes the messages the broker refused in a batch, one per
	// produce request (BatchSize 1, no BatchTimeout wait), so that each
	// is refused or accepted on its own size.
	one *kafka.Writer

	mu     sync.Mutex
	byCode map[string]prometheus.Counter // at most maxCodes entries plus codeOther
}

// New returns a Writer producing through transport (owned by the caller:
// Close does not close it; nil means kafka-go's DefaultTransport). A nil
// log logs nothing; a nil reg registers no metrics.
func New(cfg Config, brokers []string, transport *kafka.Transport, log *zap.Logger, reg prometheus.Registerer) (*Writer, error) {
	if cfg.Topic == "" {
		return nil, errors.New("dlq: invalid kafka.topics.dlq: must not be empty")
	}
	if len(brokers) == 0 {
		return nil, errors.New("dlq: invalid kafka.brokers: must not be empty")
	}
	if cfg.MaxReasonBytes <= 0 {
		cfg.MaxReasonBytes = DefaultMaxReasonBytes
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = DefaultBatchTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	w := &Writer{
		cfg: cfg,
		log: log,
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "predlog_ingester_dlq_messages_total",
			Help: "Messages written to the dead-letter topic, by error code (past 32 distinct codes: \"other\").",
		}, []string{"code"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "predlog_ingester_dlq_write_errors_total",
			Help: "Calls writing to the dead-letter topic that failed (the caller retries).",
		}),
		byCode: make(map[string]prometheus.Counter),
	}
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "predlog_ingester_dlq_values_dropped_total",
		Help: "Messages written to the dead-letter topic without their value, by cause: over kafka.dlq_max_message_bytes (max_message_bytes) or refused as too large by the broker (broker_refused; lower kafka.dlq_max_message_bytes).",
	}, []string{"cause"})
	w.droppedLimit = dropped.WithLabelValues("max_message_bytes")
	w.droppedRefused = dropped.WithLabelValues("broker_refused")
	if reg != nil {
		for _, c := range []prometheus.Collector{w.messages, w.writeErrors, dropped} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("dlq: register metrics: %w", err)
			}
		}
	}
	newWriter := func(batchSize int) *kafka.Writer {
		kw := &kafka.Writer{
			Addr:                   kafka.TCP(brokers...),
			Topic:                  cfg.Topic,
			Balancer:               sourcePartitionBalancer{},
			MaxAttempts:            cfg.MaxAttempts,
			BatchSize:              batchSize,
			BatchBytes:             cfg.MaxMessageBytes,
			BatchTimeout:           cfg.BatchTimeout,
			WriteTimeout:           cfg.WriteTimeout,
			RequiredAcks:           kafka.RequireAll,
			AllowAutoTopicCreation: true,
		}
		// A nil *Transport in the interface field would not be nil; leave
		// the field unset so kafka-go uses its DefaultTransport.
		if transport != nil {
			kw.Transport = transport
		}
		return kw
	}
	w.w = newWriter(0) // kafka-go's default, 100
	w.one = newWriter(1)
	return w, nil
}

// Write writes msgs to the dead-letter topic and returns once every one is
// acknowledged by all in-sync replicas, or with the first error. It does
// not retry beyond kafka-go's MaxAttempts; retry the whole call (see
// package backoff). See the package doc for duplicates on retry.
func (w *Writer) Write(ctx context.Context, msgs []Rejected) error {
	if len(msgs) == 0 {
		return nil
	}
	now := w.cfg.Now()
	out := make([]kafka.Message, len(msgs))
	for i := range msgs {
		out[i] = w.message(&msgs[i], now)
	}
	err := w.w.WriteMessages(ctx, out...)
	var refused []bool // by message: its value was dropped after a refusal
	if err != nil && refusedTooLarge(err) {
		refused = make([]bool, len(out))
		err = w.writeRefused(ctx, msgs, out, refused, err)
	}
	if err != nil {
		w.writeErrors.Inc()
		return fmt.Errorf("dlq: write %d messages to %s: %w", len(msgs), w.cfg.Topic, firstError(err))
	}
	// Counted once written, not per try: a retried Write drops again.
	for i := range msgs {
		w.counter(msgs[i].Code).Inc()
		switch {
		case refused != nil && refused[i]:
			w.droppedRefused.Inc()
		case hasHeader(out[i].Headers, HeaderValueDropped):
			w.droppedLimit.Inc()
		}
	}
	return nil
}

// writeRefused writes the messages of out that the broker refused as too
// large (err, from writing out) one by one, dropping the value (then the
// original headers and key) of each message the broker refuses on its own
// and setting its refused.
// A message refused alone cannot be delivered by any retry: without this
// its source partition would stall for ever. It returns nil once every
// message of out is written, or the first error that is not such a refusal
// (the caller retries the whole Write, which may duplicate some).
func (w *Writer) writeRefused(ctx context.Context, msgs []Rejected, out []kafka.Message, refused []bool, err error) error {
	var we kafka.WriteErrors
	if !errors.As(err, &we) || len(we) != len(out) {
		return err
	}
	var pending []int // indexes into out and msgs
	for i, e := range we {
		if e != nil {
			pending = append(pending, i)
		}
	}
	w.log.Warn("the broker refused dlq messages as too large; writing them one by one, without the value of each it refuses alone. "+
		"Lower kafka.dlq_max_message_bytes to at most the dead-letter topic's max.message.bytes so that values are dropped before they are sent",
		zap.String("dlq_topic", w.cfg.Topic), zap.Int("messages", len(pending)),
		zap.Int64("kafka.dlq_max_message_bytes", w.cfg.MaxMessageBytes), zap.Error(firstError(err)))
	for len(pending) > 0 {
		batch := make([]kafka.Message, len(pending))
		for j, i := range pending {
			batch[j] = out[i]
		}
		err := w.one.WriteMessages(ctx, batch...)
		if err == nil {
			return nil
		}
		if !errors.As(err, &we) || len(we) != len(batch) {
			return err
		}
		next := pending[:0]
		for j, i := range pending {
			if we[j] == nil {
				continue
			}
			if !refusedTooLarge(we[j]) {
				return err
			}
			value, ok := w.shrink(&msgs[i], &out[i], we[j])
			if !ok {
				// Nothing left to drop: only our own headers remain,
				// which are small; retry as any other failure.
				return err
			}
			refused[i] = refused[i] || value
			next = append(next, i)
		}
		pending = next
	}
	return nil
}

// shrink makes m, built from r and refused by the broker with err, smaller
// for another try: it drops the value first, then the original headers and
// the key. value says it dropped the value; ok is false when there was
// nothing left to drop.
func (w *Writer) shrink(r *Rejected, m *kafka.Message, err error) (value, ok bool) {
	if !hasHeader(m.Headers, HeaderValueDropped) && len(r.Value) > 0 {
		w.log.Warn("the broker refused a dlq message as too large, writing it without its value; "+
			"lower kafka.dlq_max_message_bytes to at most the dead-letter topic's max.message.bytes",
			zap.String("topic", r.Topic), zap.Int("partition", r.Partition), zap.Int64("offset", r.Offset),
			zap.String("code", r.Code), zap.Int("value_bytes", len(r.Value)),
			zap.Int64("kafka.dlq_max_message_bytes", w.cfg.MaxMessageBytes), zap.Error(err))
		dropValue(r, m)
		return true, true
	}
	headers := len(r.Headers) > 0 && !hasHeader(m.Headers, HeaderHeadersDropped)
	key := len(r.Key) > 0 && !hasHeader(m.Headers, HeaderKeyDropped)
	if !headers && !key {
		return false, false
	}
	w.log.Warn("the broker refused a dlq message without its value as too large, writing it without its original headers and key",
		zap.String("topic", r.Topic), zap.Int("partition", r.Partition), zap.Int64("offset", r.Offset),
		zap.Int("key_bytes", len(r.Key)), zap.Int("headers", len(r.Headers)), zap.Error(err))
	if headers {
		dropHeaders(r, m)
	}
	if key {
		dropKey(r, m)
	}
	return false, true
}

// refusedTooLarge reports whether err (kafka-go's, possibly WriteErrors)
// holds the broker refusing a produce request for its size:
// MESSAGE_TOO_LARGE (10) or RECORD_LIST_TOO_LARGE (18). Not
// INVALID_RECORD (87): that is a topic rule (a compacted topic needs
// keys, a timestamp out of range) that dropping the value does not meet.
func refusedTooLarge(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		return slices.ContainsFunc(we, func(e error) bool { return e != nil && refusedTooLarge(e) })
	}
	var ke kafka.Error
	return errors.As(err, &ke) && (ke == kafka.MessageSizeTooLarge || ke == kafka.RecordListTooLarge)
}

// Close flushes and closes the kafka writers; it does not close the
// transport.
func (w *Writer) Close() error {
	err := errors.Join(w.w.Close(), w.one.Close())
	if err != nil {
		return fmt.Errorf("dlq: close: %w", err)
	}
	return nil
}

// message builds the DLQ message for r.
func (w *Writer) message(r *Rejected, now time.Time) kafka.Message {
	code := r.Code
	if code == "" {
		code = CodeUnknown
	}
	h := make([]kafka.Header, 0, len(r.Headers)+8)
	h = append(h, r.Headers...)
	h = append(h,
		kafka.Header{Key: HeaderErrorCode, Value: []byte(code)},
		kafka.Header{Key: HeaderErrorMessage, Value: []byte(truncate(r.Reason, w.cfg.MaxReasonBytes))},
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kafka.Header{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
		kafka.Header{Key: HeaderSourceTimestamp, Value: appendTime(nil, r.Time)},
		kafka.Header{Key: HeaderRejectedAt, Value: appendTime(nil, now)},
	)
	m := kafka.Message{Key: r.Key, Value: r.Value, Headers: h, Time: now}
	if m.Value == nil {
		// kafka-go writes a nil value as null: a tombstone, which
		// compaction deletes, not the copy of a message. Its reader
		// returns zero bytes as nil, so that is what an empty message
		// rejected by the ingester carries.
		m.Value = []byte{}
	}
	if size := maxSize(&m); size > w.cfg.MaxMessageBytes {
		// The broker would refuse it, and the partition would retry it
		// for ever: drop the value, then the original headers, then the
		// key, until it fits (predlog's own headers always do: the reason
		// is truncated and the limit is at least 16 KiB).
		w.log.Warn("dlq message too large, dropping its value (and its original headers and key if still too large)",
			zap.String("topic", r.Topic), zap.Int("partition", r.Partition), zap.Int64("offset", r.Offset),
			zap.Int("value_bytes", len(r.Value)), zap.Int("key_bytes", len(r.Key)), zap.Int("headers", len(r.Headers)),
			zap.Int64("max_message_bytes", w.cfg.MaxMessageBytes))
		dropValue(r, &m)
		if maxSize(&m) > w.cfg.MaxMessageBytes && len(r.Headers) > 0 {
			dropHeaders(r, &m)
		}
		if maxSize(&m) > w.cfg.MaxMessageBytes {
			dropKey(r, &m)
		}
	}
	return m
}

// dropValue, dropHeaders and dropKey remove that part of r from m, its DLQ
// message, and say so in a header (see HeaderValueDropped and the next
// ones). dropHeaders must come before dropKey: it removes the first
// len(r.Headers) headers, which are r's only until ours are appended.
func dropValue(r *Rejected, m *kafka.Message) {
	m.Value = nil
	m.Headers = append(m.Headers, kafka.Header{Key: HeaderValueDropped, Value: strconv.AppendInt(nil, int64(len(r.Value)), 10)})
}

func dropHeaders(r *Rejected, m *kafka.Message) {
	m.Headers = slices.Clone(m.Headers[len(r.Headers):])
	m.Headers = append(m.Headers, kafka.Header{Key: HeaderHeadersDropped, Value: strconv.AppendInt(nil, int64(len(r.Headers)), 10)})
}

func dropKey(r *Rejected, m *kafka.Message) {
	m.Key = nil
	m.Headers = append(m.Headers, kafka.Header{Key: HeaderKeyDropped, Value: strconv.AppendInt(nil, int64(len(r.Key)), 10)})
}

// hasHeader reports whether m's headers h carry the marker key. Markers
// follow HeaderRejectedAt, the last header message adds, so only those
// count: a replayed DLQ message keeps its earlier markers among its
// original headers.
func hasHeader(h []kafka.Header, key string) bool {
	for i := len(h) - 1; i >= 0 && h[i].Key != HeaderRejectedAt; i-- {
		if h[i].Key == key {
			return true
		}
	}
	return false
}

// counter returns the messages counter for code, resolving a child at most
// once per code and folding codes past maxCodes into codeOther.
func (w *Writer) counter(code string) prometheus.Counter {
	if code == "" {
		code = CodeUnknown
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.byCode[code]; ok {
		return c
	}
	if len(w.byCode) >= maxCodes {
		code = codeOther
		if c, ok := w.byCode[code]; ok {
			return c
		}
	}
	c := w.messages.WithLabelValues(code)
	w.byCode[code] = c
	return c
}

// maxSize is an upper bound of kafka-go's size of m (which is what it
// checks against BatchBytes).
func maxSize(m *kafka.Message) int64 {
	const varint = 10 // longest varint
	n := int64(4+1+1+8) + 4 + int64(len(m.Key)) + 4 + int64(len(m.Value)) + varint
	for _, h := range m.Headers {
		n += varint + int64(len(h.Key)) + varint + int64(len(h.Value))
	}
	return n
}

// truncate cuts s to at most n bytes at a rune boundary, ending in "…"
// when cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < len(clip.Ellipsis) {
		return ""
	}
	return clip.String(s, n-len(clip.Ellipsis))
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return dst
	}
	return t.UTC().AppendFormat(dst, TimeFormat)
}

// firstError reduces kafka.WriteErrors (one slot per message, mostly the
// same error) to its first non-nil error, with the count failed.
func firstError(err error) error {
	var we kafka.WriteErrors
	if !errors.As(err, &we) {
		return err
	}
	var first error
	for _, e := range we {
		if e != nil && first == nil {
			first = e
		}
	}
	if first == nil {
		return err
	}
	return fmt.Errorf("%d of %d failed: %w", we.Count(), len(we), first)
}

// sourcePartitionBalancer sends a DLQ message to its source partition
// modulo the DLQ's partition count (see the package doc).
type sourcePartitionBalancer struct{}

func (sourcePartitionBalancer) Balance(msg kafka.Message, partitions ...int) int {
	if len(partitions) == 0 {
		return 0
	}
	p := -1
	// Our headers are last; search from the end so an original header of
	// the same name (a replayed DLQ message) is not used.
	for i := len(msg.Headers) - 1; i >= 0; i-- {
		if msg.Headers[i].Key == HeaderSourcePartition {
			if v, err := strconv.Atoi(string(msg.Headers[i].Value)); err == nil {
				p = v
			}
			break
		}
	}
	return partitionOf(p, msg.Key, partitions)
}

var _ kafka.Balancer = sourcePartitionBalancer{}

// partitionOf is the partition of partitions (not empty) that source
// partition p maps to, modulo their count; for p < 0 (unknown), a hash of
// key, so that one key's messages stay in order.
func partitionOf(p int, key []byte, partitions []int) int {
	if p < 0 {
		h := fnv.New32a()
		_, _ = h.Write(key)
		p = int(h.Sum32() & 0x7fffffff)
	}
	return partitions[p%len(partitions)]
}

// Parse reads a DLQ message back into the Rejected it was written from.
// Headers holds the original headers only. Reason is as written (possibly
// truncated); Value is nil if it was dropped (HeaderValueDropped), as are
// Headers (HeaderHeadersDropped) and Key (HeaderKeyDropped).
func Parse(m kafka.Message) (Rejected, error) {
	// Last occurrence of each of our headers; everything else is original.
	ours := map[string]int{
		HeaderErrorCode: -1, HeaderErrorMessage: -1, HeaderSourceTopic: -1,
		HeaderSourcePartition: -1, HeaderSourceOffset: -1, HeaderSourceTimestamp: -1,
		HeaderRejectedAt: -1, HeaderValueDropped: -1, HeaderHeadersDropped: -1, HeaderKeyDropped: -1,
	}
	for i, h := range m.Headers {
		if _, ok := ours[h.Key]; ok {
			ours[h.Key] = i
		}
	}
	get := func(key string) (string, bool) {
		if i := ours[key]; i >= 0 {
			return string(m.Headers[i].Value), true
		}
		return "", false
	}
	r := Rejected{Key: m.Key, Value: m.Value}
	for _, key := range []string{HeaderErrorCode, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset} {
		if _, ok := get(key); !ok {
			return Rejected{}, fmt.Errorf("dlq: parse: missing header %s", key)
		}
	}
	r.Code, _ = get(HeaderErrorCode)
	r.Reason, _ = get(HeaderErrorMessage)
	r.Topic, _ = get(HeaderSourceTopic)
	var err error
	s, _ := get(HeaderSourcePartition)
	if r.Partition, err = strconv.Atoi(s); err != nil {
		return Rejected{}, fmt.Errorf("dlq: parse %s: %w", HeaderSourcePartition, err)
	}
	s, _ = get(HeaderSourceOffset)
	if r.Offset, err = strconv.ParseInt(s, 10, 64); err != nil {
		return Rejected{}, fmt.Errorf("dlq: parse %s: %w", HeaderSourceOffset, err)
	}
	if s, _ = get(HeaderSourceTimestamp); s != "" {
		if r.Time, err = time.Parse(TimeFormat, s); err != nil {
			return Rejected{}, fmt.Errorf("dlq: parse %s: %w", HeaderSourceTimestamp, err)
		}
	}
	for i, h := range m.Headers {
		if j, ok := ours[h.Key]; ok && j == i {
			continue
		}
		r.Headers = append(r.Headers, h)
	}
	return r, nil
}

// RejectedAt returns the HeaderRejectedAt time of a DLQ message.
func RejectedAt(m kafka.Message) (time.Time, error) {
	for i := len(m.Headers) - 1; i >= 0; i-- {
		if m.Headers[i].Key == HeaderRejectedAt {
			t, err := time.Parse(TimeFormat, string(m.Headers[i].Value))
			if err != nil {
				return time.Time{}, fmt.Errorf("dlq: parse %s: %w", HeaderRejectedAt, err)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("dlq: missing header %s", HeaderRejectedAt)
}
