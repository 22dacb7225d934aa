package aggregate

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestQueriesGolden renders every query for database "predlog" and compares
// it with testdata/queries/<name>.sql.
func TestQueriesGolden(t *testing.T) {
	got, err := renderQueries("predlog")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queryList {
		path := filepath.Join("testdata", "queries", q.name+".sql")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got[q.name]), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if got[q.name] != string(want) {
			t.Errorf("%s: rendered SQL differs from %s (run with -update and review the diff)", q.name, path)
		}
	}
}

func TestQuoteIdent(t *testing.T) {
	tests := []struct{ give, want string }{
		{"predlog", "predlog"},
		{"t_1a", "t_1a"},
		{"my-db", "`my-db`"},
		{"a`b", "`a\\`b`"},
	}
	for _, tt := range tests {
		if got := quoteIdent(tt.give); got != tt.want {
			t.Errorf("quoteIdent(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
