package main

import "testing"

func TestMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	tests := []struct{ give, want int64 }{
		{64 * mib, 192 * mib},
		{85 * mib, 213 * mib}, // 1.5x = 127.5 MiB < 128 MiB
		{256 * mib, 640 * mib},
		{1024 * mib, 2560 * mib},
	}
	for _, tt := range tests {
		if got := memoryLimit(tt.give); got != tt.want {
			t.Errorf("memoryLimit(%d MiB) = %d MiB, want %d MiB", tt.give/mib, got/mib, tt.want/mib)
		}
	}
}
