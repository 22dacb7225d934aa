package schema

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"
)

var (
	// ErrSchemaOutdated means migrations are pending: the daemons refuse to
	// start, and the message says which ones and the command that applies
	// them.
	ErrSchemaOutdated = errors.New("schema outdated")
	// ErrChecksumMismatch means a migration file changed after it was
	// applied. Applied migrations are history: change the schema with a new
	// file instead.
	ErrChecksumMismatch = errors.New("applied migration changed")
	// ErrModeMismatch means the database was migrated with the other
	// rendering (single node vs cluster).
	ErrModeMismatch = errors.New("schema rendering mode mismatch")
	// ErrUnknownVersion means the database has a migration this binary does
	// not know: it was migrated by a newer release.
	ErrUnknownVersion = errors.New("unknown applied migration")
	// ErrMissingObject means a table or view that an applied migration
	// created is not in the database (dropped or renamed by hand). Migrate
	// does not recreate it: the migration is recorded as applied.
	ErrMissingObject = errors.New("schema object missing")
)

// bootstrapSQL is in the migration dialect, so the cluster rendering makes
// schema_migrations a Distributed table like the others and every node
// reads the same history. ReplacingMergeTree collapses the duplicate rows
// two migrators racing on one version would leave.
const bootstrapSQL = `CREATE DATABASE IF NOT EXISTS {db};
CREATE TABLE IF NOT EXISTS {db}.schema_migrations
(
    version UInt32 COMMENT 'NNNN prefix of the migration file',
    name String COMMENT 'Rest of the file name',
    checksum String COMMENT 'sha256 of the file as applied (hex)',
    mode LowCardinality(String) COMMENT 'Rendering: single or cluster:<name>',
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'When it was applied'
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
COMMENT 'Schema migrations applied by internal/schema'`

// bootstrap renders the statements that create the database and
// schema_migrations, as a pseudo-migration with version 0. opt must have
// passed withDefaults.
func bootstrap(opt Options) Migration {
	r := newRenderer(opt)
	r.allowReserved = true
	stmts, err := r.file(bootstrapSQL)
	if err != nil {
		panic("schema: bootstrap DDL does not render: " + err.Error()) // a constant; tests render it
	}
	return Migration{Name: migrationsTable, File: "(" + migrationsTable + ", created by migrate)", Statements: stmts}
}

// Migrator applies and checks the migrations of one database.
//
// It takes no lock: run one `migrate` at a time (a deploy step), not one per
// daemon replica. Daemons only Check.
type Migrator struct {
	conn driver.Conn
	opt  Options
	log  *zap.Logger
	err  error // from Options, reported by every method
}

// New returns a Migrator for opt.Database. conn must be able to run queries
// while that database does not exist yet (for Apply, which creates it): open
// it on "default", not on opt.Database. log may be nil.
func New(conn driver.Conn, opt Options, log *zap.Logger) *Migrator {
	if log == nil {
		log = zap.NewNop()
	}
	opt, err := opt.withDefaults()
	return &Migrator{conn: conn, opt: opt, log: log.With(zap.String("database", opt.Database)), err: err}
}

// Migrations renders the migrations for the Migrator's Options.
func (m *Migrator) Migrations() ([]Migration, error) {
	if m.err != nil {
		return nil, m.err
	}
	return Render(m.opt.FS, m.opt)
}

// appliedRow is a row of schema_migrations.
type appliedRow struct {
	version   int
	name      string
	checksum  string
	mode      string
	appliedAt time.Time
}

// Apply creates the database and schema_migrations if missing and applies
// the pending migrations in version order, recording each after its last
// statement succeeds. It returns what it applied, also on error.
//
// ClickHouse DDL is not transactional: when a statement fails, the ones
// before it in that file stay applied and the file is not recorded, so it
// runs again from the start on the next Apply. The migrations use IF NOT
// EXISTS for that reason.
func (m *Migrator) Apply(ctx context.Context) ([]Migration, error) {
	migs, err := m.Migrations()
	if err != nil {
		return nil, err
	}
	for _, st := range bootstrap(m.opt).Statements {
		if err := m.conn.Exec(ctx, st); err != nil {
			return nil, fmt.Errorf("create %s: %s: %w", migrationsTable, firstLine(st), err)
		}
	}
	applied, err := m.applied(ctx)
	if err != nil {
		return nil, err
	}
	if err := m.verify(migs, applied, true); err != nil {
		return nil, err
	}
	if m.opt.Cluster != "" {
		// Inserts go through Distributed tables: wait for the shards to
		// have the rows, so that a migration's next statement (e.g. one
		// that drops the source of a copy) and a Check right after the
		// record see them.
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"distributed_foreground_insert": 1}))
	}
	var done []Migration
	for _, mg := range migs {
		if _, ok := applied[mg.Version]; ok {
			continue
		}
		start := time.Now()
		for i, st := range mg.Statements {
			if err := m.conn.Exec(ctx, st); err != nil {
				return done, fmt.Errorf("apply %s: statement %d of %d (%s): %w",
					mg.File, i+1, len(mg.Statements), firstLine(st), err)
			}
		}
		if err := m.record(ctx, mg); err != nil {
			return done, fmt.Errorf("apply %s: record: %w", mg.File, err)
		}
		m.log.Info("applied migration", zap.String("file", mg.File),
			zap.Int("statements", len(mg.Statements)), zap.Duration("took", time.Since(start)))
		done = append(done, mg)
	}
	return done, nil
}

// record inserts mg into schema_migrations; on a cluster ctx carries
// Apply's distributed_foreground_insert.
func (m *Migrator) record(ctx context.Context, mg Migration) error {
	return m.conn.Exec(ctx,
		"INSERT INTO "+m.opt.Database+"."+migrationsTable+" (version, name, checksum, mode) VALUES (?, ?, ?, ?)",
		uint32(mg.Version), mg.Name, mg.Checksum, m.opt.mode())
}

// Check returns nil when every migration is applied, unchanged, in the
// configured mode, and the tables and views they create exist. It only
// reads. Pending migrations give an error wrapping ErrSchemaOutdated that
// names them and the command that applies them; missing objects one
// wrapping ErrMissingObject that names them.
//
// Migrations newer than this binary are allowed (a newer release migrated
// first during a rolling upgrade) and logged, and so are missing objects
// then (a newer migration may have dropped or renamed them): the daemons
// check with it. `migrate check` (RunCLI) refuses a database newer than
// the binary, as Apply does.
func (m *Migrator) Check(ctx context.Context) error {
	return m.check(ctx, false)
}

// check is Check; strict refuses migrations unknown to this binary.
func (m *Migrator) check(ctx context.Context, strict bool) error {
	if m.err != nil {
		return m.err
	}
	migs, objs, err := render(m.opt.FS, m.opt)
	if err != nil {
		return err
	}
	tables, err := m.tables(ctx)
	if err != nil {
		return err
	}
	applied, err := m.appliedIfExists(ctx, tables)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		// Say so when the database itself is missing: after a typo in
		// clickhouse.database, migrating would create and fill the wrong one.
		var n uint64
		if err := m.conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", m.opt.Database).Scan(&n); err != nil {
			return fmt.Errorf("look up database %s: %w", m.opt.Database, err)
		}
		if n == 0 {
			// Only names a typo away: a shared server's other databases are
			// none of this daemon's business (nor its log's).
			// Best effort: editDistance is ClickHouse 23.9 and later.
			var similar []string
			_ = m.conn.QueryRow(ctx, "SELECT groupArray(name) FROM (SELECT name FROM system.databases "+
				"WHERE editDistance(lower(name), lower(?)) <= 2 ORDER BY name LIMIT 5)", m.opt.Database).Scan(&similar)
			hint := ""
			if len(similar) > 0 {
				hint = " (similar: " + strings.Join(similar, ", ") + ")"
			}
			return fmt.Errorf("%w: database %s does not exist%s; check clickhouse.database, or create it with its tables with `%s`",
				ErrSchemaOutdated, m.opt.Database, hint, m.opt.MigrateCommand)
		}
	}
	if err := m.verify(migs, applied, strict); err != nil {
		return err
	}
	var missing []string
	for _, mg := range migs {
		if _, ok := applied[mg.Version]; !ok {
			missing = append(missing, strings.TrimSuffix(mg.File, ".sql"))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: database %s lacks %d of %d migrations (%s); apply them with `%s` and the other flags and PREDLOG_* variables given here",
			ErrSchemaOutdated, m.opt.Database, len(missing), len(migs), strings.Join(missing, ", "), m.opt.MigrateCommand)
	}
	// Every known migration is applied: any other row is a newer one.
	newer := len(applied) > len(migs)
	if err := m.checkObjects(objs, tables, newer, strict); err != nil {
		return err
	}
	return m.checkColumns(ctx, objs, tables, newer, strict)
}

// checkColumns is checkObjects for the columns the migrations leave in the
// tables that exist: a column dropped or renamed by hand fails every
// insert that names it.
func (m *Migrator) checkColumns(ctx context.Context, objs []dbObject, tables map[string]bool, newer, strict bool) error {
	rows, err := m.conn.Query(ctx, "SELECT table, name FROM system.columns WHERE database = ?", m.opt.Database)
	if err != nil {
		return fmt.Errorf("list columns of %s: %w", m.opt.Database, err)
	}
	defer rows.Close()
	have := map[[2]string]bool{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return fmt.Errorf("list columns of %s: %w", m.opt.Database, err)
		}
		have[[2]string{t, c}] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list columns of %s: %w", m.opt.Database, err)
	}
	var missing []string
	for _, o := range objs {
		for _, name := range o.names {
			if !tables[name] {
				continue // reported by checkObjects
			}
			for _, c := range o.columns {
				if !have[[2]string{name, c.name}] {
					missing = append(missing, fmt.Sprintf("column %s.%s (added by %s)", name, c.name, strings.TrimSuffix(c.file, ".sql")))
				}
			}
		}
	}
	switch {
	case len(missing) == 0:
		return nil
	case newer:
		m.log.Warn("database lacks columns this binary's migrations add; a newer release's migration may have dropped or renamed them",
			zap.Strings("missing", missing))
		return nil
	case !strict:
		m.log.Warn("database lacks columns this binary's migrations add: statements naming them will fail; `migrate check` tells how to add them back",
			zap.String("database", m.opt.Database), zap.Strings("missing", missing))
		return nil
	}
	return fmt.Errorf("%w: database %s lacks %s. The migrations that added them are recorded as applied in %s, so migrate does not add them again: "+
		"rename them back, or add them with their definitions as `migrate render` prints those migrations (ALTER TABLE … ADD COLUMN, or the column in the CREATE TABLE)",
		ErrMissingObject, m.opt.Database, strings.Join(missing, ", "), migrationsTable)
}

// checkObjects returns an error wrapping ErrMissingObject naming the objects
// of objs missing from tables (the database's). Every migration is applied
// when it is called; newer says the database also has migrations this
// binary does not know, which may have dropped or renamed them: then it
// only logs them. So it does unless strict (`migrate check`, run by the
// user who migrates): system.tables lists only the tables the user may
// read, and a daemon's user with grants on its own tables alone would
// otherwise never start.
func (m *Migrator) checkObjects(objs []dbObject, tables map[string]bool, newer, strict bool) error {
	expected := make(map[string]bool)
	for _, o := range objs {
		for _, n := range o.names {
			expected[n] = true
		}
	}
	var missing []string
	for _, o := range objs {
		for _, name := range o.names {
			if tables[name] {
				continue
			}
			from := []string{"created by " + strings.TrimSuffix(o.created, ".sql")}
			if len(o.altered) > 0 {
				altered := make([]string, len(o.altered))
				for i, f := range o.altered {
					altered[i] = strings.TrimSuffix(f, ".sql")
				}
				from = append(from, "altered by "+strings.Join(altered, ", "))
			}
			// The usual cause is a RENAME by hand: name what it may be now.
			var like []string
			for t := range tables {
				if !expected[t] && t != migrationsTable && renamedFrom(t, name) {
					like = append(like, t)
				}
			}
			if len(like) > 0 {
				slices.Sort(like)
				from = append(from, "renamed? the database has "+strings.Join(like, ", "))
			}
			missing = append(missing, fmt.Sprintf("%s %s (%s)", strings.ToLower(o.kind), name, strings.Join(from, "; ")))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	switch {
	case newer:
		m.log.Warn("database lacks objects this binary's migrations create; a newer release's migration may have dropped or renamed them",
			zap.Strings("missing", missing))
		return nil
	case !strict:
		m.log.Warn("database lacks objects this binary's migrations create, or this user may not read them (a missing grant?): "+
			"statements on them will fail; `migrate check` run by the user who migrates tells which",
			zap.String("database", m.opt.Database), zap.Strings("missing", missing))
		return nil
	}
	// Not "delete the migration's row and migrate again": that runs the
	// whole file again (INSERT ... SELECT copies too) and not the later
	// files that altered the object.
	it, its := "it", "its"
	if len(missing) > 1 {
		it, its = "them", "their"
	}
	return fmt.Errorf("%[1]w: database %[2]s lacks %[3]s. The migrations that created %[4]s are recorded as applied in %[6]s, so migrate does not create %[4]s again: "+
		"restore %[4]s (RENAME %[4]s back, or from a backup), or, to start %[4]s empty, run %[5]s CREATE and ALTER statements from those migrations as `migrate render` prints them",
		ErrMissingObject, m.opt.Database, strings.Join(missing, ", "), it, its, migrationsTable)
}

// renamedFrom reports whether table t looks like name renamed by hand:
// name with a prefix or suffix set apart by a character that is not a
// letter or digit (outcomes_bak, old_outcomes, outcomes.2026).
func renamedFrom(t, name string) bool {
	sep := func(c byte) bool { return !isWordByte(c) || c == '_' }
	return len(t) > len(name) &&
		(strings.HasPrefix(t, name) && sep(t[len(name)]) || strings.HasSuffix(t, name) && sep(t[len(t)-len(name)-1]))
}

// State of a migration in Status.
type State string

const (
	StateApplied State = "applied"
	StatePending State = "pending"
	StateChanged State = "changed" // applied, file changed since
	StateUnknown State = "unknown" // applied, no such file in this binary
)

// MigrationStatus is one line of Status.
type MigrationStatus struct {
	Version  int
	Name     string
	State    State
	Checksum string // of the file; "" for StateUnknown
	// The schema_migrations row; zero when pending.
	AppliedChecksum string
	AppliedAt       time.Time
	Mode            string
}

// Status lists the migrations, known and applied, in version order. It
// reports changed files and foreign modes rather than failing on them.
func (m *Migrator) Status(ctx context.Context) ([]MigrationStatus, error) {
	migs, err := m.Migrations()
	if err != nil {
		return nil, err
	}
	tables, err := m.tables(ctx)
	if err != nil {
		return nil, err
	}
	applied, err := m.appliedIfExists(ctx, tables)
	if err != nil {
		return nil, err
	}
	var out []MigrationStatus
	for _, mg := range migs {
		st := MigrationStatus{Version: mg.Version, Name: mg.Name, State: StatePending, Checksum: mg.Checksum}
		if a, ok := applied[mg.Version]; ok {
			st.State, st.AppliedChecksum, st.AppliedAt, st.Mode = StateApplied, a.checksum, a.appliedAt, a.mode
			if a.checksum != mg.Checksum {
				st.State = StateChanged
			}
			delete(applied, mg.Version)
		}
		out = append(out, st)
	}
	for _, a := range applied {
		out = append(out, MigrationStatus{Version: a.version, Name: a.name, State: StateUnknown,
			AppliedChecksum: a.checksum, AppliedAt: a.appliedAt, Mode: a.mode})
	}
	slices.SortFunc(out, func(a, b MigrationStatus) int { return a.Version - b.Version })
	return out, nil
}

// verify compares the files with what was applied. strict (Apply) also
// rejects applied migrations unknown to this binary: an older release must
// not migrate a database a newer one has.
func (m *Migrator) verify(migs []Migration, applied map[int]appliedRow, strict bool) error {
	known := make(map[int]bool, len(migs))
	for _, mg := range migs {
		known[mg.Version] = true
		a, ok := applied[mg.Version]
		if !ok {
			continue
		}
		if a.checksum != mg.Checksum {
			return fmt.Errorf("%w: %s was applied with sha256 %s, the file now has sha256 %s; restore it and put the change in a new migration",
				ErrChecksumMismatch, mg.File, a.checksum, mg.Checksum)
		}
		if modeKind(a.mode) != modeKind(m.opt.mode()) {
			return fmt.Errorf("%w: %s was applied in mode %s, configured mode is %s (clickhouse cluster setting)",
				ErrModeMismatch, mg.File, a.mode, m.opt.mode())
		}
	}
	var unknown []string
	for v, a := range applied {
		if !known[v] {
			unknown = append(unknown, fmt.Sprintf("%04d_%s", v, a.name))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	if strict {
		return fmt.Errorf("%w: database %s is newer than this binary: it has migration %s, which this binary does not have; run migrate and migrate check with the newer release",
			ErrUnknownVersion, m.opt.Database, strings.Join(unknown, ", "))
	}
	m.log.Warn("database has migrations this binary does not know (a newer release migrated it)", zap.Strings("migrations", unknown))
	return nil
}

// modeKind drops the cluster name: renaming the cluster in the config does
// not change the schema's shape.
func modeKind(mode string) string {
	kind, _, _ := strings.Cut(mode, ":")
	return kind
}

// tables returns the names of the tables, views and dictionaries in the
// database (none when it does not exist): one query, for appliedIfExists
// and Check's missing objects.
func (m *Migrator) tables(ctx context.Context) (map[string]bool, error) {
	var names []string
	if err := m.conn.QueryRow(ctx, "SELECT groupArray(name) FROM system.tables WHERE database = ?",
		m.opt.Database).Scan(&names); err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", m.opt.Database, err)
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

// appliedIfExists is applied, or nothing when tables (the database's) has
// no schema_migrations yet.
func (m *Migrator) appliedIfExists(ctx context.Context, tables map[string]bool) (map[int]appliedRow, error) {
	if !tables[migrationsTable] {
		return map[int]appliedRow{}, nil
	}
	return m.applied(ctx)
}

// applied reads schema_migrations, keeping the first row per version.
func (m *Migrator) applied(ctx context.Context) (map[int]appliedRow, error) {
	rows, err := m.conn.Query(ctx, "SELECT version, name, checksum, mode, applied_at FROM "+
		m.opt.Database+"."+migrationsTable+" ORDER BY version, applied_at")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", migrationsTable, err)
	}
	defer rows.Close()
	out := make(map[int]appliedRow)
	for rows.Next() {
		var (
			r appliedRow
			v uint32
		)
		if err := rows.Scan(&v, &r.name, &r.checksum, &r.mode, &r.appliedAt); err != nil {
			return nil, fmt.Errorf("read %s: %w", migrationsTable, err)
		}
		r.version = int(v)
		if _, dup := out[r.version]; !dup {
			out[r.version] = r
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", migrationsTable, err)
	}
	return out, nil
}
