package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/predlog/predlog/internal/testenv"
	"github.com/predlog/predlog/pkg/events"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The runner produces every kind of event to a real broker (the devstack's
// by default) through the kafka-go writer the command uses.
func TestProduceToKafka(t *testing.T) {
	st := testenv.Get(t)
	topics := Topics{
		Predictions: st.Topic(t, 4), Outcomes: st.Topic(t, 2), Models: st.Topic(t, 1),
		TrainingJobs: st.Topic(t, 1), FeatureImportance: st.Topic(t, 1), FeatureBaselines: st.Topic(t, 1),
	}
	g := newGen(t, Config{Seed: 9, Models: 3, UnlabeledFraction: 0.2, ErrorRate: 0.01})
	w := NewKafkaWriter([]string{st.KafkaAddr})
	// Its own transport: the shared default caches metadata for 6s and
	// would not know the topics a second run (-count=2) just created.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w.Transport = tr
	defer w.Close()
	r, err := NewRunner(g, RunnerOptions{Topics: topics, Count: 3000, Write: w.WriteMessages})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, r.Run(ctx))

	s := r.Snapshot()
	require.Zero(t, s.Errors)
	require.Equal(t, int64(3000), s.Predictions)
	count := func(topic string, partitions int) int64 {
		var n int64
		for p := range partitions {
			conn, err := kafka.DialLeader(ctx, "tcp", st.KafkaAddr, topic, p)
			require.NoError(t, err)
			last, err := conn.ReadLastOffset()
			conn.Close()
			require.NoError(t, err)
			n += last
		}
		return n
	}
	assert.Equal(t, int64(3000), count(topics.Predictions, 4))
	assert.Equal(t, s.Outcomes, count(topics.Outcomes, 2))
	assert.InDelta(t, 3000*0.8*0.99, float64(s.Outcomes), 100)
	assert.Equal(t, int64(4), count(topics.FeatureBaselines, 1))

	// What arrived decodes.
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{st.KafkaAddr}, Topic: topics.FeatureBaselines, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	d := events.NewDecoder(events.Options{})
	for range 4 {
		m, err := rd.ReadMessage(ctx)
		require.NoError(t, err)
		var b events.FeatureBaseline
		require.NoError(t, d.DecodeFeatureBaseline(&b, m.Value))
		assert.Equal(t, string(m.Key), b.ModelID+"/"+b.ModelVersion)
	}
}
