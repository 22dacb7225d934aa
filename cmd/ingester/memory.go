package main

import (
	"os"
	"strconv"
	"strings"
)

// memoryLimit is the soft Go memory limit for a pipeline that buffers at most
// buffered bytes: the bound plus headroom for the GC of 1.5x the bound (at
// least 128 MiB), but no more than 90 % of the container's memory limit
// (limit, 0 if none), so that the GC works harder rather than the process
// being killed.
func memoryLimit(buffered, limit int64) int64 {
	l := buffered + max(128<<20, buffered*3/2)
	if limit > 0 {
		l = min(l, limit/10*9)
	}
	return l
}

// cgroupMemoryLimit returns the memory limit of this process's cgroup
// (v2 memory.max, else v1 memory.limit_in_bytes), 0 if none or unknown.
func cgroupMemoryLimit() int64 {
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		return parseCgroupLimit(string(b))
	}
	return 0
}

// parseCgroupLimit reads a cgroup memory limit file's content: "max" (v2)
// or a huge v1 value mean no limit.
func parseCgroupLimit(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return 0
	}
	return n
}
