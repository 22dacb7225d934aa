package aggregate

import (
	"slices"
	"time"
)

// Why a window is computed, stored in aggregator_windows.reason and used as
// the reason label of predlog_aggregator_windows_computed_total.
const (
	reasonClosed   = "closed"   // first computation, once end + allowed lateness passed
	reasonLate     = "late"     // recomputation: predictions or outcomes for it arrived later
	reasonFinal    = "final"    // last recomputation, once end + label horizon passed
	reasonBackfill = "backfill" // Backfill
)

// Watermark names in aggregator_watermarks.
const (
	markIngestPredictions = "ingest.predictions"
	markIngestOutcomes    = "ingest.outcomes"
	// Windows computed with other metadata than the models rows ingested
	// after this one are recomputed (dirty_models).
	markIngestModels = "ingest.models"
	// Windows whose drift states no longer match the baselines ingested
	// after this one are recomputed (dirty_baselines).
	markIngestBaselines = "ingest.baselines"
	// The ingest bound of the last cycle that left windows dirtied by a
	// models record or a baseline to the next ones (recompute.go).
	markSeenSuffix   = ".seen"
	markClosedPrefix = "closed."
	markFinalPrefix  = "final."
	// The predictions ingested after this one are still to be counted
	// when their windows are past the label horizon (pasthorizon.go).
	markPastHorizon = "ingest.past_horizon"
	// prediction_requests holds the predictions ingested after this one.
	markIndexedRequests = "index.requests"
	// window_outcomes holds the outcomes ingested after this one.
	markRoutedOutcomes = "index.outcomes"
	// drift.auto_baseline tries a version's windows from this one on
	// (autobaseline.go); the version follows, as model "\x00" version.
	markAutoBaselinePrefix = "auto_baseline.next\x00"
)

// gran is one configured granularity.
type gran struct {
	d    time.Duration
	name string // "1m", "1h", "1d"
	secs uint32
}

func newGrans(ds []time.Duration) []gran {
	out := make([]gran, len(ds))
	for i, d := range ds {
		out[i] = gran{d: d, name: GranularityName(d), secs: uint32(d / time.Second)}
	}
	return out
}

// floorTo returns the start of the window of length d containing t, aligned
// to the Unix epoch like ClickHouse's toStartOfInterval(t, INTERVAL n SECOND).
func floorTo(t time.Time, d time.Duration) time.Time {
	s, n := t.Unix(), int64(d/time.Second)
	m := s % n
	if m < 0 {
		m += n
	}
	return time.Unix(s-m, 0).UTC()
}

// window is one window to compute.
type window struct {
	start  time.Time
	reason string
	final  bool
	// labelsOnly: a base window recomputed because outcomes arrived, and
	// no predictions: its drift states stand (drift does not depend on
	// labels), only its performance states are recomputed.
	labelsOnly bool
}

// cyclePlan is what one cycle computes: windows per granularity (index as
// in Config.Granularities; [0] are the base windows whose states are
// recomputed) and the watermarks to store once everything succeeded.
type cyclePlan struct {
	windows [][]window
	marks   map[string]time.Time
}

// bounds are the two window boundaries of granularity g at now: windows
// ending at or before closed have closed (end + lateness <= now), those
// ending at or before final are final (end + horizon <= now).
func (c Config) bounds(g time.Duration, now time.Time) (closed, final time.Time) {
	return floorTo(now.Add(-c.AllowedLateness), g), floorTo(now.Add(-c.LabelHorizon), g)
}

// firstStart is where windows start on the first cycle, when a watermark is
// missing: the start of the coarsest window the label horizon reaches into,
// so that every granularity's first window has all its base windows.
func (c Config) firstStart(now time.Time) time.Time {
	return floorTo(now.Add(-c.LabelHorizon), c.Granularities[len(c.Granularities)-1])
}

// plan decides the windows of one cycle from the stored watermarks and the
// base windows touched by rows ingested since the last cycle (dirty).
//
// Per granularity g, with C and F from bounds and c, f the stored
// closed.<g> and final.<g> watermarks:
//   - windows in [c, C) closed since the last cycle: computed, and final if
//     they already end before F (after an outage);
//   - dirty windows that closed before and are not final: recomputed (late);
//   - windows ending in (f, F]: recomputed a last time and marked final.
//
// A dirty base window that is still open is left to its closing; dirty base
// windows older than the horizon are ignored (the caller does not scan for
// them).
func (c Config) plan(marks map[string]time.Time, now time.Time, dirty []time.Time) cyclePlan {
	p := cyclePlan{windows: make([][]window, len(c.Granularities)), marks: map[string]time.Time{}}
	first := c.firstStart(now)
	for i, g := range c.Granularities {
		name := GranularityName(g)
		closedB, finalB := c.bounds(g, now)
		cm, ok := marks[markClosedPrefix+name]
		if !ok {
			cm = floorTo(first, g)
		}
		fm, ok := marks[markFinalPrefix+name]
		if !ok {
			fm = finalB
		}
		set := map[time.Time]window{}
		for s := cm; !s.Add(g).After(closedB); s = s.Add(g) {
			set[s] = window{start: s, reason: reasonClosed, final: !s.Add(g).After(finalB)}
		}
		for _, d := range dirty {
			s := floorTo(d, g)
			end := s.Add(g)
			if end.After(closedB) || !end.After(finalB) {
				continue // still open (computed on closing) or already final
			}
			if _, ok := set[s]; !ok {
				set[s] = window{start: s, reason: reasonLate}
			}
		}
		for s := fm; !s.Add(g).After(finalB); s = s.Add(g) {
			set[s] = window{start: s, reason: reasonFinal, final: true}
		}
		ws := make([]window, 0, len(set))
		for _, w := range set {
			ws = append(ws, w)
		}
		slices.SortFunc(ws, func(a, b window) int { return a.start.Compare(b.start) })
		p.windows[i] = ws
		p.marks[markClosedPrefix+name] = later(cm, closedB)
		p.marks[markFinalPrefix+name] = later(fm, finalB)
	}
	return p
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// span is a group of windows of one granularity computed by one query:
// [from, to) covers them; starts lists them unless all lies in between
// (then the query takes every window of the range).
type span struct {
	from, to time.Time
	starts   []time.Time
	all      bool
}

// spans cuts sorted windows of length g into query groups: windows closer
// than maxGap stay together, a group covers at most maxSpan and holds at
// most maxList windows. A group of at least minRange consecutive windows
// becomes a whole range (all), which the states query reads without a
// request-id prefilter.
func spans(starts []time.Time, g, maxGap, maxSpan time.Duration, maxList, minRange int) []span {
	var out []span
	for i := 0; i < len(starts); {
		j := i + 1
		for j < len(starts) && starts[j].Sub(starts[j-1]) <= maxGap &&
			starts[j].Add(g).Sub(starts[i]) <= maxSpan && j-i < maxList {
			j++
		}
		grp := starts[i:j]
		sp := span{from: grp[0], to: grp[len(grp)-1].Add(g), starts: slices.Clone(grp)}
		sp.all = len(grp) >= minRange && sp.to.Sub(sp.from) == time.Duration(len(grp))*g
		out = append(out, sp)
		i = j
	}
	return out
}

// keep returns sp with only the windows for which ok holds; it stays a
// whole range only if that is all of them.
func (sp span) keep(ok func(time.Time) bool) span {
	out := span{from: sp.from, to: sp.to, all: sp.all}
	for _, s := range sp.starts {
		if ok(s) {
			out.starts = append(out.starts, s)
		}
	}
	if len(out.starts) < len(sp.starts) {
		out.all = false
	}
	return out
}

// split cuts sp (windows of length g) into runs of consecutive windows
// whose counts add up to at most limit (a window over the limit alone),
// keeping sp.all: a whole range stays whole ranges, a list stays lists.
func (sp span) split(g time.Duration, counts map[time.Time]uint64, limit uint64) []span {
	var out []span
	for i := 0; i < len(sp.starts); {
		sum := counts[sp.starts[i]]
		j := i + 1
		for j < len(sp.starts) && sum+counts[sp.starts[j]] <= limit {
			sum += counts[sp.starts[j]]
			j++
		}
		grp := sp.starts[i:j]
		out = append(out, span{from: grp[0], to: grp[len(grp)-1].Add(g), starts: slices.Clone(grp), all: sp.all})
		i = j
	}
	if len(out) == 1 {
		return []span{sp}
	}
	return out
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
