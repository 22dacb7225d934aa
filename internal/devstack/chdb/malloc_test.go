package chdb

import (
	"os"
	"testing"
)

func TestKeepFreedMemory(t *testing.T) {
	tests := []struct {
		name string
		env  string // "" unset
		want string
	}{
		{"unset gets the default", "", keptFreedMemory},
		{"the user's options come after, and win", "dirty_decay_ms:0", keptFreedMemory + ",dirty_decay_ms:0"},
		{"other options keep the default", "background_thread:true", keptFreedMemory + ",background_thread:true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(mallocConfEnv, tt.env) // restores the variable afterwards
			keepFreedMemory()
			if got := os.Getenv(mallocConfEnv); got != tt.want {
				t.Errorf("%s = %q, want %q", mallocConfEnv, got, tt.want)
			}
		})
	}
}
