package aggregate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// besideConn holds the first perf_states statement until a drift states
// statement has started (or a while), then fails it with fail, if set, or
// runs it; later ones run at once.
type besideConn struct {
	driver.Conn
	fail    error
	once    sync.Once
	started chan struct{}
	held    bool
}

func (c *besideConn) driftStarted(query string) {
	if strings.HasPrefix(query, "-- drift_") {
		c.once.Do(func() { close(c.started) })
	}
}

func (c *besideConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	c.driftStarted(query)
	return c.Conn.Query(ctx, query, args...)
}

func (c *besideConn) Exec(ctx context.Context, query string, args ...any) error {
	c.driftStarted(query)
	if strings.HasPrefix(query, "-- perf_states") && !c.held {
		c.held = true
		select {
		case <-c.started:
		case <-time.After(10 * time.Second):
			return errors.New("perf_states ran without the drift states beside it")
		}
		if c.fail != nil {
			return c.fail
		}
	}
	return c.Conn.Exec(ctx, query, args...)
}

// TestStatesSideBySide: a span's drift states run beside its performance
// states (one after the other they leave part of the engine's cores idle).
// When the performance states fail, the drift states are canceled and
// query_errors_total counts the performance states alone; when they fail
// for the engine's memory limit, both run again one after the other.
func TestStatesSideBySide(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-3*time.Hour), time.Hour)
	e.insertPredictions(genDataset(3, h, now).preds[:200])
	memory := &clickhouse.Exception{Code: memoryLimitExceeded, Name: "DB::Exception", CodeName: "MEMORY_LIMIT_EXCEEDED", Message: "memory limit exceeded: would use 9.31 GiB"}
	for _, tt := range []struct {
		name     string
		fail     error
		wantErr  string // "" for success
		wantWarn bool
	}{
		{name: "ok"},
		{name: "perf_states failing", fail: errors.New("perf_states failed on purpose"), wantErr: "perf_states failed on purpose"},
		{name: "memory limit", fail: memory, wantWarn: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.st.Exec(t, e.db, "TRUNCATE TABLE performance_window_states")
			e.st.Exec(t, e.db, "TRUNCATE TABLE drift_window_states")
			conn := &besideConn{Conn: e.st.Conn(t, e.db), fail: tt.fail, started: make(chan struct{})}
			core, logs := observer.New(zap.WarnLevel)
			a, err := New(e.config(), conn, zap.New(core), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Backfill(context.Background(), h, h.Add(time.Hour))
			if warned := logs.FilterMessageSnippet("memory limit").Len() > 0; warned != tt.wantWarn {
				t.Errorf("memory limit warning %v, want %v (%v)", warned, tt.wantWarn, logs.All())
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Backfill = %v", err)
				}
				for _, table := range []string{"performance_window_states", "drift_window_states"} {
					if n := strings.TrimSpace(e.st.Exec(t, e.db, "SELECT count() FROM "+table)); n == "0" {
						t.Errorf("%s empty after the backfill", table)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Backfill = %v, want %q", err, tt.wantErr)
			}
			failed := map[string]float64{}
			for name := range a.q {
				if n := testutil.ToFloat64(a.m.queryErrors.WithLabelValues(name)); n > 0 {
					failed[name] = n
				}
			}
			if len(failed) != 1 || failed[strings.SplitN(err.Error(), ":", 2)[0]] != 1 {
				t.Errorf("query_errors_total %v, want the failed performance states statement 1 alone (%v)", failed, err)
			}
		})
	}
}
