package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestLease: no heartbeat while the lease holds; an expired lease is
// renewed from when its heartbeat was sent; a coordinator that no longer
// knows the generation fences it for good; an unreachable one is an error
// to retry, and the lease stays expired.
func TestLease(t *testing.T) {
	now := time.Unix(1000, 0)
	var beats int
	var answer error
	l := newLease(func(context.Context) error {
		beats++
		now = now.Add(time.Second) // the round trip
		return answer
	}, 5*time.Second, func() time.Time { return now })
	ctx := context.Background()

	tests := []struct {
		name      string
		advance   time.Duration
		answer    error
		wantBeats int
		wantErr   error // nil, errFenced or errAny
	}{
		{"fresh from the join", 4 * time.Second, nil, 0, nil},
		{"expired: renewed", 2 * time.Second, nil, 1, nil},
		// Renewed at 1006 (sent; answered at 1007): expired at 1011.
		{"renewed from the send, not the answer", 4 * time.Second, nil, 2, nil},
		{"expired again, coordinator unreachable", 5 * time.Second, errors.New("dial tcp: connection refused"), 3, errAny},
		{"still expired: tries again", 0, kafka.RebalanceInProgress, 4, nil},
		{"frozen past the session", time.Minute, kafka.UnknownMemberId, 5, errFenced},
		{"fenced for good", 0, nil, 5, errFenced},
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
