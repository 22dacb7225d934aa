package chdb_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/predlog/predlog/internal/devstack"
	"github.com/predlog/predlog/internal/devstack/chdb"
)

// TestMallocConfReachesEngine: the package sets libchdb's jemalloc options
// with os.Setenv in a process without cgo (purego), which must reach the C
// environment jemalloc reads at dlopen. A child process sets an option
// jemalloc refuses, with abort_conf: the engine must abort as it loads.
func TestMallocConfReachesEngine(t *testing.T) {
	const conf = "JE_MALLOC_CONF"
	lib, err := devstack.LibchdbPath()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("PREDLOG_CHDB_MALLOC_CHILD") == "1" {
		os.Setenv(conf, "abort_conf:true,predlog_not_an_option:1")
		e, err := chdb.Open(lib, t.TempDir())
		if err == nil {
			e.Close()
		}
		t.Fatalf("engine loaded (err %v): jemalloc did not read %s as set by os.Setenv", err, conf)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMallocConfReachesEngine$", "-test.v")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, conf+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PREDLOG_CHDB_MALLOC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "SIGABRT") {
		t.Errorf("child with a refused jemalloc option: err %v, want an abort; output:\n%.2000s", err, out)
	}
}
