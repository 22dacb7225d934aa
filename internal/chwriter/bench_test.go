package chwriter_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/pkg/events"
	"github.com/predlog/predlog/pkg/events/eventstest"
)

// decoded returns n decoded prediction logs of the benchmark shape (824
// bytes, 20 features), cloned so they outlive the decoder.
func decoded(b *testing.B, n int) ([]*events.PredictionLog, int) {
	b.Helper()
	gen := eventstest.New(1, eventstest.Config{})
	dec := events.NewDecoder(events.Options{})
	out := make([]*events.PredictionLog, n)
	size := 0
	var p events.PredictionLog
	for i := range out {
		msg := gen.AppendPrediction(nil)
		size += len(msg)
		if err := dec.DecodePrediction(&p, msg); err != nil {
			b.Fatal(err)
		}
		out[i] = p.Clone()
	}
	return out, size / n
}

// BenchmarkPredictionBlock measures column building plus Native encoding per
// row, the ingester's cost after decoding.
//
// go test -run '^$' -bench 'PredictionBlock|ClickHouseGoBatch' -benchmem ./internal/chwriter/
// (2 cores, shared, 2026-11-26):
//
//	BenchmarkPredictionBlock/rows=10000      ~0.55 µs/row, 0 allocs/row
//	BenchmarkClickHouseGoBatch/rows=10000    ~9.6 µs/row, ~52 allocs/row
func BenchmarkPredictionBlock(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			rows, size := decoded(b, n)
			block := chwriter.NewPredictionBlock()
			var buf []byte
			b.ReportAllocs()
			b.SetBytes(int64(size * n))
			b.ResetTimer()
			for range b.N {
				block.Reset()
				for _, p := range rows {
					block.Append(p)
				}
				var err error
				if buf, err = chwriter.EncodeNative(buf[:0], block); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
		})
	}
}

// BenchmarkClickHouseGoBatch is the alternative the ingester does not take:
// clickhouse-go's batch API with whole-column appends, encoded without a
// server (the batch is never sent).
func BenchmarkClickHouseGoBatch(b *testing.B) {
	const n = 10000
	rows, size := decoded(b, n)
	conn := columnsOnlyConn(b)
	b.ReportAllocs()
	b.SetBytes(int64(size * n))
	b.ResetTimer()
	for range b.N {
		batch, err := conn.PrepareBatch(context.Background(), "INSERT INTO prediction_logs")
		if err != nil {
			b.Skipf("needs a server for DESCRIBE: %v", err)
		}
		ids, models, feats := make([]string, n), make([]string, n), make([]map[string]float64, n)
		for i, p := range rows {
			ids[i], models[i] = p.RequestID, p.ModelID
			m := make(map[string]float64, p.NumFeatures.Len())
			for j, k := range p.NumFeatures.Keys {
				m[k] = p.NumFeatures.Values[j]
			}
			feats[i] = m
		}
		_ = batch.Column(0).Append(ids)
		_ = batch.Column(1).Append(models)
		_ = batch.Column(4).Append(feats)
		_ = batch.Abort()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}

func columnsOnlyConn(b *testing.B) driver.Conn {
	b.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{"127.0.0.1:1"}, Protocol: clickhouse.HTTP})
	if err != nil {
		b.Skip(err)
	}
	return conn
}
