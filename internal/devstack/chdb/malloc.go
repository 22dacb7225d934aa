package chdb

import "os"

// mallocConfEnv is the variable libchdb's jemalloc reads its options from
// (the library prefixes its symbols je_, and with them the variable; a
// clickhouse-server reads MALLOC_CONF).
const mallocConfEnv = "JE_MALLOC_CONF"

// keptFreedMemory holds memory the engine frees for 5 minutes, not the
// 5 seconds ClickHouse builds jemalloc with (dirty_decay_ms:5000). The
// aggregator runs a cycle a minute: with 5 seconds, every cycle's first
// large statement faulted its hash tables and aggregation states in again
// (the hour of 1-minute windows: ~180k page faults, 1.5-2 s more on two
// cores; benchmarks/README.md). The price is a resident size that stays at
// the last peak for up to 5 minutes after it.
const keptFreedMemory = "dirty_decay_ms:300000"

// keepFreedMemory puts keptFreedMemory before the options the environment
// gives the library, which jemalloc reads left to right, so that the
// user's win (JE_MALLOC_CONF=dirty_decay_ms:5000 restores ClickHouse's).
// jemalloc reads the variable once, when the library's first allocation
// runs at dlopen, so this runs before it; os.Setenv reaches the C
// environment it reads (TestMallocConfReachesEngine).
func keepFreedMemory() {
	conf := keptFreedMemory
	if user := os.Getenv(mallocConfEnv); user != "" {
		conf += "," + user
	}
	_ = os.Setenv(mallocConfEnv, conf)
}
