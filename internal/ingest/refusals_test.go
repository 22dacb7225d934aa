package ingest

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/backoff"
	"github.com/predlog/predlog/internal/chwriter"
)

// refusals drives the refusals of one partition of a pipeline that has
// neither Kafka nor ClickHouse: whileRefused with attempts it scripts.
type refusals struct {
	t  *testing.T
	p  *Pipeline
	pt *partition
	wg sync.WaitGroup
}

func newRefusals(t *testing.T) *refusals {
	k := tp{"t", 0}
	p := &Pipeline{
		cfg:           Config{RefusedRetry: backoff.Policy{Initial: time.Millisecond, Max: time.Millisecond}},
		log:           zap.NewNop(),
		m:             newMetrics(nil),
		parts:         map[tp]*partState{k: {}},
		refusedLogged: map[string]time.Time{},
	}
	return &refusals{t: t, p: p, pt: &partition{p: p, k: k}}
}

// hold starts a refusal of table: its first attempt is refused; later
// ones wait for end (waiting) or are refused until it (retrying), then
// succeed. done is closed when whileRefused returns.
func (r *refusals) hold(table string, waiting bool) (end func(), done chan struct{}) {
	fixed, began, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	refused := &chwriter.Error{Table: table, Code: 497, Kind: chwriter.KindSchema, Msg: "not enough privileges on " + table}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(done)
		first := true
		err := r.pt.whileRefused(context.Background(), context.Background(), table, func(context.Context) error {
			if first {
				first = false
				close(began)
				return refused
			}
			if waiting {
				<-fixed
				return nil
			}
			select {
			case <-fixed:
				return nil
			default:
				return refused
			}
		})
		if err != nil {
			r.t.Errorf("whileRefused(%s) = %v after the table came back", table, err)
		}
	}()
	<-began
	return func() { close(fixed) }, done
}

// readiness is the pipeline's refusal error, as Ready reads it.
func (r *refusals) readiness() error {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.p.refusedErr()
}

// gauge is schema_blocked_partitions of table.
func (r *refusals) gauge(table string) float64 {
	return testutil.ToFloat64(r.p.m.refusedPartitions.WithLabelValues(table))
}

// TestOverlappingRefusals: the fetcher's refused ledger read and the
// flusher's refused ledger record may hold one partition at once. The
// partition counts once in the gauge, and stays refused (readiness) until
// the last of them ends.
func TestOverlappingRefusals(t *testing.T) {
	r := newRefusals(t)
	endFlusher, _ := r.hold(ledgerTable, true)
	endFetcher, fetcherDone := r.hold(ledgerTable, true)
	waitFor(t, func() bool { return r.gauge(ledgerTable) > 0 })
	time.Sleep(20 * time.Millisecond) // both past their first attempt, in their second
	if g := r.gauge(ledgerTable); g != 1 {
		t.Errorf("schema_blocked_partitions = %v with two refusals of one partition, want 1", g)
	}

	endFetcher()
	<-fetcherDone
	if r.readiness() == nil {
		t.Errorf("partition ready while its flusher's refusal lasts")
	}
	if g := r.gauge(ledgerTable); g != 1 {
		t.Errorf("schema_blocked_partitions = %v while one refusal lasts, want 1", g)
	}

	endFlusher()
	r.wg.Wait()
	if err := r.readiness(); err != nil {
		t.Errorf("refusedErr = %v after both ended", err)
	}
	if g := r.gauge(ledgerTable); g != 0 {
		t.Errorf("schema_blocked_partitions = %v after both ended, want 0", g)
	}
}

// TestOverlappingRefusalsOfTwoTables: the fetcher's ledger read and the
// flusher's insert into prediction_logs refused at once (a grant revoked
// on both). Once the ledger is back, readiness names the table still
// refused, and once both are, no trace of either refusal is left: the
// ledger's next refusal is logged at once.
func TestOverlappingRefusalsOfTwoTables(t *testing.T) {
	r := newRefusals(t)
	endLedger, ledgerDone := r.hold(ledgerTable, false) // the fetcher's, first
	waitFor(t, func() bool { return r.gauge(ledgerTable) == 1 })
	endInsert, _ := r.hold("prediction_logs", false)
	waitFor(t, func() bool { return r.gauge("prediction_logs") == 1 })

	endLedger()
	<-ledgerDone
	if g := r.gauge(ledgerTable); g != 0 {
		t.Errorf("schema_blocked_partitions{table=%q} = %v after it came back, want 0", ledgerTable, g)
	}
	time.Sleep(20 * time.Millisecond) // the insert retried meanwhile
	if err := r.readiness(); err == nil || !strings.Contains(err.Error(), "into prediction_logs") {
		t.Errorf("readiness = %v with prediction_logs refused, want it named", err)
	}

	endInsert()
	r.wg.Wait()
	if err := r.readiness(); err != nil {
		t.Errorf("refusedErr = %v after both ended", err)
	}
	r.p.mu.Lock()
	left := maps.Clone(r.p.refusedLogged)
	r.p.mu.Unlock()
	if len(left) != 0 {
		t.Errorf("refusals still logged after both ended: %v (their next refusal is not logged at once)", left)
	}
}
