package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	chsql "github.com/predlog/predlog/clickhouse"
	"github.com/predlog/predlog/internal/schema"
)

// TestE2ETableDropped: prediction_logs dropped under a running ingester
// does not stop it. Its partitions hold their batches: /readyz fails,
// predlog_ingester_schema_blocked_partitions counts them, one error is
// logged (not one per retry). Once the table is created again, as an
// operator would from the migrations' DDL, ingestion resumes without a
// restart and every message produced since lands exactly once.
func TestE2ETableDropped(t *testing.T) {
	const n = 2_000
	e := newE2E(t, 2)
	p := e.start(t, "ingester", "")
	p.waitReady(readyTimeout)
	ctx := context.Background()
	_, err := e.produce(ctx, producer{n: n, seed: 21})
	require.NoError(t, err)
	e.waitDrained(t, n, time.Minute)
	e.requireExactlyOnce(t, n)

	e.st.Exec(t, e.db, "DROP TABLE prediction_logs SYNC")
	_, err = e.produce(ctx, producer{n: n, seed: 22})
	require.NoError(t, err)
	const blocked = "predlog_ingester_schema_blocked_partitions"
	require.Eventually(t, func() bool { return p.metric(blocked) == float64(e.partitions) }, 30*time.Second, 100*time.Millisecond,
		"%s = %v, want %d", blocked, p.metric(blocked), e.partitions)
	// Attempts go on (retry.max 1s: at random up to 3s apart) for a while, logged once.
	time.Sleep(5 * time.Second)
	require.False(t, p.exited(), "the ingester exited while a table was missing: %v", p.err)
	code, body := get(t, "http://"+p.addr+"/readyz")
	require.Equal(t, 503, code, body)
	require.Contains(t, body, `"pipeline"`)
	series, err := p.metrics()
	require.NoError(t, err)
	require.Equal(t, float64(e.partitions), series[blocked+`{table="prediction_logs"}`], "%v", seriesOf(series, blocked))
	log, err := os.ReadFile(p.log)
	require.NoError(t, err)
	errors := 0
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, `"level":"error"`) && strings.Contains(line, "ClickHouse refuses inserts into prediction_logs") {
			errors++
		}
	}
	require.Equal(t, 1, errors, "error lines while refused")
	// Why /readyz fails goes to the log (the ops server's, once per change).
	require.Regexp(t, `readiness check failing.*ClickHouse refuses inserts into prediction_logs.*UNKNOWN_TABLE`, string(log))

	for _, stmt := range tableDDL(t, e.db, "prediction_logs") {
		e.st.Exec(t, "", stmt)
	}
	e.waitDrained(t, 2*n, time.Minute)
	e.requireExactlyOnce(t, n) // the first n went with the dropped table
	p.waitReady(readyTimeout)
	require.Zero(t, p.metric(blocked))
	p.stop(stopTimeout)
}

// tableDDL returns the statements of the migrations that create and alter
// table of db, as `migrate render` prints them: what an operator runs to
// create a dropped table again.
func tableDDL(t *testing.T, db, table string) []string {
	t.Helper()
	migs, err := schema.Render(chsql.Migrations(), schema.Options{Database: db})
	require.NoError(t, err)
	re := regexp.MustCompile(`^(CREATE TABLE IF NOT EXISTS|ALTER TABLE) ` + regexp.QuoteMeta(db+"."+table) + `\s`)
	var out []string
	for _, m := range migs {
		for _, s := range m.Statements {
			if re.MatchString(strings.TrimSpace(s)) {
				out = append(out, s)
			}
		}
	}
	require.NotEmpty(t, out, "no DDL of %s.%s in the migrations", db, table)
	return out
}
