package aggregate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Drift states come from two sources that must agree exactly: the raw rows
// (drift_states_numeric, drift_states_categorical) and the histograms the
// feature_bins_1m and category_counts_1m views count at insert time
// (drift_states_bins, drift_states_categorical_view; ~10x less engine CPU
// for a full hour). A view is only trusted for a (window, version) pair
// that drift_coverage proves complete (and, numeric, current); the rest is
// counted raw.

// maxCoveredPairs bounds the pairs one query lists (a bound parameter of
// ~40 bytes a pair).
const maxCoveredPairs = 10_000

// versionWindow is one model version's base window.
type versionWindow struct {
	ws             time.Time
	model, version string
}

// sources splits the pairs of a states query's range for one feature type.
type sources struct {
	covered  []versionWindow      // pairs the view covers, by window
	raw      map[time.Time]uint64 // predictions per window in pairs it does not
	rawPairs int
}

func (s *sources) add(p versionWindow, n uint64, covered bool) {
	if covered {
		s.covered = append(s.covered, p)
		return
	}
	if s.raw == nil {
		s.raw = map[time.Time]uint64{}
	}
	s.raw[p.ws] += n
	s.rawPairs++
}

// coveredIn returns the covered pairs of windows in [from, to).
func (s sources) coveredIn(from, to time.Time) []versionWindow {
	lo := sort.Search(len(s.covered), func(i int) bool { return !s.covered[i].ws.Before(from) })
	hi := sort.Search(len(s.covered), func(i int) bool { return !s.covered[i].ws.Before(to) })
	return s.covered[lo:hi]
}

// rawSpan returns the windows of sp with predictions in uncovered pairs (a
// whole range only if that is all of them).
func (s sources) rawSpan(sp span) span {
	raw := span{from: sp.from, to: sp.to, all: sp.all}
	for _, w := range sp.starts {
		if s.raw[w] > 0 {
			raw.starts = append(raw.starts, w)
		}
	}
	if len(raw.starts) < len(sp.starts) {
		raw.all = false
	}
	return raw
}

// coverage is drift_coverage's answer for a states query's range.
type coverage struct {
	num, cat sources
	now      time.Time // the server's clock: the states' generation
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
	var c coverage
	for rows.Next() {
		var p versionWindow
		var n uint64
		var num, cat uint8
		if err := rows.Scan(&p.ws, &p.model, &p.version, &n, &num, &cat, &c.now); err != nil {
			return coverage{}, fmt.Errorf("drift_coverage: %w", err)
		}
		p.ws = p.ws.UTC()
		c.num.add(p, n, num == 1)
		c.cat.add(p, n, cat == 1)
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
	var b strings.Builder
	b.WriteByte('[')
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("('")
		b.WriteString(chTime(p.ws))
		b.WriteString("','")
		quoteReplacer.WriteString(&b, p.model)
		b.WriteString("','")
		quoteReplacer.WriteString(&b, p.version)
		b.WriteString("')")
	}
	b.WriteByte(']')
	return b.String()
}
