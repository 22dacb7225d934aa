package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// refusing probes like a server that refuses the settings named in refuse
// (with code), whatever else comes with them.
func refusing(refuse map[string]int32) func(context.Context, clickhouse.Settings) error {
	return func(_ context.Context, s clickhouse.Settings) error {
		for k := range s {
			if code, ok := refuse[k]; ok {
				return &clickhouse.Exception{Code: code, Message: "refused " + k}
			}
		}
		return nil
	}
}

func TestSettingsCheck(t *testing.T) {
	tests := []struct {
		name     string
		settings clickhouse.Settings
		refuse   map[string]int32
		want     string // in the error; "" for none
		never    string // never in the error
	}{
		{name: "accepted", settings: clickhouse.Settings{"max_threads": "2"}},
		{name: "bad value named", settings: clickhouse.Settings{"max_threads": "2", "max_execution_time": "abc"},
			refuse: map[string]int32{"max_execution_time": 72}, want: "max_execution_time=abc: "},
		{name: "proxy password masked", settings: clickhouse.Settings{"HTTP_PROXY": "http://u:s3cret@proxy:3128"},
			refuse: map[string]int32{"HTTP_PROXY": 115}, want: "HTTP_PROXY=http://u:xxxxx@proxy:3128", never: "s3cret"},
		{name: "password-like key masked", settings: clickhouse.Settings{"db_password": "s3cret"},
			refuse: map[string]int32{"db_password": 115}, want: "db_password=xxxxx", never: "s3cret"},
		{name: "other errors are not about settings", settings: clickhouse.Settings{"max_threads": "2"},
			refuse: map[string]int32{"max_threads": 210}, want: "refused max_threads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := settingsCheck{probe: refusing(tt.refuse), settings: tt.settings}.Check(context.Background())
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check = %v, want nil", err)
			case tt.want == "":
				return
			case err == nil || !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Check = %v, want it to contain %q", err, tt.want)
			case tt.never != "" && strings.Contains(err.Error(), tt.never):
				t.Errorf("Check = %v: holds %q", err, tt.never)
			}
			if bad := errors.Is(err, ErrBadSetting); bad != (tt.refuse[firstKey(tt.refuse)] != 210) {
				t.Errorf("errors.Is(ErrBadSetting) = %v for %v", bad, err)
			}
		})
	}
}

func firstKey(m map[string]int32) string {
	for k := range m {
		return k
	}
	return ""
}
