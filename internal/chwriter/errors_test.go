package chwriter

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// TestAuthError: the ingester words a refused insert for the credentials
// apart from one for the table.
func TestAuthError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"wrong password", &Error{Code: 516, Kind: KindSchema}, true},
		{"unknown user, wrapped", fmt.Errorf("insert: %w", &Error{Code: 192, Kind: KindSchema}), true},
		{"401 without a code", &Error{Status: http.StatusUnauthorized, Kind: KindSchema}, true},
		{"unknown table", &Error{Code: 60, Status: http.StatusNotFound, Kind: KindSchema}, false},
		{"access denied: a grant, not the credentials", &Error{Code: 497, Kind: KindSchema}, false},
		{"not an insert error", errors.New("connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AuthError(tt.err); got != tt.want {
				t.Errorf("AuthError(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
