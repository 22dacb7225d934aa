package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestLease: a new lease is expired (one heartbeat before the first
// boundary); a renewed one holds without heartbeats, from when its
// heartbeat was sent; a rebalance answer lets one boundary go on without
// extending it; a coordinator that no longer knows the generation fences
// it for good; an unreachable one is an error to retry, and the lease
// stays expired. (That the wall clock expires it too, when a suspended VM
// held the monotonic clock still, cannot be shown here: a monotonic
// reading cannot be made up.)
func TestLease(t *testing.T) {
	now := time.Unix(1000, 0)
	mono := time.Now() // a monotonic reading, advancing with now
	clock := func() time.Time { return mono.Add(now.Sub(time.Unix(1000, 0))) }
	var beats int
	var answer error
	l := newLease(func(context.Context) error {
		beats++
		now = now.Add(time.Second) // the round trip
		return answer
	}, 5*time.Second, clock)
	ctx := context.Background()

	tests := []struct {
		name      string
		advance   time.Duration
		answer    error
		wantBeats int
		wantErr   error // nil, errFenced or errAny
	}{
		{"new: expired", 0, nil, 1, nil},
		{"renewed", 3 * time.Second, nil, 1, nil},
		// Renewed at +0 (sent; answered at +1): expired at +5.
		{"renewed from the send, not the answer", time.Second, nil, 2, nil},
		{"expired again, coordinator unreachable", 5 * time.Second, errors.New("dial tcp: connection refused"), 3, errAny},
		{"rebalance: goes on", 0, kafka.RebalanceInProgress, 4, nil},
		{"rebalance: not extended", 0, nil, 5, nil},
		{"frozen past the session", time.Minute, kafka.UnknownMemberId, 6, errFenced},
		{"fenced for good", 0, nil, 6, errFenced},
	}
	for _, tt := range tests {
		now = now.Add(tt.advance)
		answer = tt.answer
		err := l.ensure(ctx)
		if beats != tt.wantBeats {
			t.Errorf("%s: %d heartbeats, want %d", tt.name, beats, tt.wantBeats)
		}
		switch {
		case tt.wantErr == nil && err != nil,
			tt.wantErr == errFenced && !errors.Is(err, errFenced),
			tt.wantErr == errAny && (err == nil || errors.Is(err, errFenced)):
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

var errAny = errors.New("any error but errFenced")
