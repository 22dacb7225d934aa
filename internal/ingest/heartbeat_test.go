package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/predlog/predlog/internal/testenv"
)

// TestHeartbeatAnswers: the lease's own heartbeat hears what the group
// coordinator of a real broker (the devstack's) answers. kafka-go's
// Client.Heartbeat decodes the answer's fields in the wrong order and
// reported every heartbeat as a success, so a member that the group had
// dropped renewed its lease and inserted batches its successor had cut
// differently.
func TestHeartbeatAnswers(t *testing.T) {
	st := testenv.Get(t)
	topic := st.Topic(t, 1)
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{ID: "hb-" + topic, Brokers: []string{st.KafkaAddr}, Topics: []string{topic},
		SessionTimeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gen, err := group.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{cfg: Config{Brokers: []string{st.KafkaAddr}}}
	tests := []struct {
		name string
		gen  *kafka.Generation
		want error
	}{
		{"current member and generation", &kafka.Generation{GroupID: gen.GroupID, ID: gen.ID, MemberID: gen.MemberID}, nil},
		{"generation ended", &kafka.Generation{GroupID: gen.GroupID, ID: gen.ID - 1, MemberID: gen.MemberID}, kafka.IllegalGeneration},
		{"member dropped", &kafka.Generation{GroupID: gen.GroupID, ID: gen.ID, MemberID: gen.MemberID + "-gone"}, kafka.UnknownMemberId},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.heartbeat(tt.gen)(ctx)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("heartbeat: %v, want %v", err, tt.want)
			}
		})
	}
}
