package aggregate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// encodeHist is drift_read's encoding, as its SQL builds it.
func encodeHist(keys []string, counts []uint64) (string, string) {
	var k strings.Builder
	for _, key := range keys {
		fmt.Fprintf(&k, "%d:%s", len(key), key)
	}
	c := make([]string, len(counts))
	for i, n := range counts {
		c[i] = fmt.Sprint(n)
	}
	return k.String(), strings.Join(c, ",")
}

func TestHistDecode(t *testing.T) {
	tests := []struct {
		name   string
		keys   []string
		counts []uint64
	}{
		{"empty", nil, nil},
		{"score keys", []string{"0.123", "0.5", "1"}, []uint64{3, 1, 18446744073709551615}},
		{"empty key", []string{"", "x"}, []uint64{1, 2}},
		{"separators in keys", []string{"a:b", "1:x", ",", "9:", "é\nz"}, []uint64{1, 2, 3, 4, 5}},
		{"long key", []string{strings.Repeat("k", 1000)}, []uint64{7}},
	}
	for _, tt := range tests {
		keys, counts := encodeHist(tt.keys, tt.counts)
		var h hist
		if err := h.decode(keys, counts); err != nil {
			t.Errorf("%s: decode(%q, %q) = %v", tt.name, keys, counts, err)
			continue
		}
		if !slices.Equal(h.keys, tt.keys) && len(h.keys)+len(tt.keys) > 0 || !slices.Equal(h.counts, tt.counts) && len(h.counts)+len(tt.counts) > 0 {
			t.Errorf("%s: decoded %q %v, want %q %v", tt.name, h.keys, h.counts, tt.keys, tt.counts)
		}
	}
}

func TestHistDecodeMalformed(t *testing.T) {
	for _, tt := range []struct{ keys, counts string }{
		{"1:a", ""},                     // a key without a count
		{"", "1"},                       // a count without a key
		{"2:a", "1"},                    // a length past the end
		{"a", "1"},                      // no length
		{":a", "1"},                     // an empty length
		{"-1:a", "1"},                   // a negative length
		{"1:a1:b", "1,"},                // a trailing comma
		{"1:a1:b", "1,,2"},              // an empty count
		{"1:a", "x"},                    // not a number
		{"1:a", "-1"},                   // negative
		{"1:a", "99999999999999999999"}, // past uint64
	} {
		var h hist
		if err := h.decode(tt.keys, tt.counts); !errors.Is(err, errHistEncoding) {
			t.Errorf("decode(%q, %q) = %v, want %v", tt.keys, tt.counts, err, errHistEncoding)
		}
	}
}

// FuzzHistDecode: no input panics the decoder, and what it accepts
// encodes back to the same keys and counts.
func FuzzHistDecode(f *testing.F) {
	f.Add("5:0.1231:1", "3,4")
	f.Add("0:3:a:b", "1,2")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, keys, counts string) {
		var h hist
		if h.decode(keys, counts) != nil {
			return
		}
		k, c := encodeHist(h.keys, h.counts)
		if k != keys {
			t.Errorf("keys %q decode to %q, which encode to %q", keys, h.keys, k)
		}
		// Counts may be written otherwise ("01"), but mean the same.
		var again hist
		if err := again.decode(k, c); err != nil || !slices.Equal(again.counts, h.counts) {
			t.Errorf("counts %q decode to %v, which encode to %q and decode to %v, %v", counts, h.counts, c, again.counts, err)
		}
	})
}
