package aggregate

import (
	"testing"
	"time"
)

// TestBackfillFarFutureTo: a --to past year 2318 (292 years from now,
// time.Duration's range) made the count of base windows not closed
// overflow into a negative number.
func TestBackfillFarFutureTo(t *testing.T) {
	a := &Aggregator{cfg: Config{AllowedLateness: time.Minute, LabelHorizon: 6 * time.Hour},
		grans: newGrans([]time.Duration{time.Minute, time.Hour, 24 * time.Hour})}
	now := time.Date(2026, 11, 26, 12, 30, 20, 0, time.UTC)
	_, open := a.backfillSpans(now.Add(-time.Hour), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), now)
	if open <= 0 {
		t.Errorf("%d base windows not closed, want a positive count", open)
	}
}
