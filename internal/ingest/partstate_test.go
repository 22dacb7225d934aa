package ingest

import (
	"context"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestConsumeEndedGeneration: kafka-go's Generation.Start runs consume for
// a generation that has already ended too, unwaited. Such a call must
// leave the partition's state alone: the next generation's consume of the
// same partition may have set it already, and deleting it would drop the
// partition from readiness and lag.
func TestConsumeEndedGeneration(t *testing.T) {
	k := tp{"t", 0}
	next := &partState{}
	p := &Pipeline{parts: map[tp]*partState{k: next}}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	p.consume(context.Background(), context.Background(), ended, nil, nil, "t", kafka.PartitionAssignment{ID: 0})
	if p.parts[k] != next {
		t.Errorf("partition state after a consume of an ended generation = %p, want the next generation's %p", p.parts[k], next)
	}

	// And a consume that ran clears only its own state.
	mine := &partState{}
	p.setPart(k, mine)
	p.setPart(k, next)
	p.clearPart(k, mine)
	if p.parts[k] != next {
		t.Errorf("clearPart removed another consume's state")
	}
	p.clearPart(k, next)
	if _, ok := p.parts[k]; ok {
		t.Errorf("clearPart left its own state")
	}
}
