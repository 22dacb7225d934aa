package aggregate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Drift states come from two sources that must agree exactly: the raw
// rows (drift_states_numeric, drift_states_categorical) and what views
// counted at insert time: the numeric histograms of feature_bins_1m
// (drift_states_bins; ~10x less engine CPU for a full hour) and the
// categorical values and score fine keys of feature_values_1m
// (drift_states_values, drift_states_score_values). A view is only trusted
// for a (window, version) pair that drift_coverage proves complete and
// current; the rest is counted raw.

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
	covered  []versionWindow      // pairs feature_bins_1m covers, by window
	raw      map[time.Time]uint64 // predictions per window in pairs it does not cover
	rawPairs int
	pairs    int // every pair of the range
	// unbinned[i]: covered pairs whose output outputs[i] feature_bins_1m
	// did not bin, counted from feature_values_1m where that covers the pair
	// (fromValues), else from the output's column (raw).
	unbinned  [len(outputs)]struct{ raw, fromValues []versionWindow }
	values    []versionWindow    // pairs feature_values_1m covers, by window
	valuesRaw map[time.Time]bool // windows with pairs it does not cover
	now       time.Time          // the server's clock: the drift states' generation
}

// outputs are the numeric outputs drift_states_score counts apart when
// feature_bins_1m did not bin them, in drift_coverage's column order
// (score_raw, value_raw).
var outputs = [...]string{"__score__", "__value__"}

// within returns the pairs (sorted by window) of windows in [from, to).
func within(pairs []versionWindow, from, to time.Time) []versionWindow {
	lo := sort.Search(len(pairs), func(i int) bool { return !pairs[i].ws.Before(from) })
	hi := sort.Search(len(pairs), func(i int) bool { return !pairs[i].ws.Before(to) })
	return pairs[lo:hi]
}

// rawSpan returns the windows of sp with predictions in pairs
// feature_bins_1m does not cover.
func (c coverage) rawSpan(sp span) span {
	return sp.keep(func(w time.Time) bool { return c.raw[w] > 0 })
}

// valuesRawSpan returns the windows of sp with predictions in pairs
// feature_values_1m does not cover.
func (c coverage) valuesRawSpan(sp span) span {
	return sp.keep(func(w time.Time) bool { return c.valuesRaw[w] })
}

// valuesSkip returns the pairs feature_values_1m covers in the windows
// read raw, which the raw categorical statement skips; only those, since
// it reads no other window (usually none: one version's view rows lost).
func (c coverage) valuesSkip() []versionWindow {
	var out []versionWindow
	for _, p := range c.values {
		if c.valuesRaw[p.ws] {
			out = append(out, p)
		}
	}
	return out
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
	c := coverage{raw: map[time.Time]uint64{}, valuesRaw: map[time.Time]bool{}}
	for rows.Next() {
		var p versionWindow
		var n uint64
		var covered, valuesCovered uint8
		var unbinned [len(outputs)]uint8
		if err := rows.Scan(&p.ws, &p.model, &p.version, &n, &covered, &unbinned[0], &unbinned[1], &valuesCovered, &c.now); err != nil {
			return coverage{}, fmt.Errorf("drift_coverage: %w", err)
		}
		p.ws = p.ws.UTC()
		c.pairs++
		if valuesCovered == 1 {
			c.values = append(c.values, p)
		} else {
			c.valuesRaw[p.ws] = true
		}
		if covered == 0 {
			c.raw[p.ws] += n
			c.rawPairs++
			continue
		}
		c.covered = append(c.covered, p)
		for i, u := range unbinned {
			switch {
			case u == 0:
			case valuesCovered == 1:
				c.unbinned[i].fromValues = append(c.unbinned[i].fromValues, p)
			default:
				c.unbinned[i].raw = append(c.unbinned[i].raw, p)
			}
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
