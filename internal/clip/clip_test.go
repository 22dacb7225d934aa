package clip

import "testing"

func TestString(t *testing.T) {
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"fits", "abc", 3, "abc"},
		{"cut", "abcdef", 3, "abc…"},
		{"not inside a character", "aé", 2, "a…"},
		{"empty budget", "abc", 0, "…"},
		{"negative budget", "abc", -1, "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.s, tt.n); got != tt.want {
				t.Errorf("String(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}
