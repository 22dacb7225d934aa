package devstack

import (
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/predlog/predlog/internal/devstack/chhttp"
	"github.com/predlog/predlog/internal/devstack/kafkabroker"
)

// TestStartPortInUse: a port in use fails Start, naming the service,
// before the engine boots (the library path here does not exist, so a
// Start that booted the engine first would fail on that instead).
func TestStartPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name            string
		clickhouse, kfk string
		want            string
	}{
		{"clickhouse", busy.Addr().String(), "127.0.0.1:0", "clickhouse listen"},
		{"kafka", "127.0.0.1:0", busy.Addr().String(), "kafka"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Start(Config{
				DataDir:    t.TempDir(),
				LibPath:    filepath.Join(t.TempDir(), "missing-libchdb.so"),
				ClickHouse: chhttp.Config{Addr: tt.clickhouse},
				Kafka:      kafkabroker.Config{Addr: tt.kfk},
			}, nil)
			if err == nil {
				st.Close(t.Context())
				t.Fatal("Start succeeded with a port in use")
			}
			if !strings.HasPrefix(err.Error(), tt.want) || !strings.Contains(err.Error(), "address already in use") {
				t.Errorf("Start: %v, want %q and the address in use, before the engine boots", err, tt.want)
			}
		})
	}
}
