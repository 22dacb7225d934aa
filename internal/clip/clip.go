// Package clip shortens text shown in messages (errors, DLQ reasons)
// without splitting a UTF-8 character.
package clip

import "unicode/utf8"

// Ellipsis marks a clipped string.
const Ellipsis = "…"

// String returns s cut to at most n bytes at a rune boundary, with
// Ellipsis appended when it was cut; s itself when it fits.
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Ellipsis
}
