package main

import (
	"cmp"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name               string
		env                map[string]string
		url                string
		wantUser, wantPass string
		wantErr            string
	}{
		{name: "none"},
		{name: "user and password", env: map[string]string{"PREDLOG_CLICKHOUSE_USER": "reader", "PREDLOG_CLICKHOUSE_PASSWORD": "pw"},
			wantUser: "reader", wantPass: "pw"},
		{name: "password only", env: map[string]string{"PREDLOG_CLICKHOUSE_PASSWORD": "pw"}, wantUser: "default", wantPass: "pw"},
		{name: "password file", env: map[string]string{"PREDLOG_CLICKHOUSE_USER": "reader", "PREDLOG_CLICKHOUSE_PASSWORD_FILE": pwFile},
			wantUser: "reader", wantPass: "from-file"},
		{name: "both", env: map[string]string{"PREDLOG_CLICKHOUSE_PASSWORD": "pw", "PREDLOG_CLICKHOUSE_PASSWORD_FILE": pwFile},
			wantErr: "set only one"},
		{name: "empty file", env: map[string]string{"PREDLOG_CLICKHOUSE_PASSWORD_FILE": empty}, wantErr: "is empty"},
		{name: "user in the URL too", env: map[string]string{"PREDLOG_CLICKHOUSE_PASSWORD": "pw"}, url: "http://bob:pw@ch:8123",
			wantErr: "give the credentials once"},
		{name: "user in the URL alone", url: "http://bob:pw@ch:8123"},
		{name: "missing file", env: map[string]string{"PREDLOG_CLICKHOUSE_PASSWORD_FILE": filepath.Join(dir, "nope")},
			wantErr: "PREDLOG_CLICKHOUSE_PASSWORD_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass, err := credentials(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }, cmp.Or(tt.url, "http://ch:8123"))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("credentials: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || user != tt.wantUser || pass != tt.wantPass {
				t.Fatalf("credentials = %q, %q, %v; want %q, %q", user, pass, err, tt.wantUser, tt.wantPass)
			}
		})
	}
}

// TestRunRefusesArguments: flag parsing stops at the first argument that
// is no flag, so `predlog-report fraud-detector --days 7` ran the default
// report of every model, its --days ignored.
func TestRunRefusesArguments(t *testing.T) {
	for _, args := range [][]string{{"fraud-detector"}, {"extra", "--days", "7"}, {"--days", "7", "extra"}} {
		err := run(args)
		if err == nil || !strings.Contains(err.Error(), "unexpected argument") {
			t.Errorf("run(%q) = %v, want an unexpected-argument error", args, err)
		}
	}
}
