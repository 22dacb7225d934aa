package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	heartbeatapi "github.com/segmentio/kafka-go/protocol/heartbeat"
)

// lease is how long this member may take it that it still owns its
// generation's partitions without hearing from the group coordinator: half
// a session from the sending of the last heartbeat the coordinator answered.
// kafka-go heartbeats in the background, but a member that was frozen (a
// long GC pause, SIGSTOP, a suspended VM) for longer than the session wakes
// up with its partitions already given to another member, which read the
// ledger and cut batches of its own; the frozen member learns that only
// from its next heartbeat. A batch boundary recorded before that, over
// offsets the other member covers differently, would be inserted under a
// token the other does not use: duplicates. So a new boundary is recorded,
// and its batch inserted, only under a lease that holds; an expired one is
// renewed by a heartbeat of its own, which the coordinator refuses once the
// generation is gone (errFenced).
type lease struct {
	beat  func(ctx context.Context) error // one heartbeat of the generation
	valid time.Duration
	now   func() time.Time

	mu sync.Mutex // held during a renewal: one heartbeat for all partitions
	// until, read twice: with the monotonic clock (which runs on while the
	// process is stopped, but not while its VM is suspended) and with the
	// wall clock (which a suspended VM catches up on when it resumes).
	until time.Time
	lost  error
}

// newLease returns an expired lease: kafka-go hands a generation over
// after SyncGroup and an offset fetch, which may themselves have taken
// half a session, so the first new boundary waits for a heartbeat.
func newLease(beat func(ctx context.Context) error, valid time.Duration, now func() time.Time) *lease {
	return &lease{beat: beat, valid: valid, now: now, until: now()}
}

// holds reports whether the lease has not expired by either clock.
func (l *lease) holds() bool {
	now := l.now()
	return now.Before(l.until) && now.Round(0).Before(l.until.Round(0))
}

// ensure returns nil while the lease holds, renewing it first if it has
// expired. It returns an error wrapping errFenced once the coordinator no
// longer knows the generation, and other errors for a renewal that may
// succeed later (the coordinator unreachable).
func (l *lease) ensure(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return l.lost
	}
	if l.holds() {
		return nil
	}
	sent := l.now()
	ctx, cancel := context.WithTimeout(ctx, l.valid)
	defer cancel()
	err := l.beat(ctx)
	switch {
	case err == nil:
		// The coordinator knows the member: its session runs from when
		// the heartbeat arrived.
		l.until = sent.Add(l.valid)
		return nil
	case errors.Is(err, kafka.RebalanceInProgress):
		// The generation is still current, but a rebalance may complete
		// without this member (after the rebalance timeout, whatever the
		// session): this boundary may go on, the lease is not extended,
		// and the partitions fence themselves half a session after the
		// generation ends (gctx).
		return nil
	case errors.Is(err, kafka.UnknownMemberId), errors.Is(err, kafka.IllegalGeneration), errors.Is(err, kafka.FencedInstanceID):
		l.lost = fmt.Errorf("%w (the coordinator answered: %v)", errFenced, err)
		return l.lost
	}
	return fmt.Errorf("renew group membership: %w", err)
}

// heartbeatResponse is kafka-go's protocol/heartbeat Response with its
// fields in the protocol's order. From v1 on the answer puts
// ThrottleTimeMs before ErrorCode; kafka-go v0.4.51 declares them the
// other way round, so its Client.Heartbeat read every answer's throttle
// time (0) as the error and the error as the throttle time: a member the
// coordinator no longer knew was told its heartbeat succeeded, and the
// lease never fenced anything (a frozen member went on to insert batches
// its successor had cut differently: duplicates, TestE2EPaused).
type heartbeatResponse struct {
	_              struct{} `kafka:"min=v4,max=v4,tag"`
	ThrottleTimeMs int32    `kafka:"min=v1,max=v4"`
	ErrorCode      int16    `kafka:"min=v0,max=v4"`
}

func (r *heartbeatResponse) ApiKey() protocol.ApiKey { return protocol.Heartbeat }

// fixHeartbeat registers heartbeatResponse as the Heartbeat answer in
// kafka-go's process-wide protocol table, once. Only kafka.Client's
// Heartbeat, which this package does not call, reads that entry: the
// consumer group heartbeats through its own v0 encoding. New calls it, as
// any Kafka client of the process may read the table meanwhile.
var fixHeartbeat sync.Once

func registerHeartbeat() {
	fixHeartbeat.Do(func() { protocol.Register(&heartbeatapi.Request{}, &heartbeatResponse{}) })
}

// heartbeat returns a function sending one heartbeat of gen to the group
// coordinator, found (and found again after a failure) with FindCoordinator.
// Called under the lease's lock only.
func (p *Pipeline) heartbeat(gen *kafka.Generation) func(ctx context.Context) error {
	registerHeartbeat() // done by New already; for tests that build a Pipeline by hand
	client := &kafka.Client{Addr: kafka.TCP(p.cfg.Brokers...)}
	var transport kafka.RoundTripper = kafka.DefaultTransport
	if p.cfg.Transport != nil { // a nil *Transport in the interface would not be the default
		client.Transport, transport = p.cfg.Transport, p.cfg.Transport
	}
	var coordinator net.Addr
	return func(ctx context.Context) error {
		if coordinator == nil {
			fc, err := client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{Key: gen.GroupID, KeyType: kafka.CoordinatorKeyTypeConsumer})
			if err == nil && fc.Error != nil {
				err = fc.Error
			}
			if err == nil && fc.Coordinator == nil {
				err = errors.New("no coordinator in the answer")
			}
			if err != nil {
				return fmt.Errorf("find coordinator: %w", err)
			}
			coordinator = kafka.TCP(net.JoinHostPort(fc.Coordinator.Host, strconv.Itoa(fc.Coordinator.Port)))
		}
		m, err := transport.RoundTrip(ctx, coordinator, &heartbeatapi.Request{GroupID: gen.GroupID, GenerationID: gen.ID, MemberID: gen.MemberID})
		if err == nil {
			if r, ok := m.(*heartbeatResponse); !ok {
				err = fmt.Errorf("heartbeat: unexpected answer %T", m)
			} else if r.ErrorCode != 0 {
				err = kafka.Error(r.ErrorCode)
			}
		}
		if err != nil && !errors.Is(err, kafka.RebalanceInProgress) {
			coordinator = nil // it may have moved
		}
		return err
	}
}
