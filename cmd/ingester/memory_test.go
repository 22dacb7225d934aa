package main

import "testing"

func TestMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	tests := []struct{ buffered, cgroup, want int64 }{
		{64 * mib, 0, 192 * mib},
		{85 * mib, 0, 213 * mib}, // 1.5x = 127.5 MiB < 128 MiB
		{256 * mib, 0, 640 * mib},
		{1024 * mib, 0, 2560 * mib},
		{256 * mib, 4096 * mib, 640 * mib},
		{256 * mib, 500 * mib, 450 * mib}, // 90 % of the container's limit
	}
	for _, tt := range tests {
		if got := memoryLimit(tt.buffered, tt.cgroup); got != tt.want {
			t.Errorf("memoryLimit(%d MiB, %d MiB) = %d MiB, want %d MiB", tt.buffered/mib, tt.cgroup/mib, got/mib, tt.want/mib)
		}
	}
}

func TestParseCgroupLimit(t *testing.T) {
	tests := []struct {
		give string
		want int64
	}{
		{"max\n", 0},
		{"536870912\n", 536870912},
		{"9223372036854771712\n", 0}, // cgroup v1 without a limit
		{"", 0},
		{"garbage", 0},
	}
	for _, tt := range tests {
		if got := parseCgroupLimit(tt.give); got != tt.want {
			t.Errorf("parseCgroupLimit(%q) = %d, want %d", tt.give, got, tt.want)
		}
	}
}
