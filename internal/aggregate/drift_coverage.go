package aggregate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Numeric drift states come from two sources that must agree exactly: the
// raw rows (drift_states_numeric) and the histograms the feature_bins_1m
// view binned at insert time (drift_states_bins, plus drift_states_score
// for a score without a baseline; ~10x less engine CPU for a full hour).
// The view is only trusted for a (window, version) pair that
// drift_coverage proves complete and current; the rest is binned raw.

// maxCoveredPairs bounds the pairs one query lists (a bound parameter of
// ~40 bytes a pair).
const maxCoveredPairs = 10_000

// versionWindow is one model version's base window.
type versionWindow struct {
	ws             time.Time
	model, version string
}

// coverage is drift_coverage's answer for a states query's range.
type coverage struct {
	covered  []versionWindow      // pairs the view covers, by window
	scoreRaw []versionWindow      // covered pairs whose score it did not bin
	raw      map[time.Time]uint64 // predictions per window in pairs it does not cover
	rawPairs int
	now      time.Time // the server's clock: the numeric states' generation
}

// coveredIn returns the covered pairs of windows in [from, to).
func (c coverage) coveredIn(from, to time.Time) []versionWindow {
	lo := sort.Search(len(c.covered), func(i int) bool { return !c.covered[i].ws.Before(from) })
	hi := sort.Search(len(c.covered), func(i int) bool { return !c.covered[i].ws.Before(to) })
	return c.covered[lo:hi]
}

// rawSpan returns the windows of sp with predictions in uncovered pairs.
func (c coverage) rawSpan(sp span) span {
	return sp.keep(func(w time.Time) bool { return c.raw[w] > 0 })
}

// driftCoverage runs drift_coverage over a states query's range (params as
// perf_states).
func (a *Aggregator) driftCoverage(ctx context.Context, perf clickhouse.Parameters) (coverage, error) {
	rows, err := a.query(ctx, "drift_coverage", clickhouse.Parameters{
		"base_seconds": perf["base_seconds"],
		"from":         perf["from"],
		"to":           perf["to"],
		"windows":      perf["windows"],
	})
	if err != nil {
		return coverage{}, err
	}
	defer rows.Close()
	c := coverage{raw: map[time.Time]uint64{}}
	for rows.Next() {
		var p versionWindow
		var n uint64
		var covered, scoreRaw uint8
		if err := rows.Scan(&p.ws, &p.model, &p.version, &n, &covered, &scoreRaw, &c.now); err != nil {
			return coverage{}, fmt.Errorf("drift_coverage: %w", err)
		}
		p.ws = p.ws.UTC()
		switch {
		case covered == 0:
			c.raw[p.ws] += n
			c.rawPairs++
		case scoreRaw == 1:
			c.scoreRaw = append(c.scoreRaw, p)
			fallthrough
		default:
			c.covered = append(c.covered, p)
		}
	}
	if err := rows.Err(); err != nil {
		return coverage{}, fmt.Errorf("drift_coverage: %w", err)
	}
	return c, nil
}

// chunkPairs cuts pairs into runs of at most n.
func chunkPairs(pairs []versionWindow, n int) [][]versionWindow {
	var out [][]versionWindow
	for len(pairs) > n {
		out = append(out, pairs[:n])
		pairs = pairs[n:]
	}
	if len(pairs) > 0 {
		out = append(out, pairs)
	}
	return out
}

// chPairs renders pairs as an Array(Tuple(DateTime, String, String))
// parameter value.
func chPairs(pairs []versionWindow) string {
	return chList(pairs, func(b *strings.Builder, p versionWindow) {
		b.WriteByte('(')
		chQuote(b, chTime(p.ws))
		b.WriteByte(',')
		chQuote(b, p.model)
		b.WriteByte(',')
		chQuote(b, p.version)
		b.WriteByte(')')
	})
}
