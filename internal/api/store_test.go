package api

import (
	"context"
	"testing"
	"time"

	"github.com/predlog/predlog/internal/testenv"
)

// TestQueryLimitsReachClickHouse: ClickHouse gets the request's time left
// as max_execution_time (the driver would add 5 s to it when it sees the
// deadline) and the row limit as max_result_rows.
func TestQueryLimitsReachClickHouse(t *testing.T) {
	st := testenv.Get(t)
	s := NewClickHouseStore(st.Conn(t, st.Database(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var execTime, resultRows uint64
	err := s.conn.QueryRow(s.ctx(ctx, nil, 7),
		"SELECT toUInt64(getSetting('max_execution_time')), toUInt64(getSetting('max_result_rows'))").Scan(&execTime, &resultRows)
	if err != nil {
		t.Fatal(err)
	}
	if execTime != 10 || resultRows != 7 {
		t.Errorf("max_execution_time %d, max_result_rows %d; want 10, 7", execTime, resultRows)
	}
}
