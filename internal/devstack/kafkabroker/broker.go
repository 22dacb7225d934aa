// Package kafkabroker serves an in-process, in-memory Kafka broker for the
// devstack and for tests, built on franz-go's kfake. It speaks the Kafka wire
// protocol well enough for segmentio/kafka-go (writers, readers, consumer
// groups, every compression codec) and librdkafka (kcat).
//
// The broker is a single node: every partition leader and every group
// coordinator is the one address returned by Addr, so clients never need to
// reach a second port.
package kafkabroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DefaultAddr is where the broker listens when Config.Addr is empty: the port
// Kafka clients and tools assume.
const DefaultAddr = "127.0.0.1:9092"

// closeConnsTimeout bounds how long Close waits for kfake to hang up on its
// clients before it closes the remaining connections itself.
const closeConnsTimeout = 5 * time.Second

// Config configures a Broker. The zero value listens on DefaultAddr, seeds
// no topics and auto-creates topics with one partition.
type Config struct {
	// Addr is the listen address, DefaultAddr if empty. "127.0.0.1:0" picks a
	// free port; Addr reports the port chosen.
	Addr string

	// AdvertisedHost is the host the broker puts in Metadata responses, which
	// is what clients dial after bootstrapping. Empty means the listen host,
	// or 127.0.0.1 when listening on every interface ("", 0.0.0.0, ::):
	// clients cannot dial an unspecified address.
	AdvertisedHost string

	// Topics are created before New returns: name -> partitions (> 0).
	Topics map[string]int

	// DefaultPartitions is the partition count of topics that clients create
	// implicitly (kafka-go's AllowAutoTopicCreation, librdkafka producers) or
	// through CreateTopics with -1 partitions. Zero means 1, like Kafka's
	// num.partitions default (kfake's own default is 10).
	DefaultPartitions int

	// DisableAutoTopicCreation makes Metadata requests for unknown topics
	// fail with UNKNOWN_TOPIC_OR_PARTITION, as with Kafka's
	// auto.create.topics.enable=false.
	DisableAutoTopicCreation bool
}

// Broker is a running in-memory Kafka broker. All methods are safe for
// concurrent use.
type Broker struct {
	log     *zap.Logger
	addr    string
	ln      *trackingListener
	cluster *kfake.Cluster
	klog    *zapLogger

	// mu guards closed. Methods that hand work to kfake's run loop hold the
	// read lock for the duration: once Close has stopped that loop, kfake's
	// admin calls would block forever, so they must never start after it.
	mu     sync.RWMutex
	closed bool
}

// New starts a broker listening on cfg.Addr and seeds cfg.Topics. A nil log
// discards the broker's logs.
func New(cfg Config, log *zap.Logger) (*Broker, error) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("component", "kafkabroker"))

	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.DefaultPartitions == 0 {
		cfg.DefaultPartitions = 1
	}
	if cfg.DefaultPartitions < 0 {
		return nil, fmt.Errorf("invalid default partitions %d: must be > 0", cfg.DefaultPartitions)
	}
	for name, n := range cfg.Topics {
		if err := validateTopic(name, n); err != nil {
			return nil, err
		}
	}

	// We bind the socket ourselves and hand it to kfake through ListenFn
	// rather than using kfake.Ports: kfake always binds 127.0.0.1, which a
	// devstack reached from a container cannot use, and binding first gives
	// a busy port our "listen:" context before kfake starts anything.
	raw, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	advertised, err := advertisedAddr(raw.Addr(), cfg.AdvertisedHost)
	if err != nil {
		raw.Close()
		return nil, err
	}
	ln := newTrackingListener(raw, advertised)
	klog := &zapLogger{log: log}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		// kfake asks for one listener per broker and we have one broker.
		// Any later call (kfake's AddNode, which we never use) gets an error
		// rather than a second broker on the same socket.
		kfake.ListenFn(ln.listenOnce),
		kfake.ClusterID("predlog-devstack"),
		kfake.DefaultNumPartitions(cfg.DefaultPartitions),
		kfake.WithLogger(klog),
	}
	if !cfg.DisableAutoTopicCreation {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	for name, n := range cfg.Topics {
		opts = append(opts, kfake.SeedTopics(int32(n), name))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		// kfake closes the listener it was given on error; closing again is
		// harmless and covers an error before it asked for it.
		raw.Close()
		return nil, fmt.Errorf("start kfake cluster: %w", err)
	}

	b := &Broker{
		log:     log,
		addr:    advertised.String(),
		ln:      ln,
		cluster: cluster,
		klog:    klog,
	}
	log.Info("kafka broker listening",
		zap.String("listen", raw.Addr().String()),
		zap.String("advertised", b.addr),
		zap.Int("seeded_topics", len(cfg.Topics)),
		zap.Bool("auto_create_topics", !cfg.DisableAutoTopicCreation),
		zap.Int("default_partitions", cfg.DefaultPartitions))
	return b, nil
}

// Addr returns the host:port clients should dial; it is also the address the
// broker advertises in Metadata responses.
func (b *Broker) Addr() string { return b.addr }

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("kafka broker closed")

// CreateTopic creates a topic with the given number of partitions. It fails
// with an error wrapping kerr.TopicAlreadyExists if the topic exists.
func (b *Broker) CreateTopic(ctx context.Context, name string, partitions int) error {
	if err := validateTopic(name, partitions); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create topic %q: %w", name, err)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return fmt.Errorf("create topic %q: %w", name, ErrClosed)
	}
	// kfake runs this on its request loop and takes no context; it only
	// waits for requests already queued, so it is quick.
	if err := b.cluster.CreateTopic(name, int32(partitions), nil); err != nil {
		return fmt.Errorf("create topic %q: %w", name, err)
	}
	b.log.Debug("created topic", zap.String("topic", name), zap.Int("partitions", partitions))
	return nil
}

// WaitGroupStable waits until the consumer group is stable with the given
// number of members (-1 for any), so a test can produce only once every
// reader holds its share of the partitions.
func (b *Broker) WaitGroupStable(ctx context.Context, group string, members int) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return fmt.Errorf("wait for group %q: %w", group, ErrClosed)
	}
	if _, err := b.cluster.WaitGroupStable(ctx, group, members); err != nil {
		return fmt.Errorf("wait for group %q: %w", group, err)
	}
	return nil
}

// Close stops the broker, disconnects its clients and frees the port. It is
// idempotent. It returns once kfake's accept loop has ended and every client
// connection is closed with no read or write in flight. kfake offers no way to
// wait for its goroutines themselves; by then each of them has seen the
// shutdown signal and has nothing left to block on, only to return, so a leak
// check that retries briefly (goleak does) finds none.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	start := time.Now()

	// kfake.Cluster.Close closes the listener and signals its request loop
	// and per-connection goroutines to stop, but returns without waiting
	// for any of them; we wait through the listener and connections we
	// handed it.
	b.cluster.Close()
	<-b.ln.acceptDone
	if n := b.ln.waitConns(closeConnsTimeout); n > 0 {
		b.log.Warn("kfake left connections open, closed them", zap.Int("conns", n))
	}
	b.klog.silence()
	b.log.Info("kafka broker stopped", zap.Duration("took", time.Since(start)))
	return nil
}

func validateTopic(name string, partitions int) error {
	if name == "" {
		return errors.New("invalid topic: empty name")
	}
	// Kafka's own rule (kafka.common.internals.Topic); kfake does not check
	// seeded topics, and clients fail obscurely on such names later.
	if len(name) > 249 || name == "." || name == ".." || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) >= 0 {
		return fmt.Errorf("invalid topic %q: want at most 249 of [a-zA-Z0-9._-]", name)
	}
	if partitions < 1 {
		return fmt.Errorf("invalid partitions for topic %q: %d, must be > 0", name, partitions)
	}
	return nil
}

// advertisedAddr returns the address to put in Metadata responses for a
// socket bound to bound.
func advertisedAddr(bound net.Addr, host string) (*net.TCPAddr, error) {
	tcp, ok := bound.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("listen: unexpected address type %T", bound)
	}
	adv := &net.TCPAddr{IP: tcp.IP, Port: tcp.Port}
	switch {
	case host != "":
		// Metadata carries a host string and kfake derives it from
		// Addr().String(), so a name cannot pass through a *net.TCPAddr;
		// accept IP literals only.
		ip := net.ParseIP(strings.Trim(host, "[]"))
		if ip == nil {
			return nil, fmt.Errorf("invalid advertised host %q: must be an IP address", host)
		}
		adv.IP = ip
	case tcp.IP == nil || tcp.IP.IsUnspecified():
		adv.IP = net.IPv4(127, 0, 0, 1)
	}
	return adv, nil
}

// zapLogger adapts zap to kfake.Logger. It goes quiet when Close returns:
// kfake's goroutines may still be returning then, and a logger that outlives
// its owner (zaptest's, once the test has ended) must not be written to.
type zapLogger struct {
	log *zap.Logger

	mu    sync.RWMutex // held for reading while writing a log entry
	quiet bool
}

func (z *zapLogger) silence() {
	z.mu.Lock()
	z.quiet = true
	z.mu.Unlock()
}

func (z *zapLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var lvl zapcore.Level
	switch level {
	case kfake.LogLevelError:
		lvl = zapcore.ErrorLevel
	case kfake.LogLevelWarn:
		lvl = zapcore.WarnLevel
	case kfake.LogLevelInfo:
		// Group membership changes and requests kfake could not handle
		// (e.g. an API version it does not support): worth seeing.
		lvl = zapcore.InfoLevel
	default:
		lvl = zapcore.DebugLevel
	}
	// Check first so that disabled levels cost no Sprintf.
	if !z.log.Core().Enabled(lvl) {
		return
	}
	z.mu.RLock()
	defer z.mu.RUnlock()
	if !z.quiet {
		z.log.Log(lvl, "kfake: "+fmt.Sprintf(format, args...))
	}
}
