package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTransactionalProducer: the markers a transactional producer's commits
// and aborts leave in the log are skipped and counted, not dead-lettered
// as invalid JSON, and offsets commit past them. The records of the
// aborted transaction are ingested: kafka-go cannot tell them apart
// (txnmarker.go, README); this test says so, and tells when a client that
// can arrives.
func TestTransactionalProducer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.st.KafkaAddr), kgo.TransactionalID("predlog-test-"+e.topic), kgo.DefaultProduceTopic(e.topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	msgs := predictions(8, 31)
	produce := func(values [][]byte) {
		t.Helper()
		for _, v := range values {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
	}
	tx := func(values [][]byte, commit bool) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(values)
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	// Offsets: 0-2 committed, 3 marker, 4-5 aborted, 6 marker, 7-9
	// committed, 10 marker; 11 a bad message outside any transaction.
	tx(msgs[:3], true)
	tx(msgs[3:5], false)
	tx(msgs[5:], true)
	e.produce(t, [][]byte{[]byte(`{"request_id": "x",`)})

	reg := prometheus.NewRegistry()
	group := "g-" + e.db
	r := e.run(t, group, reg, e.sink, nil)
	e.waitCount(t, "SELECT count() FROM prediction_logs", len(msgs), 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := e.committed(ctx, group)
		if err == nil && c == 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed offset %d (%v), want 12: past the last marker and the bad message", c, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := e.dlqMessages(t, 1)[0]; d.Offset != 11 || d.Code != "invalid_json" {
		t.Errorf("first DLQ message: offset %d code %s (%s), want the bad message at 11 (invalid_json): markers reach the DLQ", d.Offset, d.Code, d.Reason)
	}
	markers := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "predlog_ingester_transaction_markers_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" {
					markers[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	if markers["commit"] != 2 || markers["abort"] != 1 || len(markers) != 2 {
		t.Errorf("transaction markers %v, want commit 2, abort 1", markers)
	}
	if n := counter(t, reg, "predlog_ingester_rejected_messages_total"); n != 1 {
		t.Errorf("%v messages rejected, want 1 (the bad one)", n)
	}
	// The aborted transaction's two records are ingested, the known limit.
	if n := e.count(t, "SELECT count() FROM prediction_logs WHERE kafka_offset IN (4, 5)"); n != 2 {
		t.Errorf("%d of the aborted transaction's records ingested, want 2: if the client now filters them, update README and txnmarker.go", n)
	}
}
