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

// TestOverlappingRefusals: the fetcher's refused ledger read and the
// flusher's refused ledger record may hold one partition at once. The
// partition counts once in the gauge, and stays refused (readiness) until
// the last of them ends.
func TestOverlappingRefusals(t *testing.T) {
	k := tp{"t", 0}
	p := &Pipeline{
		cfg:           Config{RefusedRetry: backoff.Policy{Initial: time.Millisecond, Max: time.Millisecond}},
		log:           zap.NewNop(),
		m:             newMetrics(nil),
		parts:         map[tp]*partState{k: {}},
		refusedLogged: map[string]time.Time{},
	}
	pt := &partition{p: p, k: k}
	refused := &chwriter.Error{Table: ledgerTable, Code: 60, Kind: chwriter.KindSchema, Msg: "table is gone"}
	refusedErr := func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.refusedErr()
	}
	gauge := func() float64 { return testutil.ToFloat64(p.m.refusedPartitions.WithLabelValues(ledgerTable)) }

	// hold starts a refusal: its first attempt is refused, the next waits
	// until end is called and succeeds. done is closed when it returns.
	var wg sync.WaitGroup
	hold := func() (end func(), done chan struct{}) {
		fixed, began, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			first := true
			err := pt.whileRefused(context.Background(), context.Background(), ledgerTable, func(context.Context) error {
				if first {
					first = false
					close(began)
					return refused
				}
				<-fixed
				return nil
			})
			if err != nil {
				t.Errorf("whileRefused = %v after the table came back", err)
			}
		}()
		<-began
		return func() { close(fixed) }, done
	}
	endFlusher, _ := hold()
	endFetcher, fetcherDone := hold()
	waitFor(t, func() bool { return gauge() > 0 })
	time.Sleep(20 * time.Millisecond) // both past their first attempt, in their second
	if g := gauge(); g != 1 {
		t.Errorf("schema_blocked_partitions = %v with two refusals of one partition, want 1", g)
	}

	endFetcher()
	<-fetcherDone
	if refusedErr() == nil {
		t.Errorf("partition ready while its flusher's refusal lasts")
	}
	if g := gauge(); g != 1 {
		t.Errorf("schema_blocked_partitions = %v while one refusal lasts, want 1", g)
	}

	endFlusher()
	wg.Wait()
	if err := refusedErr(); err != nil {
		t.Errorf("refusedErr = %v after both ended", err)
	}
	if g := gauge(); g != 0 {
		t.Errorf("schema_blocked_partitions = %v after both ended, want 0", g)
	}
}

// TestOverlappingRefusalsOfTwoTables: the fetcher's ledger read and the
// flusher's insert into prediction_logs refused at once (a grant revoked
// on both). Once the ledger is back, readiness names the table still
// refused, and once both are, no trace of either refusal is left: the
// ledger's next refusal is logged at once.
func TestOverlappingRefusalsOfTwoTables(t *testing.T) {
	k := tp{"t", 0}
	p := &Pipeline{
		cfg:           Config{RefusedRetry: backoff.Policy{Initial: time.Millisecond, Max: time.Millisecond}},
		log:           zap.NewNop(),
		m:             newMetrics(nil),
		parts:         map[tp]*partState{k: {}},
		refusedLogged: map[string]time.Time{},
	}
	pt := &partition{p: p, k: k}
	refusedErr := func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.refusedErr()
	}
	gauge := func(table string) float64 {
		return testutil.ToFloat64(p.m.refusedPartitions.WithLabelValues(table))
	}
	var wg sync.WaitGroup
	hold := func(table string) (end func(), done chan struct{}) {
		fixed, began, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		refused := &chwriter.Error{Table: table, Code: 497, Kind: chwriter.KindSchema, Msg: "not enough privileges on " + table}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			first := true
			err := pt.whileRefused(context.Background(), context.Background(), table, func(context.Context) error {
				if first {
					first = false
					close(began)
					return refused
				}
				select {
				case <-fixed:
					return nil
				default:
					return refused
				}
			})
			if err != nil {
				t.Errorf("whileRefused(%s) = %v after the table came back", table, err)
			}
		}()
		<-began
		return func() { close(fixed) }, done
	}
	endLedger, ledgerDone := hold(ledgerTable) // the fetcher's, first
	waitFor(t, func() bool { return gauge(ledgerTable) == 1 })
	endInsert, _ := hold("prediction_logs")
	waitFor(t, func() bool { return gauge("prediction_logs") == 1 })

	endLedger()
	<-ledgerDone
	if g := gauge(ledgerTable); g != 0 {
		t.Errorf("schema_blocked_partitions{table=%q} = %v after it came back, want 0", ledgerTable, g)
	}
	time.Sleep(20 * time.Millisecond) // the insert retried meanwhile
	if err := refusedErr(); err == nil || !strings.Contains(err.Error(), "into prediction_logs") {
		t.Errorf("readiness = %v with prediction_logs refused, want it named", err)
	}

	endInsert()
	wg.Wait()
	if err := refusedErr(); err != nil {
		t.Errorf("refusedErr = %v after both ended", err)
	}
	p.mu.Lock()
	left := maps.Clone(p.refusedLogged)
	p.mu.Unlock()
	if len(left) != 0 {
		t.Errorf("refusals still logged after both ended: %v (their next refusal is not logged at once)", left)
	}
}
