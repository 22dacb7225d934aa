package ingest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/predlog/predlog/internal/chwriter"
)

// span is a batch's offset range, both ends inclusive, the fingerprint of
// its first message (0: recorded before migration 0023) and the TTL in
// days its events were checked against (-1: recorded before migration
// 0025), so that a replay accepts and rejects the same events.
type span struct {
	first, last int64
	fp          uint64
	ttl         int32
}

// token is the batch's insert_deduplication_token. It depends only on the
// partition, the recorded boundaries and the first message, so a replay of
// the batch carries the same one, and a partition that starts again at
// offset 0 (a topic created again) does not reuse an old batch's. Each
// consumer group records and replays its own boundaries, so two groups
// writing the same topics into the same tables cut different batches and
// duplicate rows: one group per database (README, "Effectively once").
func (s span) token(topic string, partition int) string {
	t := topic + "/" + strconv.Itoa(partition) + "/" + strconv.FormatInt(s.first, 10) + "-" + strconv.FormatInt(s.last, 10)
	if s.fp != 0 {
		t += "/" + strconv.FormatUint(s.fp, 16)
	}
	return t
}

// fingerprint identifies a message across fetches: FNV-1a of its
// timestamp, key length, key and value, never 0.
func fingerprint(m *kafka.Message) uint64 {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(m.Time.UnixMilli()))
	binary.LittleEndian.PutUint64(b[8:], uint64(len(m.Key)))
	h.Write(b[:])
	h.Write(m.Key)
	h.Write(m.Value)
	return max(h.Sum64(), 1)
}

// ledger records batch boundaries in table ingest_batches before the batch
// is inserted, and reads them back when a partition is assigned, except
// those retired as stale.
type ledger struct {
	group    string
	instance string
	sink     chwriter.Sink
	conn     driver.Conn // reads
}

// ledgerRow is a row of ingest_batches as the ledger writes it.
type ledgerRow struct {
	Group     string `json:"consumer_group"`
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	First     int64  `json:"first_offset"`
	Last      int64  `json:"last_offset"`
	FP        uint64 `json:"first_message"`
	TTL       int32  `json:"ttl_days"`
	Messages  int    `json:"messages"`
	CreatedAt string `json:"created_at"`
	Instance  string `json:"instance"`
	Retired   uint8  `json:"retired,omitempty"`
}

func (l *ledger) row(topic string, partition int, s span, messages int, now time.Time) ledgerRow {
	return ledgerRow{l.group, topic, partition, s.first, s.last, s.fp, s.ttl, messages,
		now.UTC().Format("2006-01-02 15:04:05.000"), l.instance, 0}
}

// ledgerTable is where the ledger records batches (migration 0011).
const ledgerTable = "ingest_batches"

// record writes s for topic/partition. It is idempotent (same token).
func (l *ledger) record(ctx context.Context, topic string, partition int, s span, messages int) error {
	row, err := json.Marshal(l.row(topic, partition, s, messages, time.Now()))
	if err != nil {
		return err
	}
	return l.sink.Insert(ctx, chwriter.Insert{
		Table:  ledgerTable,
		Format: "JSONEachRow",
		Body:   append(row, '\n'),
		Token:  "ledger/" + l.group + "/" + s.token(topic, partition),
	})
}

// retire records rs as stale: a copy of each batch's row with retired = 1
// (migration 0026), which load then leaves out with the batch. Appended
// rather than updated: no mutation on a table written with every batch.
// No token: a retirement recorded twice (a crash before the answer) only
// adds a row load ignores.
func (l *ledger) retire(ctx context.Context, rs []retirement) error {
	now := time.Now()
	var body []byte
	for _, r := range rs {
		row := l.row(r.topic, r.partition, r.span, 0, now)
		row.Retired = 1
		b, err := json.Marshal(row)
		if err != nil {
			return err
		}
		body = append(append(body, b...), '\n')
	}
	return l.sink.Insert(ctx, chwriter.Insert{Table: ledgerTable, Format: "JSONEachRow", Body: body})
}

// load returns the recorded batches of topic/partition that end at or after
// from (the committed offset), in offset order, those with a fingerprint
// before those without at the same offset, without duplicates and without
// retired ones; ranges may overlap (partition.newBatch picks what replays).
func (l *ledger) load(ctx context.Context, topic string, partition int, from int64) ([]span, error) {
	qctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"group":     l.group,
		"topic":     topic,
		"partition": strconv.Itoa(partition),
		"from":      strconv.FormatInt(from, 10),
	}))
	// Retired copies are left out here rather than by a subquery: on a
	// cluster ingest_batches is Distributed, and IN over a Distributed
	// subquery depends on distributed_product_mode. They are few.
	rows, err := l.conn.Query(qctx, `SELECT DISTINCT first_offset, last_offset, first_message, ttl_days, retired FROM ingest_batches
		WHERE consumer_group = {group:String} AND topic = {topic:String}
		  AND partition = {partition:Int32} AND last_offset >= {from:Int64}
		ORDER BY first_offset, first_message = 0, last_offset, first_message`)
	if err != nil {
		return nil, fmt.Errorf("load ledger: %w", err)
	}
	defer rows.Close()
	var out []span
	// A retired copy hides exactly the batch it copies: a racing
	// instance's overlapping range is retired on its own when it is met,
	// and a later life of the partition whose first message happens to be
	// the same one (a replay with its timestamps kept) must not lose its
	// own batch to an old retirement.
	type key struct {
		first, last int64
		fp          uint64
	}
	retired := map[key]bool{}
	for rows.Next() {
		var (
			s span
			r uint8
		)
		if err := rows.Scan(&s.first, &s.last, &s.fp, &s.ttl, &r); err != nil {
			return nil, fmt.Errorf("load ledger: %w", err)
		}
		if r != 0 {
			retired[key{s.first, s.last, s.fp}] = true
			continue
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load ledger: %w", err)
	}
	return slices.DeleteFunc(out, func(s span) bool { return retired[key{s.first, s.last, s.fp}] }), nil
}
