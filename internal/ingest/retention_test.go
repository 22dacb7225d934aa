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

// TestParseTTL: the migrations' TTL and the forms an operator's MODIFY TTL
// takes in system.tables; a TTL in another form is told from none.
func TestParseTTL(t *testing.T) {
	const engine = "ReplacingMergeTree(event_time) PARTITION BY toYYYYMM(event_time) ORDER BY (model_id, request_id) "
	tests := []struct {
		name     string
		engine   string
		wantDays retention
		wantHas  bool
	}{
		{"migrations", engine + "TTL toDateTime(event_time) + toIntervalDay(90) SETTINGS index_granularity = 8192", 90, true},
		{"modified", engine + "TTL event_time + toIntervalDay(30) SETTINGS index_granularity = 8192", 30, true},
		{"weeks", engine + "TTL event_time + toIntervalWeek(2)", 14, true},
		{"months, at their shortest", engine + "TTL event_time + toIntervalMonth(3)", 84, true},
		{"hours", engine + "TTL event_time + toIntervalHour(72)", 3, true},
		{"another column", engine + "TTL ingest_time + toIntervalDay(30)", 0, true},
		{"a move first", engine + "TTL event_time + toIntervalDay(1) TO VOLUME 'cold', event_time + toIntervalDay(90) SETTINGS index_granularity = 8192", 90, true},
		{"a recompression first", engine + "TTL event_time + toIntervalDay(1) RECOMPRESS CODEC(ZSTD(3)), toDateTime(event_time) + toIntervalDay(30)", 30, true},
		{"only a move", engine + "TTL event_time + toIntervalDay(7) TO DISK 'archive'", 0, true},
		{"none", engine + "SETTINGS index_granularity = 8192", 0, false},
	}
	for _, tt := range tests {
		days, has := parseTTL(tt.engine)
		if days != tt.wantDays || has != tt.wantHas {
			t.Errorf("%s: %d days, has %v; want %d, %v", tt.name, days, has, tt.wantDays, tt.wantHas)
		}
	}
}
