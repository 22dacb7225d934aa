package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	chsql "github.com/predlog/predlog/clickhouse"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []string
	}{
		{"one", "SELECT 1", []string{"SELECT 1"}},
		{"two lines", "SELECT 1;\nSELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"semicolon in string", "SELECT 'a;b';SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
		{"doubled quote", "SELECT 'it''s; x'; SELECT 2", []string{"SELECT 'it''s; x'", "SELECT 2"}},
		{"backslash quote", `SELECT 'a\'; b'; SELECT 2`, []string{`SELECT 'a\'; b'`, "SELECT 2"}},
		{"quoted identifiers", "SELECT `a;b`, \"c;d\"; SELECT 2", []string{"SELECT `a;b`, \"c;d\"", "SELECT 2"}},
		{"line comment", "SELECT 1 -- x; y\n; SELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"comment inside kept", "SELECT 1, -- one; two\n 2", []string{"SELECT 1, -- one; two\n 2"}},
		{"block comment", "/* a; b */ SELECT 1 /* c; */; SELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"dashes in string", "SELECT '--;'; SELECT 2", []string{"SELECT '--;'", "SELECT 2"}},
		{"only comments", "-- header\n;\n-- trailer\n", nil},
		{"empty statements", ";;SELECT 1;;", []string{"SELECT 1"}},
		{"COMMENT clause", "CREATE TABLE t (a UInt8 COMMENT 'x; y') ENGINE = Memory COMMENT 'a;b';", []string{"CREATE TABLE t (a UInt8 COMMENT 'x; y') ENGINE = Memory COMMENT 'a;b'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitStatements(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSplitStatementsUnterminated(t *testing.T) {
	for _, give := range []string{"SELECT 'a", "SELECT `a", "SELECT 1 /* x", `SELECT 'a\'`} {
		if _, err := SplitStatements(give); !errors.Is(err, errUnterminated) {
			t.Errorf("%q: err = %v, want unterminated", give, err)
		}
	}
}

// renderOne renders sql as the only migration file.
func renderOne(t *testing.T, sql string, opt Options) ([]string, error) {
	t.Helper()
	migs, err := Render(fstest.MapFS{"0001_t.sql": {Data: []byte(sql)}}, opt)
	if err != nil {
		return nil, err
	}
	return migs[0].Statements, nil
}

func TestRenderCluster(t *testing.T) {
	const prelude = "CREATE TABLE {db}.facts (a UInt8, t DateTime) ENGINE = MergeTree ORDER BY a;\n" +
		"CREATE TABLE {db}.dims (k String, v UInt64) ENGINE = ReplacingMergeTree(v) ORDER BY k;\n" +
		"CREATE TABLE {db}.sink (a UInt8) ENGINE = Null;\n"
	const (
		factsLocal = "CREATE TABLE d.facts_local ON CLUSTER 'c' (a UInt8, t DateTime) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}') ORDER BY a"
		factsDist  = "CREATE TABLE d.facts ON CLUSTER 'c' AS d.facts_local\nENGINE = Distributed('c', 'd', 'facts_local', cityHash64(a))"
	)
	tests := []struct {
		name string
		give string // after prelude
		want []string
	}{
		{
			name: "MergeTree",
			give: "",
			want: nil,
		},
		{
			name: "engine variants",
			give: "CREATE TABLE IF NOT EXISTS {db}.x (a UInt8) ENGINE=MergeTree() ORDER BY a;" +
				"CREATE TABLE {db}.y (a UInt8) ENGINE = AggregatingMergeTree ORDER BY (a);" +
				"CREATE TABLE {db}.z (a UInt8, b UInt8, v UInt64) ENGINE = ReplacingMergeTree(v, is_deleted) ORDER BY (a, toDate(b)) SETTINGS index_granularity = 8192",
			want: []string{
				"CREATE TABLE IF NOT EXISTS d.x_local ON CLUSTER 'c' (a UInt8) ENGINE=ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}') ORDER BY a",
				"CREATE TABLE IF NOT EXISTS d.x ON CLUSTER 'c' AS d.x_local\nENGINE = Distributed('c', 'd', 'x_local', cityHash64(a))",
				"CREATE TABLE d.y_local ON CLUSTER 'c' (a UInt8) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}') ORDER BY (a)",
				"CREATE TABLE d.y ON CLUSTER 'c' AS d.y_local\nENGINE = Distributed('c', 'd', 'y_local', rand())",
				"CREATE TABLE d.z_local ON CLUSTER 'c' (a UInt8, b UInt8, v UInt64) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', v, is_deleted) ORDER BY (a, toDate(b)) SETTINGS index_granularity = 8192",
				"CREATE TABLE d.z ON CLUSTER 'c' AS d.z_local\nENGINE = Distributed('c', 'd', 'z_local', cityHash64(a, toDate(b)))",
			},
		},
		{
			name: "dedup setting only",
			give: "CREATE TABLE {db}.x (a UInt8) ENGINE = MergeTree ORDER BY a\nSETTINGS non_replicated_deduplication_window = 100\nCOMMENT 'x'",
			want: []string{
				"CREATE TABLE d.x_local ON CLUSTER 'c' (a UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}') ORDER BY a\nCOMMENT 'x'",
				"CREATE TABLE d.x ON CLUSTER 'c' AS d.x_local\nENGINE = Distributed('c', 'd', 'x_local', cityHash64(a))",
			},
		},
		{
			name: "dedup setting first, middle, last",
			give: "CREATE TABLE {db}.x (a UInt8) ENGINE = MergeTree ORDER BY a SETTINGS non_replicated_deduplication_window = 100, b = 1;" +
				"CREATE TABLE {db}.y (a UInt8) ENGINE = MergeTree ORDER BY a SETTINGS b = 1, non_replicated_deduplication_window = 100, c = 2;" +
				"CREATE TABLE {db}.z (a UInt8) ENGINE = MergeTree ORDER BY a SETTINGS b = 1, non_replicated_deduplication_window = 100 COMMENT 'z'",
			want: []string{
				"CREATE TABLE d.x_local ON CLUSTER 'c' (a UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}') ORDER BY a SETTINGS b = 1",
				"CREATE TABLE d.x ON CLUSTER 'c' AS d.x_local\nENGINE = Distributed('c', 'd', 'x_local', cityHash64(a))",
				"CREATE TABLE d.y_local ON CLUSTER 'c' (a UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}') ORDER BY a SETTINGS b = 1, c = 2",
				"CREATE TABLE d.y ON CLUSTER 'c' AS d.y_local\nENGINE = Distributed('c', 'd', 'y_local', cityHash64(a))",
				"CREATE TABLE d.z_local ON CLUSTER 'c' (a UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}') ORDER BY a SETTINGS b = 1 COMMENT 'z'",
				"CREATE TABLE d.z ON CLUSTER 'c' AS d.z_local\nENGINE = Distributed('c', 'd', 'z_local', cityHash64(a))",
			},
		},
		{
			name: "keywords in literals and comments are not rewritten",
			give: "CREATE TABLE {db}.x (a UInt8 COMMENT 'ENGINE = MergeTree; {db}.facts') -- ENGINE = Log\nENGINE = Memory",
			want: []string{"CREATE TABLE d.x ON CLUSTER 'c' (a UInt8 COMMENT 'ENGINE = MergeTree; d.facts') -- ENGINE = Log\nENGINE = Memory"},
		},
		{
			name: "materialized view",
			give: "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv TO {db}.facts AS SELECT a, t FROM {db}.facts WHERE a IN (SELECT a FROM {db}.dims) COMMENT 'x'",
			want: []string{"CREATE MATERIALIZED VIEW IF NOT EXISTS d.mv ON CLUSTER 'c' TO d.facts_local AS SELECT a, t FROM d.facts_local WHERE a IN (SELECT a FROM d.dims) COMMENT 'x'"},
		},
		{
			name: "materialized view source in subquery, target not sharded",
			give: "CREATE MATERIALIZED VIEW {db}.mv TO {db}.sink AS WITH (SELECT max(v) FROM {db}.dims) AS m SELECT a FROM (SELECT a FROM {db}.facts) JOIN {db}.dims ON 1",
			want: []string{"CREATE MATERIALIZED VIEW d.mv ON CLUSTER 'c' TO d.sink AS WITH (SELECT max(v) FROM d.dims) AS m SELECT a FROM (SELECT a FROM d.facts_local) JOIN d.dims ON 1"},
		},
		{
			name: "materialized view of a parenthesised SELECT",
			give: "CREATE MATERIALIZED VIEW {db}.mv TO {db}.facts AS (\nSELECT a, t FROM {db}.facts\n)\nCOMMENT 'x'",
			want: []string{"CREATE MATERIALIZED VIEW d.mv ON CLUSTER 'c' TO d.facts_local AS (\nSELECT a, t FROM d.facts_local\n)\nCOMMENT 'x'"},
		},
		{
			name: "alter columns of a sharded table",
			give: "ALTER TABLE {db}.facts ADD COLUMN IF NOT EXISTS b String DEFAULT 'x, y', MODIFY TTL t + INTERVAL {prediction_ttl_days} DAY",
			want: []string{
				"ALTER TABLE d.facts_local ON CLUSTER 'c' ADD COLUMN IF NOT EXISTS b String DEFAULT 'x, y', MODIFY TTL t + INTERVAL 7 DAY",
				"ALTER TABLE d.facts ON CLUSTER 'c'\n    ADD COLUMN IF NOT EXISTS b String DEFAULT 'x, y'",
			},
		},
		{
			name: "alter drop column: Distributed first",
			give: "ALTER TABLE {db}.facts DROP COLUMN t",
			want: []string{
				"ALTER TABLE d.facts ON CLUSTER 'c'\n    DROP COLUMN t",
				"ALTER TABLE d.facts_local ON CLUSTER 'c' DROP COLUMN t",
			},
		},
		{
			name: "alter storage only",
			give: "ALTER TABLE {db}.facts MODIFY SETTING ttl_only_drop_parts = 1;ALTER TABLE {db}.sink ADD COLUMN b UInt8",
			want: []string{
				"ALTER TABLE d.facts_local ON CLUSTER 'c' MODIFY SETTING ttl_only_drop_parts = 1",
				"ALTER TABLE d.sink ON CLUSTER 'c' ADD COLUMN b UInt8",
			},
		},
		{
			name: "drop",
			give: "DROP TABLE IF EXISTS {db}.facts SYNC;DROP TABLE {db}.sink",
			want: []string{
				"DROP TABLE IF EXISTS d.facts ON CLUSTER 'c' SYNC",
				"DROP TABLE IF EXISTS d.facts_local ON CLUSTER 'c' SYNC",
				"DROP TABLE d.sink ON CLUSTER 'c'",
			},
		},
		{
			name: "database, view, insert, optimize",
			give: "CREATE DATABASE IF NOT EXISTS {db};CREATE VIEW {db}.v AS SELECT * FROM {db}.facts;" +
				"INSERT INTO {db}.dims VALUES ('a', 1);OPTIMIZE TABLE {db}.dims FINAL",
			want: []string{
				"CREATE DATABASE IF NOT EXISTS d ON CLUSTER 'c'",
				"CREATE VIEW d.v ON CLUSTER 'c' AS SELECT * FROM d.facts",
				"INSERT INTO d.dims VALUES ('a', 1)",
				"OPTIMIZE TABLE d.dims_local ON CLUSTER 'c' FINAL",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderOne(t, prelude+tt.give, Options{Database: "d", Cluster: "c", PredictionTTLDays: 7})
			if err != nil {
				t.Fatal(err)
			}
			head := []string{
				factsLocal, factsDist,
				"CREATE TABLE d.dims_local ON CLUSTER 'c' (k String, v UInt64) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', v) ORDER BY k",
				"CREATE TABLE d.dims ON CLUSTER 'c' AS d.dims_local\nENGINE = Distributed('c', 'd', 'dims_local', cityHash64(k))",
				"CREATE TABLE d.sink ON CLUSTER 'c' (a UInt8) ENGINE = Null",
			}
			if !slices.Equal(got[:len(head)], head) {
				t.Fatalf("prelude:\n%s", strings.Join(got[:len(head)], ";\n"))
			}
			got = got[len(head):]
			if len(got) != len(tt.want) {
				t.Fatalf("got %d statements, want %d:\n%s", len(got), len(tt.want), strings.Join(got, ";\n"))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("statement %d:\ngot  %s\nwant %s", i+1, got[i], tt.want[i])
				}
			}
		})
	}
}

// The single-node rendering only substitutes placeholders.
func TestRenderSingle(t *testing.T) {
	sql := "-- header\nCREATE TABLE IF NOT EXISTS {db}.x (a UInt8 COMMENT 'kept {prediction_ttl_days} days; ok', t DateTime)\n" +
		"ENGINE = MergeTree ORDER BY a TTL t + INTERVAL {prediction_ttl_days} DAY\n" +
		"SETTINGS non_replicated_deduplication_window = 10;\n" +
		"CREATE MATERIALIZED VIEW {db}.mv ENGINE = MergeTree ORDER BY a AS SELECT a FROM {db}.x;\n" +
		"CREATE TABLE {db}.kv (k String) ENGINE = EmbeddedRocksDB({prediction_ttl_seconds}) PRIMARY KEY k;\n"
	got, err := renderOne(t, sql, Options{Database: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CREATE TABLE IF NOT EXISTS prod.x (a UInt8 COMMENT 'kept 90 days; ok', t DateTime)\n" +
			"ENGINE = MergeTree ORDER BY a TTL t + INTERVAL 90 DAY\n" +
			"SETTINGS non_replicated_deduplication_window = 10",
		"CREATE MATERIALIZED VIEW prod.mv ENGINE = MergeTree ORDER BY a AS SELECT a FROM prod.x",
		"CREATE TABLE prod.kv (k String) ENGINE = EmbeddedRocksDB(7776000) PRIMARY KEY k",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		cluster bool
		want    string // in the error
	}{
		{"unknown placeholder", "CREATE TABLE {DB}.x (a UInt8) ENGINE = Memory", false, "unknown placeholder {DB}"},
		{"unqualified", "CREATE TABLE x (a UInt8) ENGINE = Memory", false, "{db}.name"},
		{"no engine", "CREATE TABLE {db}.x (a UInt8)", false, "ENGINE"},
		{"replicated", "CREATE TABLE {db}.x (a UInt8) ENGINE = ReplicatedMergeTree ORDER BY a", false, "single-node"},
		{"reserved", "CREATE TABLE {db}.schema_migrations (a UInt8) ENGINE = Memory", false, "reserved"},
		{"alter unknown", "ALTER TABLE {db}.nope ADD COLUMN a UInt8", false, "not created by an earlier"},
		{"view target unknown", "CREATE MATERIALIZED VIEW {db}.mv TO {db}.nope AS SELECT 1 FROM {db}.x", false, "not created by an earlier"},
		{"view without TO on a cluster", "CREATE MATERIALIZED VIEW {db}.mv ENGINE = Memory AS SELECT 1", true, "needs TO"},
		{"unsupported on a cluster", "RENAME TABLE {db}.a TO {db}.b", true, "RENAME statements are not supported"},
		{"unterminated", "CREATE TABLE {db}.x (a UInt8 COMMENT 'x) ENGINE = Memory", false, "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := Options{Database: "d"}
			if tt.cluster {
				opt.Cluster = "c"
			}
			_, err := renderOne(t, tt.give, opt)
			if !errors.Is(err, ErrInvalidMigration) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "0001_t.sql") {
				t.Errorf("err = %v, want ErrInvalidMigration naming 0001_t.sql and containing %q", err, tt.want)
			}
		})
	}
}

func TestRenderFiles(t *testing.T) {
	stmt := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	migs, err := Render(fstest.MapFS{
		"0010_b.sql": stmt("SELECT 10"),
		"0002_a.sql": stmt("SELECT 2;"),
		"README.md":  stmt("not a migration"),
	}, Options{Database: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) != 2 || migs[0].Version != 2 || migs[0].Name != "a" || migs[1].Version != 10 || migs[1].File != "0010_b.sql" {
		t.Fatalf("got %+v", migs)
	}
	if sum := sha256.Sum256([]byte("SELECT 2;")); migs[0].Checksum != hex.EncodeToString(sum[:]) {
		t.Errorf("checksum %s is not the file's sha256", migs[0].Checksum)
	}

	errTests := []struct {
		name string
		fsys fstest.MapFS
		opt  Options
		want error
	}{
		{"duplicate version", fstest.MapFS{"0001_a.sql": stmt(""), "001_b.sql": stmt("")}, Options{Database: "d"}, ErrInvalidMigration},
		{"bad name", fstest.MapFS{"init.sql": stmt("")}, Options{Database: "d"}, ErrInvalidMigration},
		{"bad database", fstest.MapFS{}, Options{Database: "a-b"}, ErrInvalidOptions},
		{"no database", fstest.MapFS{}, Options{}, ErrInvalidOptions},
		{"bad cluster", fstest.MapFS{}, Options{Database: "d", Cluster: "a'b"}, ErrInvalidOptions},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Render(tt.fsys, tt.opt); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestGolden renders the real migrations both ways. Regenerate with
// go test ./internal/schema/ -run TestGolden -update, and review the diff.
func TestGolden(t *testing.T) {
	tests := []struct {
		file string
		opt  Options
	}{
		{"single.sql.golden", Options{Database: "predlog"}},
		{"cluster.sql.golden", Options{Database: "predlog", Cluster: "predlog_cluster"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			migs, err := Render(chsql.Migrations(), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			opt, _ := tt.opt.withDefaults()
			var buf bytes.Buffer
			if err := writeSQL(&buf, append([]Migration{bootstrap(opt)}, migs...)); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("rendering differs from %s; run with -update and review the diff:\n%s", path, firstDiff(buf.String(), string(want)))
			}
		})
	}
}

// firstDiff shows the first differing line.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\ngot  %s\nwant %s", i+1, gl, wl)
		}
	}
	return ""
}

// A file marked single-node only renders as written for one node and to
// nothing on a cluster, where RENAME would be an error.
func TestRenderSingleNodeOnly(t *testing.T) {
	sql := "-- header\n-- predlog: single-node only\nRENAME TABLE {db}.a TO {db}.b;\n"
	for _, tt := range []struct {
		cluster string
		want    []string
	}{{"", []string{"RENAME TABLE d.a TO d.b"}}, {"c", nil}} {
		got, err := renderOne(t, sql, Options{Database: "d", Cluster: tt.cluster})
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("cluster %q: %q, %v; want %q", tt.cluster, got, err, tt.want)
		}
	}
	// A CRLF line ending or trailing spaces still mark it; a line that only
	// starts like the marker, or the marker inside a string, do not.
	if got, err := renderOne(t, "-- predlog: single-node only  \r\nRENAME TABLE {db}.a TO {db}.b", Options{Database: "d", Cluster: "c"}); err != nil || got != nil {
		t.Errorf("CRLF: %q, %v", got, err)
	}
	for _, sql := range []string{
		"-- predlog: single-node only, not\nRENAME TABLE {db}.a TO {db}.b",
		"RENAME TABLE {db}.a TO {db}.b COMMENT '\n-- predlog: single-node only\n'",
	} {
		if _, err := renderOne(t, sql, Options{Database: "d", Cluster: "c"}); err == nil {
			t.Errorf("%q skipped the file", sql)
		}
	}
}
