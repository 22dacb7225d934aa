package schema

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	chsql "github.com/predlog/predlog/clickhouse"
	"github.com/predlog/predlog/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestApplyEmbedded runs the real migrations: the first check of their DDL
// against the engine.
func TestApplyEmbedded(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	st := testenv.Get(t)
	db := st.Database(t)
	m := New(st.Conn(t, db), Options{Database: db, MigrateCommand: "ingester migrate --config ingester.yaml"}, zaptest.NewLogger(t))
	migs, err := m.Migrations()
	if err != nil {
		t.Fatal(err)
	}

	err = m.Check(ctx)
	if !errors.Is(err, ErrSchemaOutdated) || !strings.Contains(err.Error(), "ingester migrate --config ingester.yaml") ||
		!strings.Contains(err.Error(), strings.TrimSuffix(migs[0].File, ".sql")) {
		t.Fatalf("Check before Apply = %v, want ErrSchemaOutdated naming %s and the command", err, migs[0].File)
	}

	applied, err := m.Apply(ctx)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(applied) != len(migs) {
		t.Fatalf("applied %d migrations, want %d", len(applied), len(migs))
	}
	again, err := m.Apply(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Apply = %d applied, %v; want none", len(again), err)
	}
	if err := m.Check(ctx); err != nil {
		t.Fatalf("Check after Apply: %v", err)
	}
	status, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range status {
		if s.State != StateApplied || s.Mode != "single" || s.AppliedAt.IsZero() {
			t.Errorf("status %+v, want applied in single mode", s)
		}
	}
	// A table renamed by hand (the ingester failed on every insert while
	// migrate check passed): named, with what it may be now and where
	// from. The daemons' Check only warns (their users may lack the grant
	// that shows a table in system.tables).
	st.Exec(t, db, "RENAME TABLE outcomes TO outcomes_bak")
	const gone = "table outcomes (created by 0002_outcomes; altered by 0012_aggregator_state; renamed? the database has outcomes_bak)"
	err = RunCLI(ctx, []string{"check"}, st.Conn(t, db), Options{Database: db}, io.Discard)
	for _, want := range []string{gone, "restore it"} {
		if !errors.Is(err, ErrMissingObject) || !strings.Contains(err.Error(), want) {
			t.Errorf("migrate check without outcomes = %v, want ErrMissingObject containing %q", err, want)
		}
	}
	core, logs := observer.New(zap.WarnLevel)
	if err := New(st.Conn(t, db), Options{Database: db}, zap.New(core)).Check(ctx); err != nil {
		t.Errorf("Check without outcomes = %v, want a warning", err)
	}
	if w := logs.FilterMessageSnippet("a missing grant?").All(); len(w) != 1 || !strings.Contains(fmt.Sprint(w[0].ContextMap()["missing"]), gone) {
		t.Errorf("Check without outcomes logged %v, want one warning naming %q", logs.All(), gone)
	}
	st.Exec(t, db, "RENAME TABLE outcomes_bak TO outcomes")
	if err := m.Check(ctx); err != nil {
		t.Fatalf("Check after renaming outcomes back: %v", err)
	}
	// So is a column dropped or renamed by hand (every insert of the
	// ingester names it).
	st.Exec(t, db, "ALTER TABLE outcomes RENAME COLUMN value TO value_old")
	const col = "column outcomes.value (added by 0002_outcomes)"
	err = RunCLI(ctx, []string{"check"}, st.Conn(t, db), Options{Database: db}, io.Discard)
	for _, want := range []string{col, "ADD COLUMN"} {
		if !errors.Is(err, ErrMissingObject) || !strings.Contains(err.Error(), want) {
			t.Errorf("migrate check without outcomes.value = %v, want ErrMissingObject containing %q", err, want)
		}
	}
	core, logs = observer.New(zap.WarnLevel)
	if err := New(st.Conn(t, db), Options{Database: db}, zap.New(core)).Check(ctx); err != nil {
		t.Errorf("Check without outcomes.value = %v, want a warning", err)
	}
	if w := logs.FilterMessageSnippet("lacks columns").All(); len(w) != 1 || fmt.Sprint(w[0].ContextMap()["missing"]) != "["+col+"]" {
		t.Errorf("Check without outcomes.value logged %v, want one warning naming only %q", logs.All(), col)
	}
	st.Exec(t, db, "ALTER TABLE outcomes RENAME COLUMN value_old TO value")
	if err := m.Check(ctx); err != nil {
		t.Fatalf("Check after renaming outcomes.value back: %v", err)
	}
	// The rollup view fires on inserts into prediction_logs.
	st.Exec(t, db, `INSERT INTO prediction_logs (request_id, model_id, model_version, event_time, latency_ms, status, score)
		VALUES ('r1', 'm', 'v1', now64(3), 12.5, 'ok', 0.75), ('r2', 'm', 'v1', now64(3), 7.5, 'error', NULL)`)
	if got := st.Exec(t, db, "SELECT sum(prediction_count), sum(error_count), max(latency_max), sum(score_count) FROM prediction_stats_1m"); got != "2\t1\t12.5\t1\n" {
		t.Errorf("prediction_stats_1m = %q", got)
	}
}

// files builds a migration FS from name/SQL pairs.
func files(kv ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i < len(kv); i += 2 {
		fsys[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return fsys
}

const (
	sql1 = "CREATE TABLE IF NOT EXISTS {db}.a (x UInt8, s String COMMENT 'one; two') ENGINE = MergeTree ORDER BY x;\n" +
		"-- a comment; with a semicolon\nINSERT INTO {db}.a VALUES (1, 'it''s; fine');\n"
	sql2 = "ALTER TABLE {db}.a ADD COLUMN IF NOT EXISTS y UInt8 DEFAULT 7;\n"
)

func TestApplyLifecycle(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	st := testenv.Get(t)
	db := st.Database(t)
	conn := st.Conn(t, db)
	opt := Options{Database: db, FS: files("0001_a.sql", sql1)}

	if _, err := New(conn, opt, nil).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.Exec(t, db, "SELECT x, s FROM a"); got != "1\tit\\'s; fine\n" {
		t.Fatalf("a = %q", got)
	}

	// A new file: Check names it, Apply applies only it.
	opt.FS = files("0001_a.sql", sql1, "0002_b.sql", sql2)
	opt.MigrateCommand = "aggregator migrate --config x.yaml"
	m := New(conn, opt, zaptest.NewLogger(t))
	err := m.Check(ctx)
	if !errors.Is(err, ErrSchemaOutdated) || !strings.Contains(err.Error(), "(0002_b)") || !strings.Contains(err.Error(), "`aggregator migrate --config x.yaml`") {
		t.Fatalf("Check = %v", err)
	}
	applied, err := m.Apply(ctx)
	if err != nil || len(applied) != 1 || applied[0].Version != 2 {
		t.Fatalf("Apply = %+v, %v; want 0002 only", applied, err)
	}
	if err := m.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.Exec(t, db, "SELECT count() FROM a"); got != "1\n" {
		t.Fatalf("0001 ran again: count = %q", got)
	}

	// A changed applied file.
	tampered := opt
	tampered.FS = files("0001_a.sql", sql1+"\n-- edited\n", "0002_b.sql", sql2)
	mt := New(conn, tampered, nil)
	for name, f := range map[string]func() error{
		"Check": func() error { return mt.Check(ctx) },
		"Apply": func() error { _, err := mt.Apply(ctx); return err },
	} {
		err := f()
		if !errors.Is(err, ErrChecksumMismatch) || !strings.Contains(err.Error(), "0001_a.sql") ||
			!strings.Contains(err.Error(), applied0Checksum(t, opt)) || !strings.Contains(err.Error(), applied0Checksum(t, tampered)) {
			t.Errorf("%s with a changed file = %v, want ErrChecksumMismatch naming the file and both checksums", name, err)
		}
	}
	status, err := mt.Status(ctx)
	if err != nil || len(status) != 2 || status[0].State != StateChanged || status[1].State != StateApplied {
		t.Errorf("Status = %+v, %v", status, err)
	}

	// The database is newer than the binary.
	older := opt
	older.FS = files("0001_a.sql", sql1)
	mo := New(conn, older, nil)
	if err := mo.Check(ctx); err != nil {
		t.Errorf("Check by an older binary = %v, want nil", err)
	}
	// But `migrate check` agrees with migrate: not up to date for it.
	var out bytes.Buffer
	if err := RunCLI(ctx, []string{"check"}, conn, older, &out); !errors.Is(err, ErrUnknownVersion) ||
		!strings.Contains(err.Error(), "newer than this binary") || !strings.Contains(err.Error(), "0002_b") {
		t.Errorf("migrate check by an older binary = %v (%q), want ErrUnknownVersion saying the database is newer and naming 0002_b", err, out.String())
	}
	if _, err := mo.Apply(ctx); !errors.Is(err, ErrUnknownVersion) {
		t.Errorf("Apply by an older binary = %v, want ErrUnknownVersion", err)
	}
	status, err = mo.Status(ctx)
	if err != nil || len(status) != 2 || status[1].State != StateUnknown || status[1].Name != "b" {
		t.Errorf("Status = %+v, %v", status, err)
	}

	// The other rendering.
	clustered := opt
	clustered.Cluster = "c"
	if err := New(conn, clustered, nil).Check(ctx); !errors.Is(err, ErrModeMismatch) {
		t.Errorf("Check in cluster mode = %v, want ErrModeMismatch", err)
	}
}

// TestCheckMissingObjects drops what migrations created: Check names what
// is missing, following drops and renames in the files themselves.
func TestCheckMissingObjects(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	st := testenv.Get(t)
	db := st.Database(t)
	conn := st.Conn(t, db)
	opt := Options{Database: db, FS: files(
		"0001_a.sql", sql1,
		"0002_b.sql", sql2+"CREATE VIEW IF NOT EXISTS {db}.v AS SELECT x FROM {db}.a;\n",
		"0003_c.sql", "CREATE TABLE IF NOT EXISTS {db}.tmp (x UInt8) ENGINE = Memory;\nDROP TABLE IF EXISTS {db}.tmp;\n"+
			"CREATE TABLE IF NOT EXISTS {db}.c_new (x UInt8) ENGINE = MergeTree ORDER BY x;\nRENAME TABLE {db}.c_new TO {db}.c;\n",
	)}
	m := New(conn, opt, zaptest.NewLogger(t))
	if _, err := m.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx); err != nil {
		t.Fatalf("Check after Apply: %v", err)
	}
	st.Exec(t, db, "DROP VIEW v")
	st.Exec(t, db, "RENAME TABLE a TO a_old")
	err := RunCLI(ctx, []string{"check"}, conn, opt, io.Discard)
	for _, want := range []string{
		"database " + db + " lacks table a (created by 0001_a; altered by 0002_b; renamed? the database has a_old), view v (created by 0002_b).",
		"restore them",
	} {
		if !errors.Is(err, ErrMissingObject) || !strings.Contains(err.Error(), want) {
			t.Errorf("migrate check = %v, want ErrMissingObject containing %q", err, want)
		}
	}

	// A newer release may have dropped them: the daemons start (logged),
	// `migrate check` refuses the newer database.
	newer := Options{Database: db, FS: files("0001_a.sql", sql1, "0002_b.sql", sql2+"CREATE VIEW IF NOT EXISTS {db}.v AS SELECT x FROM {db}.a;\n")}
	if err := New(conn, newer, zaptest.NewLogger(t)).Check(ctx); err != nil {
		t.Errorf("Check by an older binary = %v, want nil", err)
	}
	if err := RunCLI(ctx, []string{"check"}, conn, newer, io.Discard); !errors.Is(err, ErrUnknownVersion) {
		t.Errorf("migrate check by an older binary = %v, want ErrUnknownVersion", err)
	}
}

// TestRenderObjects: what Check looks for in each rendering.
func TestRenderObjects(t *testing.T) {
	fsys := files(
		"0001_a.sql", sql1,
		"0002_b.sql", sql2+"CREATE TABLE IF NOT EXISTS {db}.m (x UInt8) ENGINE = Memory;\n",
		"0003_c.sql", "-- predlog: single-node only\nCREATE TABLE IF NOT EXISTS {db}.c_new (x UInt8) ENGINE = MergeTree ORDER BY x;\n"+
			"EXCHANGE TABLES {db}.c_new AND {db}.m;\nRENAME TABLE {db}.c_new TO {db}.gone, {db}.a TO {db}.b;\nDROP TABLE {db}.gone;\n",
	)
	tests := []struct {
		name    string
		cluster string
		want    string
	}{
		// m is the table c_new created, a was renamed b, c_new (the old m) dropped.
		{"single", "", "b TABLE [b] 0001_a.sql [0002_b.sql] [{x 0001_a.sql} {s 0001_a.sql} {y 0002_b.sql}]; m TABLE [m] 0003_c.sql [] [{x 0003_c.sql}]"},
		// 0003 renders to nothing: a and m stay, a sharded.
		{"cluster", "c", "a TABLE [a a_local] 0001_a.sql [0002_b.sql] [{x 0001_a.sql} {s 0001_a.sql} {y 0002_b.sql}]; m TABLE [m] 0002_b.sql [] [{x 0002_b.sql}]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, objs, err := render(fsys, Options{Database: "db", Cluster: tt.cluster})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, fmt.Sprintf("%s %s %v %s %v %v", o.name, o.kind, o.names, o.created, o.altered, o.columns))
			}
			if s := strings.Join(got, "; "); s != tt.want {
				t.Errorf("objects = %s\nwant      %s", s, tt.want)
			}
		})
	}
}

// TestRenderColumns: the columns a table is left with, each with the
// migration that added it last, through ADD, RENAME and DROP COLUMN and
// CREATE TABLE … AS; indexes are not columns.
func TestRenderColumns(t *testing.T) {
	fsys := files(
		"0001_t.sql", "CREATE TABLE IF NOT EXISTS {db}.t (a UInt8, `b` String COMMENT 'x, y', INDEX i a TYPE minmax GRANULARITY 1) ENGINE = MergeTree ORDER BY a;\n",
		"0002_t.sql", "ALTER TABLE {db}.t ADD COLUMN IF NOT EXISTS c Map(String, UInt8), RENAME COLUMN IF EXISTS b TO d, DROP COLUMN IF EXISTS a;\n"+
			"ALTER TABLE {db}.t ADD COLUMN IF NOT EXISTS c UInt8;\n",
		"0003_u.sql", "CREATE TABLE IF NOT EXISTS {db}.u AS {db}.t ENGINE = MergeTree ORDER BY tuple();\n",
	)
	_, objs, err := render(fsys, Options{Database: "db"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, fmt.Sprintf("%s %v", o.name, o.columns))
	}
	if s, want := strings.Join(got, "; "), "t [{d 0002_t.sql} {c 0002_t.sql}]; u [{d 0003_u.sql} {c 0003_u.sql}]"; s != want {
		t.Errorf("columns = %s\nwant      %s", s, want)
	}
}

func applied0Checksum(t *testing.T, opt Options) string {
	t.Helper()
	migs, err := Render(opt.FS, opt)
	if err != nil {
		t.Fatal(err)
	}
	return migs[0].Checksum
}

func TestApplyFailingStatement(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	st := testenv.Get(t)
	db := st.Database(t)
	m := New(st.Conn(t, db), Options{Database: db, FS: files(
		"0001_a.sql", sql1,
		"0002_bad.sql", "ALTER TABLE {db}.a ADD COLUMN z UInt8;\nALTER TABLE {db}.a MODIFY COLUMN nope UInt16;\n",
	)}, nil)
	applied, err := m.Apply(ctx)
	if err == nil || !strings.Contains(err.Error(), "0002_bad.sql: statement 2 of 2") {
		t.Fatalf("Apply = %v, want an error naming 0002_bad.sql statement 2", err)
	}
	if len(applied) != 1 {
		t.Errorf("applied %d, want 0001 only", len(applied))
	}
	if err := m.Check(ctx); !errors.Is(err, ErrSchemaOutdated) || !strings.Contains(err.Error(), "0002_bad") {
		t.Errorf("Check = %v, want 0002_bad pending", err)
	}
}

func TestApplyCreatesDatabase(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	st := testenv.Get(t)
	// The connection is on an existing database; the target does not exist.
	conn := st.Conn(t, st.Database(t))
	target := st.Database(t) + "_new"
	t.Cleanup(func() { st.Exec(t, "", "DROP DATABASE IF EXISTS "+target+" SYNC") })

	m := New(conn, Options{Database: target, FS: files("0001_a.sql", sql1)}, nil)
	if err := m.Check(ctx); !errors.Is(err, ErrSchemaOutdated) || !strings.Contains(err.Error(), "database "+target+" does not exist") {
		t.Fatalf("Check on a missing database = %v, want ErrSchemaOutdated saying it does not exist", err)
	}
	// A typo of an existing database: that one is named.
	existing := strings.TrimSuffix(target, "_new")
	typo := existing[:len(existing)-1] + "X"
	if err := New(conn, Options{Database: typo, FS: files("0001_a.sql", sql1)}, nil).Check(ctx); err == nil ||
		!strings.Contains(err.Error(), "(similar: "+existing+")") {
		t.Errorf("Check on %s = %v, want %s named as similar", typo, err, existing)
	}
	if _, err := m.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.Exec(t, target, "SELECT count() FROM a"); got != "1\n" {
		t.Errorf("count = %q", got)
	}
}

func TestRunCLI(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	st := testenv.Get(t)
	db := st.Database(t)
	conn := st.Conn(t, db)
	opt := Options{Database: db, FS: files("0001_a.sql", sql1, "0002_b.sql", sql2)}
	run := func(cmd string) (string, error) {
		var out bytes.Buffer
		err := RunCLI(ctx, []string{cmd}, conn, opt, &out)
		return out.String(), err
	}
	if _, err := run("check"); !errors.Is(err, ErrSchemaOutdated) {
		t.Errorf("check = %v", err)
	}
	out, err := run("status")
	if err != nil || !strings.Contains(out, "\n0002     b     pending  -") {
		t.Errorf("status = %v:\n%s", err, out)
	}
	out, err = run("migrate")
	if err != nil || out != "applied 0001_a.sql (2 statements)\napplied 0002_b.sql (1 statement)\n" {
		t.Errorf("migrate = %v:\n%s", err, out)
	}
	out, err = run("migrate")
	if err != nil || !strings.Contains(out, "up to date") {
		t.Errorf("migrate again = %v:\n%s", err, out)
	}
	if out, err = run("check"); err != nil {
		t.Errorf("check = %v:\n%s", err, out)
	}
	out, err = run("status")
	if err != nil || strings.Count(out, " applied ") != 2 {
		t.Errorf("status = %v:\n%s", err, out)
	}
	if _, err := run("nope"); !errors.Is(err, ErrUsage) {
		t.Errorf("nope = %v", err)
	}
	var buf bytes.Buffer
	if err := RunCLI(ctx, []string{"render"}, nil, Options{Database: "x", Cluster: "c", FS: opt.FS}, &buf); err != nil ||
		!strings.Contains(buf.String(), "ReplicatedMergeTree") {
		t.Errorf("render = %v:\n%s", err, buf.String())
	}
}

// TestClusterRenderingParses has the engine parse every statement of the
// cluster rendering. The devstack has no cluster, macros or Keeper to run
// them on; this catches what the rewriting can break (syntax), not what
// only a cluster can (replication paths, macros).
func TestClusterRenderingParses(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	st := testenv.Get(t)
	conn := st.Conn(t, st.Database(t))
	opt := Options{Database: "predlog", Cluster: "predlog_cluster"}
	migs, err := Render(chsql.Migrations(), opt)
	if err != nil {
		t.Fatal(err)
	}
	opt, _ = opt.withDefaults()
	migs = append(migs, bootstrap(opt))
	for _, mg := range migs {
		for i, s := range mg.Statements {
			var formatted string
			if err := conn.QueryRow(ctx, "SELECT formatQuery(?)", s).Scan(&formatted); err != nil {
				t.Errorf("%s statement %d does not parse: %v\n%s", mg.File, i+1, err, s)
			}
		}
	}
	// And it does reject what does not parse.
	var formatted string
	if err := conn.QueryRow(ctx, "SELECT formatQuery(?)", "CREATE TABLE predlog.x ON CLUSTER (a UInt8)").Scan(&formatted); err == nil {
		t.Errorf("formatQuery accepted a broken statement: %s", formatted)
	}
}

func TestRenamedFrom(t *testing.T) {
	tests := []struct {
		table, name string
		want        bool
	}{
		{"outcomes_bak", "outcomes", true},
		{"old_outcomes", "outcomes", true},
		{"outcomes.2026", "outcomes", true},
		{"a_old", "a", true},
		{"outcomes", "outcomes", false},
		{"outcomesx", "outcomes", false},
		{"schema_migrations", "a", false},
		{"abc", "a", false},
	}
	for _, tt := range tests {
		if got := renamedFrom(tt.table, tt.name); got != tt.want {
			t.Errorf("renamedFrom(%q, %q) = %v, want %v", tt.table, tt.name, got, tt.want)
		}
	}
}
