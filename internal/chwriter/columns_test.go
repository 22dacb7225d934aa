package chwriter

import (
	"testing"
	"unsafe"
)

// TestLCStringOwnsBorrowedValues appends strings that alias a buffer the
// caller then overwrites, as the decoder's arena is, and checks the column
// kept what it was given, through the recent-value cache and the index.
func TestLCStringOwnsBorrowedValues(t *testing.T) {
	var c lcString
	buf := []byte("alpha")
	borrowed := func(s string) string {
		buf = append(buf[:0], s...)
		return unsafe.String(&buf[0], len(buf))
	}
	vals := []string{"alpha", "alpha", "beta", "alpha", "gamma", "beta", "beta"}
	for i, v := range vals {
		c.Append(borrowed(v), i%2)
	}
	buf = append(buf[:0], "XXXXX"...)
	if got := c.dict.Rows(); got != 3 {
		t.Fatalf("dictionary has %d values, want 3", got)
	}
	for i, v := range vals {
		if got := c.owned[c.keys[i]]; got != v {
			t.Fatalf("row %d = %q, want %q", i, got, v)
		}
		if got := c.dict.Row(int(c.keys[i])); got != v {
			t.Fatalf("row %d encodes %q, want %q", i, got, v)
		}
	}
	c.Reset()
	c.Append("beta", 0) // must not hit the stale cache of the old dictionary
	if c.dict.Rows() != 1 || c.keys[0] != 0 || c.owned[0] != "beta" {
		t.Fatalf("after Reset: dict %d keys %v owned %v", c.dict.Rows(), c.keys, c.owned)
	}
}
