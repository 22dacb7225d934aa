package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	chsql "github.com/predlog/predlog/clickhouse"
)

// DefaultPredictionTTLDays is the prediction_logs retention used when
// Options.PredictionTTLDays is 0.
const DefaultPredictionTTLDays = 90

// migrationsTable records applied migrations in the target database.
const migrationsTable = "schema_migrations"

var (
	// ErrInvalidOptions reports unusable Options (a bad database or cluster
	// name); the message names the field.
	ErrInvalidOptions = errors.New("invalid schema options")
	// ErrInvalidMigration reports a migration file that does not follow the
	// dialect described in the package comment.
	ErrInvalidMigration = errors.New("invalid migration")
)

// Options select the target of the migrations.
type Options struct {
	// Database is the target database: a plain identifier, substituted for
	// {db} in the SQL.
	Database string
	// Cluster is the ClickHouse cluster name (remote_servers) for the
	// replicated, sharded rendering; "" renders for a single node.
	Cluster string
	// PredictionTTLDays is substituted for {prediction_ttl_days}; 0 means
	// DefaultPredictionTTLDays. It takes effect when the migration using it
	// is applied: changing it later needs a new migration.
	PredictionTTLDays int
	// FS holds the NNNN_name.sql files at its root; nil means the files
	// embedded in the binary (chsql.Migrations()). Tests set it.
	FS fs.FS
	// MigrateCommand is the command Check's error tells the operator to
	// run; "" means "ingester migrate --config <config file>".
	MigrateCommand string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// clusterRE is stricter than what ClickHouse accepts, because the name is
// pasted into single-quoted literals.
var clusterRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]*$`)

func (o Options) withDefaults() (Options, error) {
	if !identRE.MatchString(o.Database) {
		return o, fmt.Errorf("%w: database %q: want a plain identifier ([A-Za-z_][A-Za-z0-9_]*)", ErrInvalidOptions, o.Database)
	}
	if o.Cluster != "" && !clusterRE.MatchString(o.Cluster) {
		return o, fmt.Errorf("%w: cluster %q: want letters, digits, '_', '-' or '.'", ErrInvalidOptions, o.Cluster)
	}
	if o.PredictionTTLDays < 0 {
		return o, fmt.Errorf("%w: prediction TTL %d days: must be >= 0", ErrInvalidOptions, o.PredictionTTLDays)
	}
	if o.PredictionTTLDays == 0 {
		o.PredictionTTLDays = DefaultPredictionTTLDays
	}
	if o.FS == nil {
		o.FS = chsql.Migrations()
	}
	if o.MigrateCommand == "" {
		o.MigrateCommand = "ingester migrate --config <config file>"
	}
	return o, nil
}

// onCluster is the ON CLUSTER clause of DDL statements, "" on a single
// node.
func (o Options) onCluster() string {
	if o.Cluster == "" {
		return ""
	}
	return " ON CLUSTER '" + o.Cluster + "'"
}

// mode is what schema_migrations records about the rendering.
func (o Options) mode() string {
	if o.Cluster == "" {
		return "single"
	}
	return "cluster:" + o.Cluster
}

// Migration is one migration file rendered for a target.
type Migration struct {
	Version int    // from the NNNN prefix
	Name    string // the rest of the file name: "init" for 0001_init.sql
	File    string // "0001_init.sql"
	// Checksum is the hex sha256 of the file as written, so it does not
	// change with the Options it is rendered for.
	Checksum string
	// Statements are ready to run, one per request.
	Statements []string
}

var fileRE = regexp.MustCompile(`^(\d+)_([A-Za-z0-9_\-]+)\.sql$`)

// Render reads the NNNN_name.sql files at the root of fsys and renders them
// for opt, in version order. opt.FS is ignored.
func Render(fsys fs.FS, opt Options) ([]Migration, error) {
	migs, _, err := render(fsys, opt)
	return migs, err
}

// dbObject is a table, view or dictionary that the migrations leave in the
// database once all are applied.
type dbObject struct {
	name string
	kind string // TABLE, VIEW, MATERIALIZED VIEW, DICTIONARY
	// names are what system.tables lists for it: name, and on a cluster
	// name_local too for a sharded table.
	names   []string
	created string   // file that created it
	altered []string // files that altered it since, in order
	columns []column // a table's
}

// render is Render, also returning the objects all the migrations leave.
func render(fsys fs.FS, opt Options) ([]Migration, []dbObject, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	migs, r, err := renderFiles(fsys, opt)
	if err != nil {
		return nil, nil, err
	}
	objs := make([]dbObject, 0, len(r.objects))
	for name, o := range r.objects {
		d := dbObject{name: name, kind: o.kind, names: []string{name}, created: o.file, altered: o.altered, columns: o.columns}
		if r.cluster() && o.sharded {
			d.names = append(d.names, name+"_local")
		}
		objs = append(objs, d)
	}
	slices.SortFunc(objs, func(a, b dbObject) int { return strings.Compare(a.name, b.name) })
	return migs, objs, nil
}

func renderFiles(fsys fs.FS, opt Options) ([]Migration, *renderer, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, nil, fmt.Errorf("list migrations: %w", err)
	}
	var migs []Migration
	for _, name := range names {
		m := fileRE.FindStringSubmatch(name)
		if m == nil {
			return nil, nil, fmt.Errorf("%w: %s: file name must be NNNN_name.sql", ErrInvalidMigration, name)
		}
		v, err := strconv.Atoi(m[1])
		if err != nil || v <= 0 {
			return nil, nil, fmt.Errorf("%w: %s: version must be a positive number", ErrInvalidMigration, name)
		}
		migs = append(migs, Migration{Version: v, Name: m[2], File: name})
	}
	slices.SortFunc(migs, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(migs); i++ {
		if migs[i].Version == migs[i-1].Version {
			return nil, nil, fmt.Errorf("%w: %s and %s have the same version", ErrInvalidMigration, migs[i-1].File, migs[i].File)
		}
	}
	r := newRenderer(opt)
	for i := range migs {
		m := &migs[i]
		data, err := fs.ReadFile(fsys, m.File)
		if err != nil {
			return nil, nil, fmt.Errorf("read migration: %w", err)
		}
		sum := sha256.Sum256(data)
		m.Checksum = hex.EncodeToString(sum[:])
		r.cur = m.File
		if m.Statements, err = r.file(string(data)); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", m.File, err)
		}
	}
	return migs, r, nil
}

// renderer carries what earlier statements created, because how a statement
// is rewritten for a cluster depends on the tables it names (an ALTER in
// 0005 of a table created in 0001).
type renderer struct {
	opt       Options
	objects   map[string]*object // by name within {db}
	onCluster string             // " ON CLUSTER 'name'", "" for single node
	subst     *strings.Replacer
	// allowReserved lets the bootstrap statement create schema_migrations,
	// which migration files must not touch.
	allowReserved bool
	cur           string // file being rendered
}

type object struct {
	kind string // TABLE, VIEW, MATERIALIZED VIEW, DICTIONARY
	// sharded tables are, on a cluster, name_local (Replicated*MergeTree)
	// plus a Distributed table called name.
	sharded bool
	file    string   // that created it
	altered []string // files that altered it since
	// columns of a table: each name and the file that added it, in the
	// order they were created or added (checkColumns).
	columns []column
}

// column is a table's column as the migrations leave it.
type column struct{ name, file string }

func newRenderer(opt Options) *renderer {
	r := &renderer{
		opt:     opt,
		objects: make(map[string]*object),
		subst: strings.NewReplacer(
			"{db}", opt.Database,
			"{prediction_ttl_days}", strconv.Itoa(opt.PredictionTTLDays),
			"{prediction_ttl_seconds}", strconv.Itoa(opt.PredictionTTLDays*86400),
		),
		onCluster: opt.onCluster(),
	}
	return r
}

func (r *renderer) cluster() bool { return r.opt.Cluster != "" }

// singleNodeOnly marks a file (a line comment of its own) that a cluster
// skips: it renders to no statement there and is recorded as applied. What
// it creates is unknown to the cluster rendering of later files.
const singleNodeOnly = "-- predlog: single-node only"

// file renders the statements of one file.
func (r *renderer) file(sql string) ([]string, error) {
	toks, err := lex(sql)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMigration, err)
	}
	if r.cluster() && slices.ContainsFunc(toks, func(t token) bool {
		return t.kind == tkComment && strings.TrimSpace(t.text) == singleNodeOnly
	}) {
		return nil, nil
	}
	var out []string
	for i, st := range splitStatements(toks) {
		rendered, err := r.statement(st)
		if err != nil {
			return nil, fmt.Errorf("statement %d (%s): %w", i+1, firstLine(joinTokens(st)), err)
		}
		for _, s := range rendered {
			out = append(out, r.subst.Replace(s))
		}
	}
	return out, nil
}

// Placeholders a migration may use; {shard}, {replica}, {database} and
// {table} are ClickHouse macros that only the cluster rendering writes.
var placeholders = map[string]bool{"{db}": true, "{prediction_ttl_days}": true, "{prediction_ttl_seconds}": true}

// statement renders one statement into one or more.
func (r *renderer) statement(toks []token) ([]string, error) {
	for _, t := range toks {
		if t.kind == tkPlaceholder && !placeholders[t.text] {
			return nil, fmt.Errorf("%w: unknown placeholder %s (want {db}, {prediction_ttl_days} or {prediction_ttl_seconds})", ErrInvalidMigration, t.text)
		}
	}
	s := newStmt(toks)
	switch w := s.word(0); w {
	case "CREATE":
		return r.create(s)
	case "ALTER":
		return r.alter(s)
	case "DROP":
		return r.drop(s)
	case "OPTIMIZE", "TRUNCATE":
		return r.tableCommand(s)
	case "INSERT", "SELECT", "WITH":
		// Through the Distributed table on a cluster: nothing to rewrite.
		return []string{s.String()}, nil
	case "RENAME", "EXCHANGE":
		if r.cluster() {
			return nil, fmt.Errorf("%w: %s statements are not supported by the cluster rendering", ErrInvalidMigration, w)
		}
		// Passed through as written, but followed: Check looks for the
		// objects under the names they end with.
		r.rename(s)
		return []string{s.String()}, nil
	default:
		if r.cluster() {
			return nil, fmt.Errorf("%w: %s statements are not supported by the cluster rendering", ErrInvalidMigration, w)
		}
		return []string{s.String()}, nil
	}
}

func (r *renderer) create(s *stmt) ([]string, error) {
	k := 1
	if s.word(k) == "OR" && s.word(k+1) == "REPLACE" {
		k += 2
	}
	kind := s.word(k)
	switch kind {
	case "TABLE", "VIEW", "DICTIONARY", "DATABASE", "FUNCTION":
		k++
	case "MATERIALIZED":
		if s.word(k+1) != "VIEW" {
			return nil, fmt.Errorf("%w: CREATE MATERIALIZED without VIEW", ErrInvalidMigration)
		}
		kind = "MATERIALIZED VIEW"
		k += 2
	default:
		return nil, fmt.Errorf("%w: unsupported CREATE %s", ErrInvalidMigration, kind)
	}
	n := s.afterIfNotExists(k)
	ifNotExists := n != k
	k = n
	switch kind {
	case "DATABASE":
		if s.text(k) != "{db}" {
			return nil, fmt.Errorf("%w: CREATE DATABASE must create {db}", ErrInvalidMigration)
		}
		s.appendAt(k, r.onCluster)
		return []string{s.String()}, nil
	case "FUNCTION":
		// Functions are global, not in {db}.
		s.appendAt(k, r.onCluster)
		return []string{s.String()}, nil
	}
	name, nk, ok := s.qualified(k)
	if !ok {
		return nil, fmt.Errorf("%w: CREATE %s: name must be written {db}.name", ErrInvalidMigration, kind)
	}
	if name == migrationsTable && !r.allowReserved {
		return nil, fmt.Errorf("%w: %s is reserved for the migration tool", ErrInvalidMigration, migrationsTable)
	}
	switch kind {
	case "TABLE":
		return r.createTable(s, name, nk, ifNotExists)
	case "MATERIALIZED VIEW":
		return r.createMV(s, name, nk)
	}
	r.objects[name] = &object{kind: kind, file: r.cur}
	s.appendAt(nk, r.onCluster)
	return []string{s.String()}, nil
}

const replicatedArgs = `'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'`

func (r *renderer) createTable(s *stmt, name string, nk int, ifNotExists bool) ([]string, error) {
	ke := s.findDepth0(nk+1, "ENGINE")
	if ke < 0 {
		return nil, fmt.Errorf("%w: CREATE TABLE %s: write the ENGINE out, the cluster rendering depends on it", ErrInvalidMigration, name)
	}
	ek := ke + 1
	if s.isPunct(ek, "=") {
		ek++
	}
	engine := s.text(ek)
	if strings.HasPrefix(engine, "Replicated") || engine == "Distributed" {
		return nil, fmt.Errorf("%w: CREATE TABLE %s: ENGINE %s: write single-node DDL, the cluster rendering adds replication and distribution", ErrInvalidMigration, name, engine)
	}
	sharded := strings.HasSuffix(engine, "MergeTree")
	r.objects[name] = &object{kind: "TABLE", sharded: sharded, file: r.cur, columns: r.tableColumns(s, nk)}
	if !r.cluster() {
		return []string{s.String()}, nil
	}
	// CREATE TABLE x AS {db}.y clones y; on a cluster, y's storage is y_local.
	if s.word(nk+1) == "AS" {
		if y, yk, ok := s.qualified(nk + 2); ok && r.sharded(y) {
			s.set(yk, y+"_local")
		}
	}
	if !sharded {
		s.appendAt(nk, r.onCluster)
		return []string{s.String()}, nil
	}
	if s.kindAt(nk) != tkWord {
		return nil, fmt.Errorf("%w: CREATE TABLE %s: the cluster rendering needs an unquoted table name", ErrInvalidMigration, name)
	}
	s.set(nk, name+"_local"+r.onCluster)
	s.set(ek, "Replicated"+engine)
	switch {
	case !s.isPunct(ek+1, "("):
		s.appendAt(ek, "("+replicatedArgs+")")
	case s.isPunct(ek+2, ")"):
		s.appendAt(ek+1, replicatedArgs)
	default:
		s.appendAt(ek+1, replicatedArgs+", ")
	}
	// Replicated tables deduplicate inserts by default
	// (replicated_deduplication_window); the non-replicated setting is
	// rejected by them.
	s.dropSetting(ke, "non_replicated_deduplication_window")

	key := "rand()"
	if dedupEngine(engine) || engine == "MergeTree" {
		if ob := s.orderBy(ke); ob != "" {
			key = "cityHash64(" + ob + ")"
		}
	}
	ifne := ""
	if ifNotExists {
		ifne = "IF NOT EXISTS "
	}
	dist := fmt.Sprintf("CREATE TABLE %s{db}.%s%s AS {db}.%s_local\nENGINE = Distributed('%s', '{db}', '%s_local', %s)",
		ifne, name, r.onCluster, name, r.opt.Cluster, name, key)
	return []string{s.String(), dist}, nil
}

// tableColumns returns the columns CREATE TABLE declares after its name at
// nk: its list, or those of the table it is created AS.
func (r *renderer) tableColumns(s *stmt, nk int) []column {
	if s.word(nk+1) == "AS" {
		var cols []column
		if y, _, ok := s.qualified(nk + 2); ok && r.objects[y] != nil {
			for _, c := range r.objects[y].columns {
				cols = append(cols, column{c.name, r.cur})
			}
		}
		return cols
	}
	if !s.isPunct(nk+1, "(") {
		return nil
	}
	var cols []column
	for _, c := range s.depth0List(nk+2, s.closing(nk+1)) {
		switch s.word(c[0]) {
		case "INDEX", "PROJECTION", "CONSTRAINT":
			continue
		}
		cols = append(cols, column{unquote(s.text(c[0])), r.cur})
	}
	return cols
}

// alterColumns applies ALTER TABLE's ADD, DROP and RENAME COLUMN commands
// (after the table's name at nk) to obj's columns.
func (r *renderer) alterColumns(s *stmt, nk int, obj *object) {
	for _, c := range s.depth0List(nk+1, len(s.sig)) {
		if s.word(c[0]+1) != "COLUMN" {
			continue
		}
		k := c[0] + 2
		switch s.word(c[0]) {
		case "ADD":
			name := unquote(s.text(s.afterIfNotExists(k)))
			if !slices.ContainsFunc(obj.columns, func(col column) bool { return col.name == name }) {
				obj.columns = append(obj.columns, column{name, r.cur})
			}
		case "DROP":
			name := unquote(s.text(s.afterIfExists(k)))
			obj.columns = slices.DeleteFunc(obj.columns, func(col column) bool { return col.name == name })
		case "RENAME":
			k = s.afterIfExists(k)
			from, to := unquote(s.text(k)), unquote(s.text(k+2))
			for i := range obj.columns {
				if obj.columns[i].name == from {
					obj.columns[i] = column{to, r.cur}
				}
			}
		}
	}
}

// unquote strips an identifier's backquotes or double quotes.
func unquote(id string) string {
	if len(id) >= 2 && (id[0] == '`' || id[0] == '"') && id[len(id)-1] == id[0] {
		return id[1 : len(id)-1]
	}
	return id
}

// dedupEngine reports engines that collapse rows with equal sorting keys
// during merges. Merges never cross shards, so their rows must be sharded by
// the sorting key or duplicates on different shards survive forever.
func dedupEngine(engine string) bool {
	for _, p := range []string{"Replacing", "Collapsing", "VersionedCollapsing"} {
		if strings.HasPrefix(engine, p) {
			return true
		}
	}
	return false
}

func (r *renderer) sharded(name string) bool {
	o := r.objects[name]
	return o != nil && o.sharded
}

func (r *renderer) createMV(s *stmt, name string, nk int) ([]string, error) {
	r.objects[name] = &object{kind: "MATERIALIZED VIEW", file: r.cur}
	ka := s.findDepth0(nk+1, "AS")
	if ka < 0 {
		return nil, fmt.Errorf("%w: MATERIALIZED VIEW %s: no AS SELECT", ErrInvalidMigration, name)
	}
	kt := s.findDepth0(nk+1, "TO")
	if kt < 0 || kt > ka {
		if r.cluster() {
			return nil, fmt.Errorf("%w: MATERIALIZED VIEW %s: the cluster rendering needs TO {db}.table (an implicit inner table would not be replicated)", ErrInvalidMigration, name)
		}
		return []string{s.String()}, nil
	}
	target, tk, ok := s.qualified(kt + 1)
	if !ok {
		return nil, fmt.Errorf("%w: MATERIALIZED VIEW %s: TO must name {db}.table", ErrInvalidMigration, name)
	}
	if r.objects[target] == nil {
		return nil, fmt.Errorf("%w: MATERIALIZED VIEW %s: target %s is not created by an earlier statement", ErrInvalidMigration, name, target)
	}
	if !r.cluster() {
		return []string{s.String()}, nil
	}
	s.appendAt(nk, r.onCluster)
	if r.sharded(target) {
		s.set(tk, target+"_local")
	}
	// A view fires on inserts into its source table, which on a cluster are
	// the inserts a Distributed table forwards to name_local on each shard.
	// Other tables it reads (joins, IN subqueries) keep their Distributed
	// name so they are read whole, not one shard's part.
	src, sk, ok := s.mvSource(ka + 1)
	if !ok {
		return nil, fmt.Errorf("%w: MATERIALIZED VIEW %s: cannot find the source table ({db}.name after FROM)", ErrInvalidMigration, name)
	}
	if r.sharded(src) {
		s.set(sk, src+"_local")
	}
	return []string{s.String()}, nil
}

// columnCommands are the ALTER commands a Distributed table must repeat to
// keep its columns in step with name_local.
var columnCommands = map[string]bool{"ADD": true, "DROP": true, "MODIFY": true, "RENAME": true, "COMMENT": true}

func (r *renderer) alter(s *stmt) ([]string, error) {
	if s.word(1) != "TABLE" {
		return nil, fmt.Errorf("%w: unsupported ALTER %s", ErrInvalidMigration, s.word(1))
	}
	name, nk, ok := s.qualified(2)
	if !ok {
		return nil, fmt.Errorf("%w: ALTER TABLE: name must be written {db}.name", ErrInvalidMigration)
	}
	obj := r.objects[name]
	if obj == nil {
		return nil, fmt.Errorf("%w: ALTER TABLE %s: table is not created by an earlier migration", ErrInvalidMigration, name)
	}
	if obj.file != r.cur && !slices.Contains(obj.altered, r.cur) {
		obj.altered = append(obj.altered, r.cur)
	}
	r.alterColumns(s, nk, obj)
	if !r.cluster() {
		return []string{s.String()}, nil
	}
	if !obj.sharded {
		if obj.kind == "MATERIALIZED VIEW" && s.findDepth0(nk+1, "QUERY") >= 0 {
			return nil, fmt.Errorf("%w: ALTER TABLE %s MODIFY QUERY is not supported by the cluster rendering; recreate the view", ErrInvalidMigration, name)
		}
		s.appendAt(nk, r.onCluster)
		return []string{s.String()}, nil
	}
	var cols []string
	drops := false
	for _, c := range s.depth0List(nk+1, len(s.sig)) {
		if s.word(c[0]+1) == "COLUMN" && columnCommands[s.word(c[0])] {
			cols = append(cols, s.span(c[0], c[1]))
			drops = drops || s.word(c[0]) == "DROP"
		}
	}
	s.set(nk, name+"_local"+r.onCluster)
	local := s.String()
	if len(cols) == 0 {
		return []string{local}, nil
	}
	dist := "ALTER TABLE {db}." + name + r.onCluster + "\n    " + strings.Join(cols, ",\n    ")
	if drops {
		// Stop reading a column through the Distributed table before it
		// disappears underneath.
		return []string{dist, local}, nil
	}
	// And add it underneath before the Distributed table offers it.
	return []string{local, dist}, nil
}

func (r *renderer) drop(s *stmt) ([]string, error) {
	kind := s.word(1)
	switch kind {
	case "TABLE", "VIEW", "DICTIONARY":
	case "FUNCTION":
		s.appendAt(s.afterIfExists(2), r.onCluster)
		return []string{s.String()}, nil
	default:
		return nil, fmt.Errorf("%w: unsupported DROP %s", ErrInvalidMigration, kind)
	}
	name, nk, ok := s.qualified(s.afterIfExists(2))
	if !ok {
		return nil, fmt.Errorf("%w: DROP %s: name must be written {db}.name", ErrInvalidMigration, kind)
	}
	if name == migrationsTable {
		return nil, fmt.Errorf("%w: %s is reserved for the migration tool", ErrInvalidMigration, migrationsTable)
	}
	sharded := r.sharded(name)
	delete(r.objects, name)
	s.appendAt(nk, r.onCluster)
	out := []string{s.String()}
	if r.cluster() && sharded {
		s.set(nk, name+"_local"+r.onCluster)
		out = append(out, s.String())
	}
	return out, nil
}

// rename follows RENAME TABLE|DICTIONARY {db}.a TO {db}.b[, ...] and
// EXCHANGE TABLES|DICTIONARIES {db}.a AND {db}.b in r.objects. Names not
// written {db}.name, or not created by a migration, are left alone.
func (r *renderer) rename(s *stmt) {
	if s.word(0) == "EXCHANGE" {
		a, _, okA := s.qualified(2)
		b, _, okB := s.qualified(6)
		if okA && okB && s.word(5) == "AND" {
			r.objects[a], r.objects[b] = r.objects[b], r.objects[a]
			for _, n := range []string{a, b} {
				if r.objects[n] == nil {
					delete(r.objects, n)
				}
			}
		}
		return
	}
	for _, e := range s.depth0List(2, len(s.sig)) {
		from, _, okF := s.qualified(e[0])
		to, _, okT := s.qualified(e[0] + 4)
		if !okF || !okT || s.word(e[0]+3) != "TO" {
			continue
		}
		if o := r.objects[from]; o != nil {
			delete(r.objects, from)
			r.objects[to] = o
		}
	}
}

// tableCommand handles OPTIMIZE TABLE and TRUNCATE [TABLE], which act on
// storage: name_local on a cluster.
func (r *renderer) tableCommand(s *stmt) ([]string, error) {
	k := 1
	if s.word(k) == "TABLE" {
		k++
	}
	name, nk, ok := s.qualified(s.afterIfExists(k))
	if !ok {
		return nil, fmt.Errorf("%w: %s: name must be written {db}.name", ErrInvalidMigration, s.word(0))
	}
	if r.objects[name] == nil {
		return nil, fmt.Errorf("%w: %s %s: table is not created by an earlier migration", ErrInvalidMigration, s.word(0), name)
	}
	if r.sharded(name) && r.cluster() {
		s.set(nk, name+"_local")
	}
	s.appendAt(nk, r.onCluster)
	return []string{s.String()}, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// stmt is one statement's tokens with an editable copy of their texts. Edits
// replace or extend whole tokens, so everything not edited is emitted
// exactly as written.
type stmt struct {
	toks []token
	sig  []int    // indexes into toks of the tokens that are not space or comments
	out  []string // output text per token
}

func newStmt(toks []token) *stmt {
	s := &stmt{toks: toks, out: make([]string, len(toks))}
	for i, t := range toks {
		s.out[i] = t.text
		if t.kind != tkSpace && t.kind != tkComment {
			s.sig = append(s.sig, i)
		}
	}
	return s
}

func (s *stmt) String() string { return strings.Join(s.out, "") }

// text returns the k-th significant token as written, "" past the end.
func (s *stmt) text(k int) string {
	if k < 0 || k >= len(s.sig) {
		return ""
	}
	return s.toks[s.sig[k]].text
}

func (s *stmt) kindAt(k int) tokKind {
	if k < 0 || k >= len(s.sig) {
		return tkSpace
	}
	return s.toks[s.sig[k]].kind
}

// word returns the k-th significant token upper-cased if it is a word.
func (s *stmt) word(k int) string {
	if s.kindAt(k) != tkWord {
		return ""
	}
	return strings.ToUpper(s.text(k))
}

func (s *stmt) isPunct(k int, p string) bool { return s.kindAt(k) == tkPunct && s.text(k) == p }

func (s *stmt) set(k int, text string)      { s.out[s.sig[k]] = text }
func (s *stmt) appendAt(k int, text string) { s.out[s.sig[k]] += text }

// qualified matches {db}.name at k, returning the name and its index.
func (s *stmt) qualified(k int) (string, int, bool) {
	if s.text(k) != "{db}" || !s.isPunct(k+1, ".") {
		return "", 0, false
	}
	switch s.kindAt(k + 2) {
	case tkWord, tkQuoted:
		return unquote(s.text(k + 2)), k + 2, true
	}
	return "", 0, false
}

func (s *stmt) afterIfExists(k int) int {
	if s.word(k) == "IF" && s.word(k+1) == "EXISTS" {
		return k + 2
	}
	return k
}

func (s *stmt) afterIfNotExists(k int) int {
	if s.word(k) == "IF" && s.word(k+1) == "NOT" && s.word(k+2) == "EXISTS" {
		return k + 3
	}
	return k
}

// findDepth0 returns the index of the first of words at or after from that
// is outside any parentheses opened after from; it stops at a closing
// parenthesis of an enclosing group. -1 if none.
func (s *stmt) findDepth0(from int, words ...string) int {
	depth := 0
	for k := from; k < len(s.sig); k++ {
		switch {
		case s.isPunct(k, "(") || s.isPunct(k, "["):
			depth++
		case s.isPunct(k, ")") || s.isPunct(k, "]"):
			depth--
			if depth < 0 {
				return -1
			}
		case depth == 0 && slices.Contains(words, s.word(k)):
			return k
		}
	}
	return -1
}

// depth0List splits [from, to) at commas outside parentheses into [a, b)
// ranges of significant-token indexes.
func (s *stmt) depth0List(from, to int) [][2]int {
	var out [][2]int
	depth, start := 0, from
	for k := from; k < to; k++ {
		switch {
		case s.isPunct(k, "(") || s.isPunct(k, "["):
			depth++
		case s.isPunct(k, ")") || s.isPunct(k, "]"):
			depth--
		case depth == 0 && s.isPunct(k, ","):
			out = append(out, [2]int{start, k})
			start = k + 1
		}
	}
	if start < to {
		out = append(out, [2]int{start, to})
	}
	return out
}

// span returns the output text from significant token a through b-1,
// including the space and comments between them.
func (s *stmt) span(a, b int) string {
	return strings.Join(s.out[s.sig[a]:s.sig[b-1]+1], "")
}

// blank removes the output of tokens i through j (token indexes).
func (s *stmt) blank(i, j int) {
	for ; i <= j; i++ {
		s.out[i] = ""
	}
}

// dropSetting removes setting name from the table-level SETTINGS clause at
// or after from, and the clause if it was the only setting.
func (s *stmt) dropSetting(from int, name string) {
	ks := s.findDepth0(from, "SETTINGS")
	if ks < 0 {
		return
	}
	end := s.findDepth0(ks+1, "COMMENT")
	if end < 0 {
		end = len(s.sig)
	}
	list := s.depth0List(ks+1, end)
	for i, e := range list {
		if !strings.EqualFold(s.text(e[0]), name) {
			continue
		}
		switch {
		case len(list) == 1:
			// From the space before SETTINGS through the value.
			s.blank(s.sig[ks-1]+1, s.sig[e[1]-1])
		case i < len(list)-1:
			// Through the comma and the space after it.
			s.blank(s.sig[e[0]], s.sig[e[1]+1]-1)
		default:
			// From the comma before it.
			s.blank(s.sig[e[0]-1], s.sig[e[1]-1])
		}
		return
	}
}

// orderBy returns the table's sorting key as a comma-separated expression
// list ("" for none or tuple()), reading from the ENGINE clause at ke.
func (s *stmt) orderBy(ke int) string {
	k := s.findDepth0(ke, "ORDER")
	if k < 0 || s.word(k+1) != "BY" {
		return ""
	}
	start := k + 2
	end := s.findDepth0(start, "PARTITION", "PRIMARY", "SAMPLE", "TTL", "SETTINGS", "COMMENT")
	if end < 0 {
		end = len(s.sig)
	}
	if end <= start {
		return ""
	}
	var parts []string
	for j := start; j < end; j++ {
		parts = append(parts, s.text(j))
	}
	// Parenthesised list: drop the outer parentheses when they enclose it all.
	if s.isPunct(start, "(") && s.closing(start) == end-1 {
		parts = parts[1 : len(parts)-1]
	}
	expr := joinExpr(parts)
	if expr == "tuple()" || expr == "" {
		return ""
	}
	return expr
}

// closing returns the index of the parenthesis closing the one at k.
func (s *stmt) closing(k int) int {
	depth := 0
	for j := k; j < len(s.sig); j++ {
		switch {
		case s.isPunct(j, "("):
			depth++
		case s.isPunct(j, ")"):
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// joinExpr joins significant tokens back into compact expression text:
// "a, toDate(ts)" from [a , toDate ( ts )].
func joinExpr(parts []string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 && isWordByte(p[0]) && isWordByte(parts[i-1][len(parts[i-1])-1]) {
			b.WriteByte(' ')
		}
		b.WriteString(p)
		if p == "," {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// mvSource finds the table a materialized view's SELECT (starting at from)
// reads: the first {db}.name after its FROM, descending into a subquery in
// FROM or a parenthesised SELECT, which is how ClickHouse picks the table
// whose inserts fire the view.
func (s *stmt) mvSource(from int) (string, int, bool) {
	for s.isPunct(from, "(") { // AS (SELECT ...)
		from++
	}
	kf := s.findDepth0(from, "FROM")
	if kf < 0 {
		return "", 0, false
	}
	if name, nk, ok := s.qualified(kf + 1); ok {
		return name, nk, true
	}
	if s.isPunct(kf+1, "(") {
		return s.mvSource(kf + 2)
	}
	return "", 0, false
}
