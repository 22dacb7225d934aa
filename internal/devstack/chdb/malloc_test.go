package chdb

import (
	"os"
	"testing"
)

func TestKeepFreedMemory(t *testing.T) {
	tests := []struct {
		name string
		set  bool
		env  string
		want string
	}{
		{"unset gets the default", false, "", keptFreedMemory},
		{"the user's options win", true, "dirty_decay_ms:0", "dirty_decay_ms:0"},
		{"set but empty stays empty", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(mallocConfEnv, tt.env) // restores the variable afterwards
			if !tt.set {
				os.Unsetenv(mallocConfEnv)
			}
			keepFreedMemory()
			if got := os.Getenv(mallocConfEnv); got != tt.want {
				t.Errorf("%s = %q, want %q", mallocConfEnv, got, tt.want)
			}
		})
	}
}
