package ingest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/predlog/predlog/internal/testenv"
	"github.com/predlog/predlog/internal/testenv/testschema"
)

func TestSpanToken(t *testing.T) {
	tests := []struct {
		name string
		s    span
		want string
	}{
		// Batches recorded before migration 0023 replay under the token
		// their first insert had.
		{"recorded without a fingerprint", span{first: 10, last: 20}, "t/3/10-20"},
		{"with a fingerprint", span{first: 10, last: 20, fp: 0xabc}, "t/3/10-20/abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.token("t", 3); got != tt.want {
				t.Errorf("token = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	base := kafka.Message{Offset: 7, Time: at, Key: []byte("k"), Value: []byte("v")}
	fp := fingerprint(&base)
	if fp == 0 {
		t.Fatal("fingerprint 0 (means: none recorded)")
	}
	same := base
	same.Offset = 8 // the offset is not the message
	if got := fingerprint(&same); got != fp {
		t.Errorf("same message at another offset: %x, want %x", got, fp)
	}
	for name, m := range map[string]kafka.Message{
		"other time":  {Time: at.Add(time.Millisecond), Key: base.Key, Value: base.Value},
		"other key":   {Time: at, Key: []byte("k2"), Value: base.Value},
		"other value": {Time: at, Key: base.Key, Value: []byte("w")},
		"key moved":   {Time: at, Key: []byte("kv"), Value: nil},
	} {
		if got := fingerprint(&m); got == fp {
			t.Errorf("%s: same fingerprint %x", name, got)
		}
	}
}

// TestNewBatchPlan: which recorded batch a new batch replays, given the
// message it starts with.
func TestNewBatchPlan(t *testing.T) {
	msg := func(offset int64, v string) *kafka.Message {
		return &kafka.Message{Offset: offset, Time: time.UnixMilli(1_700_000_000_000), Value: []byte(v)}
	}
	fp := func(v string) uint64 { return fingerprint(msg(0, v)) }
	// Recorded with a TTL of 30 days; today's (the pipeline's, none read
	// here) is 0.
	rec := func(first, last int64, fp uint64) span { return span{first, last, fp, 30} }
	tests := []struct {
		name       string
		plan       []span
		m          *kafka.Message
		wantSpan   span // the batch's
		wantTTL    retention
		wantCut    int64
		wantPlan   int // recorded batches left
		mismatches float64
		retired    []span // queued to be retired in the ledger
	}{
		{"replays the batch it starts, with its TTL", []span{rec(0, 9, fp("a")), rec(10, 19, fp("k"))}, msg(0, "a"),
			rec(0, 9, fp("a")), 30, 9, 1, 0, nil},
		{"another message at its first offset: cut before the next", []span{rec(0, 9, fp("old")), rec(10, 19, fp("k"))}, msg(0, "a"),
			span{0, 0, fp("a"), 0}, 0, 9, 1, 1, []span{rec(0, 9, fp("old"))}},
		{"every earlier life at that offset passed over", []span{rec(0, 29, fp("older")), rec(0, 9, fp("old")), rec(30, 39, fp("x"))}, msg(0, "a"),
			span{0, 0, fp("a"), 0}, 0, 29, 1, 2, []span{rec(0, 29, fp("older")), rec(0, 9, fp("old"))}},
		{"the matching one of two lives", []span{rec(0, 29, fp("old")), rec(0, 9, fp("a")), rec(10, 19, fp("b"))}, msg(0, "a"),
			rec(0, 9, fp("a")), 30, 9, 1, 1, []span{rec(0, 29, fp("old"))}},
		{"without a fingerprint: replayed unchecked", []span{rec(0, 9, 0)}, msg(0, "a"),
			rec(0, 9, 0), 30, 9, 0, 0, nil},
		{"recorded without a TTL: today's", []span{{0, 9, fp("a"), -1}}, msg(0, "a"),
			span{0, 9, fp("a"), -1}, 0, 9, 0, 0, nil},
		{"entered midway (head deleted): replayed", []span{rec(0, 9, fp("x"))}, msg(4, "e"),
			rec(0, 9, fp("x")), 30, 9, 0, 0, nil},
		{"overlaps of a racing instance dropped", []span{rec(0, 9, fp("a")), rec(5, 14, fp("f")), rec(15, 19, fp("p"))}, msg(0, "a"),
			rec(0, 9, fp("a")), 30, 9, 1, 0, nil},
		{"no plan: free", nil, msg(7, "a"), span{7, 7, fp("a"), 0}, 0, 1<<63 - 1, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			p := &Pipeline{m: newMetrics(reg), retirer: newRetirer(nil, zap.NewNop())}
			pt := &partition{p: p, k: tp{"t", 3}, kind: KindPredictions, log: zap.NewNop(), plan: tt.plan}
			b := pt.newBatch(tt.m)
			if b.span != tt.wantSpan || b.ttl != tt.wantTTL || b.cutAt != tt.wantCut || len(pt.plan) != tt.wantPlan {
				t.Errorf("span %+v TTL %d cut %d, %d left; want %+v TTL %d cut %d, %d left",
					b.span, b.ttl, b.cutAt, len(pt.plan), tt.wantSpan, tt.wantTTL, tt.wantCut, tt.wantPlan)
			}
			if got := testutil.ToFloat64(pt.p.m.ledgerMismatches); got != tt.mismatches {
				t.Errorf("%v mismatches counted, want %v", got, tt.mismatches)
			}
			var retired []span
			for _, r := range p.retirer.queue {
				if r.topic != "t" || r.partition != 3 {
					t.Errorf("retirement of %s/%d, want t/3", r.topic, r.partition)
				}
				retired = append(retired, r.span)
			}
			if !slices.Equal(retired, tt.retired) {
				t.Errorf("retired %+v, want %+v", retired, tt.retired)
			}
		})
	}
}

// TestLedgerLoadRetired: load leaves out exactly the batches that have a
// retired copy (offsets and fingerprint), not others starting at the same
// offset with the same first message (a later life replaying it, or a
// racing instance's range, which is retired on its own when met).
func TestLedgerLoadRetired(t *testing.T) {
	st := testenv.Get(t)
	db := testschema.Database(t, st)
	st.Exec(t, db, `INSERT INTO ingest_batches (consumer_group, topic, partition, first_offset, last_offset, first_message, ttl_days, messages, created_at, instance, retired)
		VALUES ('g', 't', 0, 0, 199, 7, 0, 200, now64(3), 'i', 0),
		       ('g', 't', 0, 0, 199, 7, 0, 0, now64(3), 'i', 1),
		       ('g', 't', 0, 0, 99, 7, 0, 100, now64(3), 'i', 0),
		       ('g', 't', 0, 0, 199, 8, 0, 200, now64(3), 'i', 0),
		       ('g', 't', 0, 200, 299, 9, 0, 100, now64(3), 'i', 0),
		       ('g', 't', 1, 0, 199, 7, 0, 200, now64(3), 'i', 0)`)
	l := &ledger{group: "g", conn: st.Conn(t, db)}
	got, err := l.load(context.Background(), "t", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []span{{first: 0, last: 99, fp: 7}, {first: 0, last: 199, fp: 8}, {first: 200, last: 299, fp: 9}}
	if !slices.Equal(got, want) {
		t.Errorf("load = %+v, want %+v", got, want)
	}
}
