package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/predlog/predlog/internal/ingest"
)

// deleteRecords moves the log start offset of partition 0 of topic to
// offset (what time- or size-based retention does to a log's first
// segments).
func deleteRecords(t *testing.T, addr, topic string, offset int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10_000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = 0, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The test producer does not wait for acks: retry while the offset is
	// still past the high watermark (OFFSET_OUT_OF_RANGE, 1).
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("delete records: %v", err)
		}
		code := resp.Topics[0].Partitions[0].ErrorCode
		if code == 0 {
			return
		}
		if code != 1 || ctx.Err() != nil {
			t.Fatalf("delete records: error code %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNewLifeStartsInsideOldBatch: a topic created again whose new log no
// longer starts at offset 0 when the partition is read (retention, or
// DeleteRecords, removed its first messages), inside the old life's
// recorded batch [0-9]. That batch's first message cannot be compared, so
// it was replayed: the new messages 5-9 went in under the old batch's
// token, which ClickHouse dropped as a duplicate, and were committed. It
// must be passed over instead: when the group has no committed offset
// because the next recorded batch's first message ([10-19]) is another one
// (checkLogStart), and after a restart from past the log's end because the
// log is known to be a new one.
func TestNewLifeStartsInsideOldBatch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		// commitOld commits the old life's offset again after the topic
		// was created again (a broker that keeps a deleted topic's
		// offsets): the reader is then past the new log's end and
		// partition.restart starts it again at the earliest offset.
		commitOld bool
	}{
		{name: "no committed offset"},
		{name: "restart from past the end", commitOld: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 1)
			group := "g-" + e.db
			e.produce(t, predictions(23, 91)) // old life: batches [0-9] [10-19] [20-22]
			stop := e.pipeline(t, group, func(c *ingest.Config) { c.MaxRows = 10 })
			e.waitCount(t, "SELECT count() FROM prediction_logs", 23, 30*time.Second)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			e.recreate(t, group)
			e.produce(t, predictions(12, 92)) // new life: offsets 0-11
			deleteRecords(t, e.st.KafkaAddr, e.topic, 5)
			if tt.commitOld {
				e.commitOffset(t, group, 23)
			}

			stop = e.pipeline(t, group, func(c *ingest.Config) { c.MaxRows = 10 })
			defer func() { _ = stop() }()
			// 23 old rows and the new life's 7 messages left (5-11).
			deadline := time.Now().Add(20 * time.Second)
			for e.count(t, "SELECT count() FROM prediction_logs") != 30 && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
			}
			time.Sleep(time.Second)
			if got := e.count(t, "SELECT count() FROM prediction_logs"); got != 30 {
				t.Errorf("prediction_logs holds %d rows, want 30 (23 of the old life, 7 of the new); rows at offsets 5-9: %d, want 10 (5 per life): "+
					"the new messages went in under the old batch [0-9]'s token and ClickHouse dropped them as a duplicate",
					got, e.count(t, "SELECT count() FROM prediction_logs WHERE kafka_offset BETWEEN 5 AND 9"))
			}
		})
	}
}
