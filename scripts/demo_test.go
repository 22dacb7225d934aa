// Package scripts holds the tests of the shell scripts beside it.
package scripts

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

// TestDemoRefusesBadSeconds: DEMO_SECONDS=20s ran the whole demo and then,
// at `[ "$DEMO_SECONDS" -gt 0 ]`, printed "integer expression expected"
// and ran until Ctrl-C. The script now refuses it before starting
// anything. DEMO_KAFKA names a port in use, so that a script without the
// check stops at its port check instead of running the demo.
func TestDemoRefusesBadSeconds(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tt := range []struct{ env, want string }{
		{"DEMO_SECONDS=20s", `DEMO_SECONDS wants whole seconds (e.g. 20), got "20s"`},
		{"DEMO_LOAD_SECONDS=1m", `DEMO_LOAD_SECONDS wants whole seconds (e.g. 20), got "1m"`},
		{"DEMO_LOAD_SECONDS=0", "DEMO_LOAD_SECONDS wants at least 1 second"},
		// 08 passed `-lt` but failed at $((LOAD_SECONDS / 2)), octal, with
		// the stack started; a 20-digit value failed at `-gt` after the report.
		{"DEMO_LOAD_SECONDS=08", `DEMO_LOAD_SECONDS wants whole seconds (e.g. 20), got "08"`},
		{"DEMO_SECONDS=99999999999999999999", `DEMO_SECONDS wants whole seconds (e.g. 20), got "99999999999999999999"`},
	} {
		cmd := exec.Command("bash", "demo.sh")
		cmd.Env = append(cmd.Environ(), tt.env, "DEMO_KAFKA="+ln.Addr().String())
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("%s: %v, output %q; want a failure saying %q", tt.env, err, out, tt.want)
		}
	}
}
