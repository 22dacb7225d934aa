package aggregate

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestProgress: base windows count twice (states, outputs), others once;
// a line at most every progressEvery; nil (a cycle) does nothing.
func TestProgress(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	p := newProgress(zap.New(core), [][]window{make([]window, 60), make([]window, 1), nil})
	if p.total != 121 {
		t.Fatalf("total %d steps, want 121", p.total)
	}
	p.add("states", 60)
	if n := logs.Len(); n != 0 {
		t.Fatalf("%d lines within %v of the start, want none", n, progressEvery)
	}
	p.last = p.last.Add(-progressEvery)
	p.add("1m", 60)
	l := logs.All()
	if len(l) != 1 || l[0].ContextMap()["percent"] != int64(99) || l[0].ContextMap()["stage"] != "1m" {
		t.Errorf("logged %v, want one line at 99%% of stage 1m", l)
	}
	var none *progress
	none.add("states", 1)
}
