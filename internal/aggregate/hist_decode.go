package aggregate

import (
	"errors"
	"strconv"
	"strings"
)

// errHistEncoding: drift_read returned a histogram its decoder cannot
// read (a query of another release, or a bug).
var errHistEncoding = errors.New("malformed histogram")

// decode sets h's keys and counts from drift_read's encoding: keys as
// "<bytes>:<key>" one after the other, counts joined by ','. The keys are
// substrings of keys, which they keep alive: one allocation a histogram
// rather than one a key.
func (h *hist) decode(keys, counts string) error {
	n := 0
	if counts != "" {
		n = strings.Count(counts, ",") + 1
	}
	h.keys, h.counts = make([]string, 0, n), make([]uint64, 0, n)
	for rest := keys; rest != ""; {
		colon := strings.IndexByte(rest, ':')
		if colon <= 0 {
			return errHistEncoding
		}
		l, ok := keyLength(rest[:colon])
		if !ok || l > len(rest)-colon-1 {
			return errHistEncoding
		}
		h.keys = append(h.keys, rest[colon+1:colon+1+l])
		rest = rest[colon+1+l:]
	}
	for rest := counts; rest != ""; {
		field, tail, more := strings.Cut(rest, ",")
		c, err := strconv.ParseUint(field, 10, 64)
		if err != nil || more && tail == "" {
			return errHistEncoding
		}
		h.counts = append(h.counts, c)
		rest = tail
	}
	if len(h.counts) != len(h.keys) {
		return errHistEncoding
	}
	return nil
}

// keyLength parses a key's length as drift_read writes it: decimal
// digits, without sign or leading zeros.
func keyLength(s string) (int, bool) {
	if s == "" || len(s) > 9 || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// total is the number of values the histogram counts.
func (h *hist) total() uint64 {
	var n uint64
	for _, c := range h.counts {
		n += c
	}
	return n
}
