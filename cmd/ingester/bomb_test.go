package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/predlog/predlog/pkg/events/eventstest"
)

// TestE2EDecompressionBomb: one zstd record batch of ~100 KB that
// decompresses to 1.5 GB (1,500 records of 1 MiB of spaces) between good
// messages of a partition. kafka-go decompresses a batch whole: the
// ingester reached 4 GB on it. Now the batch is refused past the limit:
// memory stays low, the good messages before it are inserted, the partition stops there (nothing after it is consumed, so
// nothing is lost), and the refusal is counted and logged once, with the
// configured limit (kafka.max_decompressed_batch_bytes).
func TestE2EDecompressionBomb(t *testing.T) {
	e := newE2E(t, 1)
	good := func(n int, seed uint64) {
		t.Helper()
		gen := eventstest.New(seed, eventstest.Config{Start: time.Now().Add(-time.Hour)})
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			msgs[i] = kafka.Message{Value: gen.AppendPrediction(nil)}
		}
		w := &kafka.Writer{Addr: kafka.TCP(e.st.KafkaAddr), Topic: e.topic, RequiredAcks: kafka.RequireAll, Transport: e.transport}
		require.NoError(t, w.WriteMessages(context.Background(), msgs...))
		require.NoError(t, w.Close())
	}
	good(100, 1)
	produceBomb(t, e.st.KafkaAddr, e.topic, 1500, 1<<20)
	good(100, 2)

	p := e.start(t, "ingester", "", "--kafka.max-decompressed-batch-bytes=16MiB")
	p.waitReady(readyTimeout)
	require.Eventually(t, func() bool { return e.query(t, "SELECT count() FROM prediction_logs") == 100 },
		time.Minute, 100*time.Millisecond, "the messages before the batch are not inserted")
	require.Eventually(t, func() bool { return p.metric(`predlog_ingester_refused_batches_total{topic="`+e.topic+`"}`) == 1 },
		30*time.Second, 100*time.Millisecond, "the batch is not counted as refused")
	time.Sleep(3 * time.Second) // retries of the same batch meanwhile
	_, hwm, err := p.memory()
	require.NoError(t, err)
	t.Logf("VmHWM %s", mib(hwm))
	assert.Less(t, hwm, int64(600<<20), "VmHWM: the batch was decompressed whole")
	assert.EqualValues(t, 100, e.query(t, "SELECT count() FROM prediction_logs"), "messages after the refused batch consumed")
	assert.EqualValues(t, 1, p.metric(`predlog_ingester_refused_batches_total{topic="`+e.topic+`"}`), "refusal counted once per offset")
	p.stop(stopTimeout)
	log, err := os.ReadFile(p.log)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(log), "decompresses past kafka.max_decompressed_batch_bytes"), "the refusal's error, once")
	assert.Contains(t, string(log), `"limit_bytes":16777216`, "the configured limit")
}

// produceBomb writes one zstd record batch of n records of size spaces to
// partition 0 of topic: a raw Produce request, as no client library
// builds such a batch.
func produceBomb(t *testing.T, addr, topic string, n, size int) {
	t.Helper()
	var comp bytes.Buffer
	enc, err := zstd.NewWriter(&comp, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	require.NoError(t, err)
	val := bytes.Repeat([]byte{' '}, size)
	for i := range n {
		body := []byte{0}                          // attributes
		body = binary.AppendVarint(body, 0)        // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		body = binary.AppendVarint(body, -1)       // no key
		body = binary.AppendVarint(body, int64(len(val)))
		_, _ = enc.Write(binary.AppendVarint(nil, int64(len(body)+len(val)+1)))
		_, _ = enc.Write(body)
		_, _ = enc.Write(val)
		_, _ = enc.Write([]byte{0}) // no headers
	}
	require.NoError(t, enc.Close())
	now := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, Attributes: 4, // zstd
		LastOffsetDelta: int32(n - 1), FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: comp.Bytes()}
	raw := rb.AppendTo(nil)
	rb.Length = int32(len(raw) - 12)
	raw = rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[17:21], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	t.Logf("batch of %d bytes, %d decompressed", len(raw), n*size)

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V3_0_0())) // Produce v9: by topic name
	require.NoError(t, err)
	defer cl.Close()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 10_000
	tr := kmsg.NewProduceRequestTopic()
	tr.Topic = topic
	pr := kmsg.NewProduceRequestTopicPartition()
	pr.Records = raw
	tr.Partitions = append(tr.Partitions, pr)
	req.Topics = append(req.Topics, tr)
	resp, err := req.RequestWith(context.Background(), cl)
	require.NoError(t, err)
	require.Zero(t, resp.Topics[0].Partitions[0].ErrorCode, "produce")
}
