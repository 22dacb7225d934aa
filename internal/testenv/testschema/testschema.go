// Package testschema applies predlog's migrations to a test's database
// (a package of its own: testenv cannot import internal/schema, whose tests
// use testenv).
package testschema

import (
	"context"
	"testing"

	"github.com/predlog/predlog/internal/schema"
	"github.com/predlog/predlog/internal/testenv"
)

// Apply applies every migration to database db of st; it fails tb on error.
func Apply(tb testing.TB, st *testenv.Stack, db string) {
	tb.Helper()
	if _, err := schema.New(st.Conn(tb, "default"), schema.Options{Database: db}, nil).Apply(context.Background()); err != nil {
		tb.Fatalf("migrate %s: %v", db, err)
	}
}

// Database is st.Database with every migration applied.
func Database(tb testing.TB, st *testenv.Stack) string {
	tb.Helper()
	db := st.Database(tb)
	Apply(tb, st, db)
	return db
}
