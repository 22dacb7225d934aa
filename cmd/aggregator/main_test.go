package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRunArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "help is not an error", args: []string{"-h"}},
		{name: "invalid config", args: []string{"--slices.top-n=0"}, wantErr: "invalid slices.top_n (--slices.top-n=0): must be > 0"},
		{name: "no subcommands", args: []string{"migrate"}, wantErr: `unexpected argument "migrate"`},
		{name: "bad listen address fails before starting", args: []string{"--http.listen=256.0.0.1:1", "--log.level=error"}, wantErr: "ops server listen:"},
	}
	orig, stderr := os.Args, os.Stderr
	t.Cleanup(func() { os.Args, os.Stderr = orig, stderr })
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	os.Stderr = devnull // usage text
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Args = append([]string{"aggregator"}, tt.args...)
			err := run()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
