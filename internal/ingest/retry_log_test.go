package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestRetryLogLevel: a failed attempt is logged at debug the first two
// times, unless it timed out (a server that does not answer would
// otherwise go unlogged for three attempts' worth of timeouts); past the
// third, at warn only at the 5th, 9th, 17th, ... (an outage would otherwise
// log a line per partition and attempt).
func TestRetryLogLevel(t *testing.T) {
	tests := []struct {
		name    string
		attempt int
		err     error
		want    zapcore.Level
	}{
		{"refused, first", 0, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, zap.DebugLevel},
		{"refused, third", 2, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, zap.WarnLevel},
		{"deadline, first", 0, fmt.Errorf("insert: %w", context.DeadlineExceeded), zap.WarnLevel},
		{"socket timeout, first", 0, &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, zap.WarnLevel},
		{"refused, fourth", 3, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, zap.DebugLevel},
		{"refused, fifth", 4, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, zap.WarnLevel},
		{"refused, sixth", 5, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, zap.DebugLevel},
		{"refused, ninth", 8, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, zap.WarnLevel},
		{"deadline, sixth", 5, fmt.Errorf("insert: %w", context.DeadlineExceeded), zap.DebugLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			p := &Pipeline{m: newMetrics(nil)}
			p.onRetry("insert", zap.New(core))(tt.attempt, tt.err, time.Second)
			if got := logs.All(); len(got) != 1 || got[0].Level != tt.want {
				t.Fatalf("logged %v, want one entry at %v", got, tt.want)
			}
		})
	}
}
