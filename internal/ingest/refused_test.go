package ingest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/predlog/predlog/internal/backoff"
	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/internal/ingest"
	"github.com/predlog/predlog/pkg/events/eventstest"
)

// TestTableRefusedWhileRunning: a table dropped or renamed under a running
// pipeline does not stop it. The partitions writing it hold their batches
// (nothing committed), Ready names the table and the error, the gauge
// counts them; once the table is back they resume by themselves and every
// message lands once. A shutdown while they wait is prompt (not
// DrainTimeout), and the next run replays the held batch.
func TestTableRefusedWhileRunning(t *testing.T) {
	t.Parallel()
	const (
		rename  = "RENAME TABLE prediction_logs TO prediction_logs_moved"
		back    = "RENAME TABLE prediction_logs_moved TO prediction_logs"
		drop    = "DROP TABLE prediction_logs SYNC"
		created = "" // the table's CREATE as it was
	)
	tests := []struct {
		name string
		// remove takes prediction_logs away; restore brings it back.
		remove, restore string
		// kept: the rows inserted before remove are there after restore.
		kept bool
		// restart: stop the pipeline while refused, restore, run again.
		restart bool
	}{
		{name: "renamed", remove: rename, restore: back, kept: true},
		{name: "dropped", remove: drop, restore: created},
		{name: "renamed, stopped while refused", remove: rename, restore: back, kept: true, restart: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 2)
			group := "g-" + e.db
			// A dropped table comes back as the migrations made it (the
			// e2e test runs their DDL, as `migrate render` prints it).
			ddl := e.st.Exec(t, e.db, "SHOW CREATE TABLE prediction_logs FORMAT TSVRaw")
			restore := func() {
				if tt.restore == created {
					e.st.Exec(t, e.db, ddl)
					return
				}
				e.st.Exec(t, e.db, tt.restore)
			}
			tweak := func(c *ingest.Config) {
				c.RefusedRetry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond}
				c.DrainTimeout = 20 * time.Second
			}
			reg := prometheus.NewRegistry()
			tokens := &tokenSink{Sink: e.sink, table: "prediction_logs"}
			r := e.run(t, group, reg, tokens, tweak)
			first, second := predictions(300, uint64(40+2*i)), predictions(300, uint64(41+2*i))
			e.produce(t, first)
			e.waitCount(t, "SELECT count() FROM prediction_logs", len(first), 30*time.Second)

			e.st.Exec(t, e.db, tt.remove)
			e.produce(t, second)
			refused := func() float64 { return gauge(t, reg, "predlog_ingester_schema_blocked_partitions") }
			refusedSoon(t, refused, "after inserts into a missing table")
			err := r.p.Ready(context.Background())
			if !errors.Is(err, ingest.ErrInsertsRefused) || !strings.Contains(err.Error(), "prediction_logs") || !strings.Contains(err.Error(), "UNKNOWN_TABLE") {
				t.Errorf("Ready = %v, want %v naming prediction_logs and ClickHouse's error (UNKNOWN_TABLE)", err, ingest.ErrInsertsRefused)
			}
			time.Sleep(time.Second) // a few attempts
			select {
			case <-r.done:
				t.Fatalf("Run returned while a table was missing: %v", r.stop())
			default:
			}

			if tt.restart {
				t0 := time.Now()
				if err := r.stop(); err != nil {
					t.Fatalf("Run: %v", err)
				}
				// The refused batch is left at once, not retried for the
				// whole DrainTimeout (20s).
				if d := time.Since(t0); d > 5*time.Second {
					t.Errorf("shutdown took %s while refused, want it prompt", d)
				}
				if g := refused(); g != 0 {
					t.Errorf("schema_blocked_partitions = %v after Run returned, want 0", g)
				}
				restore()
				reg = prometheus.NewRegistry()
				r = e.run(t, group, reg, tokens, tweak)
			} else {
				restore()
			}

			want := len(second)
			if tt.kept {
				want += len(first)
			}
			e.waitCount(t, "SELECT count() FROM prediction_logs", want, 30*time.Second)
			if got := e.count(t, "SELECT uniqExact(request_id) FROM prediction_logs"); got != want {
				t.Errorf("distinct = %d, want %d", got, want)
			}
			readySoon(t, r.p, refused, "after the table came back")
			if err := r.stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			// Every refused insert was later made again with its token:
			// the same rows, deduplicated should the refusal have come
			// after ClickHouse stored them.
			if n, missing := tokens.refusedNotAccepted(); n == 0 || len(missing) > 0 {
				t.Errorf("%d tokens refused, of which never accepted: %v; want some, none", n, missing)
			}
			// Nothing arrived twice, also after the stop's drain.
			if got := e.count(t, "SELECT count() FROM prediction_logs"); got != want {
				t.Errorf("count = %d after the stop, want %d", got, want)
			}
		})
	}
}

// TestRefusedTableLeavesBudget: partitions whose table is refused stop
// reading past the batches they hold, so that a backlog on them cannot
// spend batch.max_buffered_bytes and stall the other tables: outcomes keep
// landing while prediction_logs is gone and its topic fills, and every
// prediction lands once after it is back.
func TestRefusedTableLeavesBudget(t *testing.T) {
	t.Parallel()
	const maxBuffered = 512 << 10 // ~170 predictions (charged thrice their ~1 KB)
	e := newEnv(t, 2)
	outcomesTopic := e.st.Topic(t, 1)
	reg := prometheus.NewRegistry()
	r := e.run(t, "g-"+e.db, reg, e.sink, func(c *ingest.Config) {
		c.Topics[outcomesTopic] = ingest.KindOutcomes
		c.MaxBuffered = maxBuffered
		c.RefusedRetry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond}
	})
	gen := eventstest.New(60, eventstest.Config{Start: time.Now().UTC().Add(-time.Hour), Step: time.Millisecond})
	var preds, outs [][]byte
	for range 3000 {
		preds = append(preds, gen.AppendPrediction(nil))
		outs = append(outs, gen.AppendOutcome(nil, time.Minute))
	}
	e.produce(t, preds[:100])
	e.waitCount(t, "SELECT count() FROM prediction_logs", 100, 30*time.Second)

	e.st.Exec(t, e.db, "RENAME TABLE prediction_logs TO prediction_logs_moved")
	e.produce(t, preds[100:150]) // to both partitions
	refused := func() float64 { return gauge(t, reg, "predlog_ingester_schema_blocked_partitions") }
	for deadline := time.Now().Add(20 * time.Second); refused() < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("schema_blocked_partitions = %v after inserts into a missing table, want 2", refused())
		}
	}
	// A backlog twenty times the budget on the refused table, then the
	// outcomes: they need the budget the held partitions must leave.
	e.produce(t, preds[150:])
	if err := e.writeTo(outcomesTopic, outs); err != nil {
		t.Fatalf("produce outcomes: %v", err)
	}
	e.waitCount(t, "SELECT count() FROM outcomes", len(outs), 30*time.Second)
	// What is left buffered is the batches the held partitions handed
	// over before the hold (the 50 predictions at most), not a budget's
	// worth of the backlog.
	if b := gauge(t, reg, "predlog_ingester_buffered_bytes"); b > float64(maxBuffered)/2 {
		t.Errorf("buffered_bytes = %v with the outcomes in, want at most half of batch.max_buffered_bytes (%d)", b, maxBuffered)
	}
	if got := e.count(t, "SELECT count() FROM prediction_logs_moved"); got != 100 {
		t.Errorf("prediction_logs_moved holds %d rows, want the 100 from before the rename", got)
	}
	if refused() < 1 {
		t.Errorf("schema_blocked_partitions = %v with prediction_logs still missing, want >= 1", refused())
	}

	landsOnceBack(t, e, r, refused, "prediction_logs", len(preds))
}

// TestRefusedPartitionKeepsOneBatch: with a backlog behind a refused
// batch, the partition's fetcher has cut the next batch and handed it over
// before the refusal came; it takes that one back too, so the partition
// keeps only the batch it retries. Every message still lands once.
func TestRefusedPartitionKeepsOneBatch(t *testing.T) {
	t.Parallel()
	const maxRows = 20
	e := newEnv(t, 1)
	reg := prometheus.NewRegistry()
	r := e.run(t, "g-"+e.db, reg, e.sink, func(c *ingest.Config) {
		c.MaxRows = maxRows
		c.RefusedRetry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond}
	})
	msgs := predictions(1100, 61)
	e.produce(t, msgs[:100])
	e.waitCount(t, "SELECT count() FROM prediction_logs", 100, 30*time.Second)

	e.st.Exec(t, e.db, "RENAME TABLE prediction_logs TO prediction_logs_moved")
	e.produce(t, msgs[100:])
	refused := func() float64 { return gauge(t, reg, "predlog_ingester_schema_blocked_partitions") }
	refusedSoon(t, refused, "after inserts into a missing table")
	// One batch: maxRows messages, each charged as the pipeline does
	// (three times value and key, plus 512; the keys are indexes, at most
	// four digits). Two would be the retried batch and the one behind it.
	var most int64
	for _, m := range msgs[100:] {
		most = max(most, 3*int64(len(m)+4)+512)
	}
	oneBatch := float64(maxRows * most)
	buffered := func() float64 { return gauge(t, reg, "predlog_ingester_buffered_bytes") }
	for deadline := time.Now().Add(10 * time.Second); buffered() > oneBatch; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("buffered_bytes = %v while the partition holds its refused batch, want at most one batch (%v)", buffered(), oneBatch)
		}
	}

	landsOnceBack(t, e, r, refused, "prediction_logs", len(msgs))
}

// TestRefusedAcrossTopicRecreated: a topic deleted and created again
// while its partition holds a refused batch. The reader, past the new
// log's end, starts again from its beginning (restart), which queues a
// marker for the flusher behind the held batch.
//   - insert refused: the next message, fetched while the hold lasts,
//     parks the partition, which must give back no marker (a recycled
//     marker crashed the process);
//   - ledger refused (ingest_batches renamed away): the restart's read of
//     the ledger is refused too, two refusals held at once on one
//     partition (a second hold overwrote the first, and ending both
//     crashed the process).
//
// Once the table is back, the held batch and the new log land, each
// message once.
func TestRefusedAcrossTopicRecreated(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, table string }{
		{name: "insert refused", table: "prediction_logs"},
		{name: "ledger refused", table: "ingest_batches"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 1)
			reg := prometheus.NewRegistry()
			r := e.run(t, "g-"+e.db, reg, e.sink, func(c *ingest.Config) {
				c.MaxRows = 10
				c.RefusedRetry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond}
			})
			e.produce(t, predictions(23, 71))
			e.waitCount(t, "SELECT count() FROM prediction_logs", 23, 30*time.Second)

			e.st.Exec(t, e.db, "RENAME TABLE "+tt.table+" TO "+tt.table+"_moved")
			e.produce(t, predictions(10, 72)) // one whole batch: held, nothing open behind it
			refused := func() float64 { return gauge(t, reg, "predlog_ingester_schema_blocked_partitions") }
			refusedSoon(t, refused, "with "+tt.table+" missing")
			e.recreate(t, "")
			e.produce(t, predictions(5, 73)) // fewer than the old offset: past the new log's end
			resets := func() float64 { return counter(t, reg, "predlog_ingester_offset_resets_total") }
			for deadline := time.Now().Add(20 * time.Second); resets() < 1; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("offset resets %v after the topic was created again; want 1", resets())
				}
			}
			// The restart's ledger read, refused at once, and the new log's
			// messages fetched meanwhile. The partition counts once however
			// many refusals it holds (TestOverlappingRefusals).
			time.Sleep(500 * time.Millisecond)
			if n := refused(); n != 1 {
				t.Errorf("schema_blocked_partitions = %v after the restart, want 1", n)
			}

			landsOnceBack(t, e, r, refused, tt.table, 38)
		})
	}
}

// TestLedgerRefusedAtAssignment: a partition assigned while ClickHouse
// refuses to read the ledger (ingest_batches renamed) cannot start; it
// counts as refused, as an insert would, rather than retrying unseen until
// readiness calls it stalled. Once the table is back it starts, and every
// message lands once.
func TestLedgerRefusedAtAssignment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	e.st.Exec(t, e.db, "RENAME TABLE ingest_batches TO ingest_batches_moved")
	msgs := predictions(200, 60)
	e.produce(t, msgs)
	reg := prometheus.NewRegistry()
	r := e.run(t, "g-"+e.db, reg, e.sink, func(c *ingest.Config) {
		c.RefusedRetry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond}
	})
	refused := func() float64 { return gauge(t, reg, "predlog_ingester_schema_blocked_partitions") }
	refusedSoon(t, refused, "with the ledger missing")
	if err := r.p.Ready(context.Background()); !errors.Is(err, ingest.ErrInsertsRefused) || !strings.Contains(err.Error(), "ingest_batches") {
		t.Errorf("Ready = %v, want %v naming ingest_batches", err, ingest.ErrInsertsRefused)
	}
	if n := e.count(t, "SELECT count() FROM prediction_logs"); n != 0 {
		t.Errorf("%d rows inserted without the ledger, want 0", n)
	}

	e.st.Exec(t, e.db, "RENAME TABLE ingest_batches_moved TO ingest_batches")
	e.waitCount(t, "SELECT count() FROM prediction_logs", len(msgs), 30*time.Second)
	readySoon(t, r.p, refused, "after the ledger came back")
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := e.count(t, "SELECT count() FROM prediction_logs"); got != len(msgs) {
		t.Errorf("count = %d after the stop, want %d", got, len(msgs))
	}
}

// landsOnceBack renames table back from table_moved, then checks that the
// n predictions land, each once, that r becomes ready with no partition
// refused, and that nothing more lands by its stop.
func landsOnceBack(t *testing.T, e *env, r running, refused func() float64, table string, n int) {
	t.Helper()
	e.st.Exec(t, e.db, "RENAME TABLE "+table+"_moved TO "+table)
	e.waitCount(t, "SELECT count() FROM prediction_logs", n, 60*time.Second)
	if got := e.count(t, "SELECT uniqExact(request_id) FROM prediction_logs"); got != n {
		t.Errorf("distinct = %d, want %d", got, n)
	}
	readySoon(t, r.p, refused, "after "+table+" came back")
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := e.count(t, "SELECT count() FROM prediction_logs"); got != n {
		t.Errorf("count = %d after the stop, want %d", got, n)
	}
}

// refusedSoon waits up to 20s for refused (the gauge) to count a partition.
func refusedSoon(t *testing.T, refused func() float64, when string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); refused() < 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("schema_blocked_partitions = %v %s, want >= 1", refused(), when)
		}
	}
}

// readySoon waits up to 10s for p to be ready and refused (the gauge) 0.
func readySoon(t *testing.T, p *ingest.Pipeline, refused func() float64, when string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); p.Ready(context.Background()) != nil || refused() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: Ready = %v, schema_blocked_partitions = %v; want ready and 0", when, p.Ready(context.Background()), refused())
		}
	}
}

// tokenSink records the deduplication tokens of table's inserts: those
// ClickHouse refused for the table and those it accepted.
type tokenSink struct {
	chwriter.Sink
	table             string
	mu                sync.Mutex
	refused, accepted map[string]bool
}

func (s *tokenSink) Insert(ctx context.Context, ins chwriter.Insert) error {
	err := s.Sink.Insert(ctx, ins)
	if ins.Table != s.table {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused, s.accepted = map[string]bool{}, map[string]bool{}
	}
	switch {
	case err == nil:
		s.accepted[ins.Token] = true
	case chwriter.KindOf(err) == chwriter.KindSchema:
		s.refused[ins.Token] = true
	}
	return err
}

// refusedNotAccepted returns how many tokens were refused, and those no
// insert was accepted with.
func (s *tokenSink) refusedNotAccepted() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for tok := range s.refused {
		if !s.accepted[tok] {
			out = append(out, tok)
		}
	}
	return len(s.refused), out
}
