package chwriter

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
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
		{"the ledger's read: clickhouse-go's exception", fmt.Errorf("load ledger: %w", &clickhouse.Exception{Code: 516}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AuthError(tt.err); got != tt.want {
				t.Errorf("AuthError(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestKindOf: the ledger reads through clickhouse-go, so its server
// exceptions are classified as the sink's errors are.
func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"sink error", &Error{Code: 60, Kind: KindSchema}, KindSchema},
		{"unknown table, from clickhouse-go", fmt.Errorf("load ledger: %w", &clickhouse.Exception{Code: 60, Message: "Unknown table"}), KindSchema},
		{"wrong password, from clickhouse-go", &clickhouse.Exception{Code: 516}, KindSchema},
		{"memory limit, from clickhouse-go", &clickhouse.Exception{Code: 241}, KindTransient},
		{"network", errors.New("connection refused"), KindTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
