package ingest

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestMarkerOf(t *testing.T) {
	value := []byte{0, 0, 0, 0, 0, 7} // version 0, coordinator epoch 7
	tests := []struct {
		name string
		m    kafka.Message
		want txnMarker
		ok   bool
	}{
		{"commit", kafka.Message{Key: []byte{0, 0, 0, 1}, Value: value}, markerCommit, true},
		{"abort", kafka.Message{Key: []byte{0, 0, 0, 0}, Value: value}, markerAbort, true},
		{"another control type", kafka.Message{Key: []byte{0, 0, 0, 2}, Value: value}, 0, false},
		{"key version 1", kafka.Message{Key: []byte{0, 1, 0, 1}, Value: value}, 0, false},
		{"value version 1", kafka.Message{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 1, 0, 0, 0, 7}}, 0, false},
		{"value of 7 bytes", kafka.Message{Key: []byte{0, 0, 0, 1}, Value: append(value, 0)}, 0, false},
		{"with a header", kafka.Message{Key: []byte{0, 0, 0, 1}, Value: value, Headers: []kafka.Header{{Key: "h"}}}, 0, false},
		{"event", kafka.Message{Key: []byte{0, 0, 0, 1}, Value: []byte(`{"a":1}`)}, 0, false},
		{"no key", kafka.Message{Value: value}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := markerOf(&tt.m)
			if ok != tt.ok || got != tt.want {
				t.Errorf("markerOf = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
