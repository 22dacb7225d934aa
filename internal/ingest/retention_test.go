package ingest

import (
	"errors"
	"testing"

	"github.com/predlog/predlog/pkg/events"
)

func TestRetentionCheck(t *testing.T) {
	const day = int64(24 * 3600 * 1000)
	now := int64(1_800_000_000_000)
	tests := []struct {
		name    string
		keep    retention
		eventMs int64
		wantErr bool
	}{
		{"no TTL", 0, now - 1000*day, false},
		{"fresh", 90, now - day, false},
		{"in the future", 90, now + day, false},
		{"an hour and a second inside", 90, now - 90*day + retentionMargin + 1000, false},
		{"within the margin", 90, now - 90*day + retentionMargin, true},
		{"at the TTL", 90, now - 90*day, true},
		{"past it", 90, now - 91*day, true},
	}
	for _, tt := range tests {
		err := tt.keep.check(tt.eventMs, now)
		var ve *events.ValidationError
		if (err != nil) != tt.wantErr || err != nil && (!errors.As(err, &ve) || ve.Code != events.CodeInvalidTime || ve.Field != "event_time") {
			t.Errorf("%s: check = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}
