package main

// memoryLimit is the soft Go memory limit for a pipeline that buffers at most
// buffered bytes: the bound plus headroom for the GC of 1.5x the bound, at
// least 128 MiB (small bounds keep a tight limit; see main).
func memoryLimit(buffered int64) int64 {
	return buffered + max(128<<20, buffered*3/2)
}
