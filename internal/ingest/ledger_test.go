package ingest

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestSpanToken(t *testing.T) {
	tests := []struct {
		name string
		s    span
		want string
	}{
		// Batches recorded before migration 0023 replay under the token
		// their first insert had.
		{"recorded without a fingerprint", span{first: 10, last: 20}, "t/3/10-20"},
		{"with a fingerprint", span{first: 10, last: 20, fp: 0xabc}, "t/3/10-20/abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.token("t", 3); got != tt.want {
				t.Errorf("token = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	base := kafka.Message{Offset: 7, Time: at, Key: []byte("k"), Value: []byte("v")}
	fp := fingerprint(&base)
	if fp == 0 {
		t.Fatal("fingerprint 0 (means: none recorded)")
	}
	same := base
	same.Offset = 8 // the offset is not the message
	if got := fingerprint(&same); got != fp {
		t.Errorf("same message at another offset: %x, want %x", got, fp)
	}
	for name, m := range map[string]kafka.Message{
		"other time":  {Time: at.Add(time.Millisecond), Key: base.Key, Value: base.Value},
		"other key":   {Time: at, Key: []byte("k2"), Value: base.Value},
		"other value": {Time: at, Key: base.Key, Value: []byte("w")},
		"key moved":   {Time: at, Key: []byte("kv"), Value: nil},
	} {
		if got := fingerprint(&m); got == fp {
			t.Errorf("%s: same fingerprint %x", name, got)
		}
	}
}
