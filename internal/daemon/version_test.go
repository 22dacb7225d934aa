package daemon

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestPrintVersion(t *testing.T) {
	tests := []struct {
		args    []string
		want    bool
		wantErr string
	}{
		{args: []string{"version"}, want: true},
		{args: []string{"--version"}, want: true},
		{args: []string{"-version"}, want: true},
		{args: nil},
		{args: []string{"--version", "--config", "x.yaml"}}, // a flag among others: config's error names it
		{args: []string{"migrate"}},
		// The flags would name "version" as the unexpected argument.
		{args: []string{"version", "extra"}, want: true, wantErr: `ingester version: unexpected argument "extra"; version takes none`},
		{args: []string{"version", "--config", "x.yaml"}, want: true, wantErr: `unexpected argument "--config"`},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		got, err := PrintVersion("ingester", "v1.2.3", tt.args, &out)
		if got != tt.want {
			t.Errorf("PrintVersion(%q) = %v, want %v", tt.args, got, tt.want)
		}
		if tt.wantErr != "" || err != nil {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("PrintVersion(%q): %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
			if out.Len() != 0 {
				t.Errorf("PrintVersion(%q) wrote %q with its error", tt.args, out.String())
			}
			continue
		}
		if !tt.want {
			if out.Len() != 0 {
				t.Errorf("PrintVersion(%q) wrote %q", tt.args, out.String())
			}
			continue
		}
		if s := out.String(); !strings.HasPrefix(s, "ingester v1.2.3") || !strings.Contains(s, runtime.Version()) {
			t.Errorf("PrintVersion(%q) wrote %q, want the name, version and Go version", tt.args, s)
		}
	}
}

func TestBuildCommit(t *testing.T) {
	info := func(kv ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{}
		for i := 0; i < len(kv); i += 2 {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return b
	}
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, ""},
		{"no vcs", info("-trimpath", "true"), true, ""},
		{"clean", info("vcs.revision", "e21d44412345678901234567890", "vcs.time", "2026-11-28T03:50:00Z", "vcs.modified", "false"), true,
			" (commit e21d44412345, 2026-11-28T03:50:00Z)"},
		{"modified", info("vcs.revision", "abc", "vcs.modified", "true"), true, " (commit abc, modified)"},
	}
	for _, tt := range tests {
		if got := buildCommit(tt.info, tt.ok); got != tt.want {
			t.Errorf("%s: buildCommit = %q, want %q", tt.name, got, tt.want)
		}
	}
}
