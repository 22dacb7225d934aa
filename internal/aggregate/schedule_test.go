package aggregate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// besideConn holds each perf_states statement until a drift states
// statement has started (or a while), then runs it or fails it.
type besideConn struct {
	driver.Conn
	fail    bool
	once    sync.Once
	started chan struct{}
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
	if strings.HasPrefix(query, "-- perf_states") {
		select {
		case <-c.started:
		case <-time.After(10 * time.Second):
			return errors.New("perf_states ran without the drift states beside it")
		}
		if c.fail {
			return errors.New("perf_states failed on purpose")
		}
	}
	return c.Conn.Exec(ctx, query, args...)
}

// TestStatesSideBySide: a span's drift states run beside its performance
// states (the join leaves part of the engine's cores idle), and when the
// performance states fail, the drift states are canceled and
// query_errors_total counts perf_states alone.
func TestStatesSideBySide(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	h := floorTo(now.Add(-3*time.Hour), time.Hour)
	e.insertPredictions(genDataset(3, h, now).preds[:200])
	for _, tt := range []struct {
		name string
		fail bool
	}{
		{name: "ok"},
		{name: "perf_states failing", fail: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn := &besideConn{Conn: e.st.Conn(t, e.db), fail: tt.fail, started: make(chan struct{})}
			a, err := New(e.config(), conn, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Backfill(context.Background(), h, h.Add(time.Hour))
			if !tt.fail {
				if err != nil {
					t.Fatalf("Backfill = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "perf_states failed on purpose") {
				t.Fatalf("Backfill = %v, want perf_states' error", err)
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
