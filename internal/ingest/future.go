package ingest

import (
	"math/bits"
	"time"

	"go.uber.org/zap"
)

// futureTolerance is how far ahead of the ingester's clock an event time
// may be before it counts as dated in the future: well beyond what
// synchronised clocks disagree by, well below the hours of an event time
// sent in local time as UTC, which it is there to show.
const futureTolerance = time.Minute

// observeEventTimes records, for committed batch b, each event's age at
// now (Unix ms) in the freshness histogram, and counts and warns about the
// events dated more than futureTolerance after now, thinned to the 1st,
// 2nd, 4th... per assignment of the partition. They are ingested
// (rejecting them would depend on the clock of the attempt, and a
// replayed batch must decide as the first attempt did), but their windows
// are computed only once they close, and volume "in the last hour" leaves
// them out, which this makes visible.
func (pt *partition) observeEventTimes(b *batch, now int64) {
	n, ahead := 0, int64(0)
	for _, t := range b.events {
		// An event dated in the future (a skewed producer clock; event
		// times are accepted up to 2099) counts as fresh: a negative age
		// would pull the histogram's sum, and every average of it, below 0.
		pt.p.m.freshness.Observe(float64(max(now-t, 0)) / 1e3)
		if d := t - now; d > futureTolerance.Milliseconds() {
			n++
			ahead = max(ahead, d)
		}
	}
	if n == 0 {
		return
	}
	pt.p.m.futureEvents.WithLabelValues(pt.k.topic).Add(float64(n))
	before := pt.future
	pt.future += n
	if crossedPowerOfTwo(before, pt.future) {
		pt.log.Warn("events dated in the future were ingested: a producer's clock is ahead, or it sends local times as UTC; their windows are computed only once they close",
			zap.Int("in_batch", n), zap.Duration("max_ahead", time.Duration(ahead)*time.Millisecond),
			zap.Int64("batch_first_offset", b.span.first), zap.Int64("batch_last_offset", b.span.last), zap.Int("future_events", pt.future))
	}
}

// crossedPowerOfTwo reports whether a count that went from before to
// after passed a power of two: warnings about a recurring condition are
// logged at its 1st, 2nd, 4th, 8th... occurrence.
func crossedPowerOfTwo(before, after int) bool {
	return bits.Len(uint(before)) != bits.Len(uint(after))
}
