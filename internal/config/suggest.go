package config

import "strings"

// suggest returns the known key (or section) closest to an unknown one,
// when it is close enough to be a typo: within a third of the last part's
// length in edits (at least 2), e.g. drift.insert_time_bin for
// drift.insert_time_bins; "" otherwise.
func (b *binder) suggest(key string) string {
	last := key[strings.LastIndexByte(key, '.')+1:]
	var keys []string
	seen := map[string]bool{}
	for _, f := range b.fields {
		// The key and each section above it ("a.b.c": "a.b.c", "a.b", "a").
		for k := f.key; k != "" && !seen[k]; {
			seen[k] = true
			keys = append(keys, k)
			i := strings.LastIndexByte(k, '.')
			if i < 0 {
				break
			}
			k = k[:i]
		}
	}
	return closest(key, keys, max(2, len(last)/3))
}

// closest returns the candidate nearest to name within limit edits (the
// first in byte order among equals), "" when none is that near.
func closest(name string, candidates []string, limit int) string {
	best, bestD := "", limit+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
