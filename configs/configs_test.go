package configs_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/predlog/predlog/internal/aggregate"
	"github.com/predlog/predlog/internal/api"
	"github.com/predlog/predlog/internal/config"
	"github.com/predlog/predlog/internal/dlq"
	"github.com/predlog/predlog/internal/ingest"
	"github.com/predlog/predlog/internal/telemetry"
)

// Paths relative to this package's directory (go test's working directory).
const (
	dashboardsDir     = "grafana/dashboards"
	datasourcesDir    = "grafana/provisioning/datasources"
	dashProvidersDir  = "grafana/provisioning/dashboards"
	prometheusConfig  = "prometheus.yml"
	alertRules        = "alerts.yml"
	composeFile       = "../docker-compose.yml"
	migrationsGlob    = "../clickhouse/migrations/*.sql"
	grafanaComposeSvc = "grafana"
	grafanaDashPrefix = "./configs/grafana/dashboards:"
)

// ---------------------------------------------------------------------------
// What exists: the daemons' metrics and the ClickHouse tables.

// metric is what a query may rely on: the metric's type and its labels.
type metric struct {
	kind   dto.MetricType
	labels map[string]bool
}

// catalog maps metric names, as registered, to their metric.
type catalog map[string]*metric

// recorder is a Registerer that remembers every metric registered through
// it, vectors included (Gather only shows a vector once it has a child).
type recorder struct {
	*prometheus.Registry
	cat catalog
}

var _ prometheus.Registerer = (*recorder)(nil)

// descRE reads the name and label names out of Desc.String(); Desc has no
// accessors for them.
var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}\}$`)

func (r *recorder) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	kind := dto.MetricType_UNTYPED // plain metrics: set from Gather below
	switch c.(type) {
	case *prometheus.HistogramVec:
		kind = dto.MetricType_HISTOGRAM
	case *prometheus.SummaryVec:
		kind = dto.MetricType_SUMMARY
	case *prometheus.CounterVec:
		kind = dto.MetricType_COUNTER
	case *prometheus.GaugeVec:
		kind = dto.MetricType_GAUGE
	}
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	var bad []string
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			bad = append(bad, d.String())
			continue
		}
		labels := map[string]bool{}
		for _, l := range strings.Split(m[2], ",") {
			if name, _, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
				labels[name] = true
			}
		}
		for _, l := range strings.Split(m[3], ",") {
			l = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(l), "c("), ")")
			if l != "" {
				labels[l] = true
			}
		}
		r.cat[m[1]] = &metric{kind: kind, labels: labels}
	}
	if len(bad) > 0 {
		return fmt.Errorf("unparsable descriptors (client_golang changed Desc.String?): %q", bad)
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// daemonMetrics builds the ingester's and the aggregator's metric-owning
// components in-process (nothing connects anywhere) and returns every
// metric they register, plus the series Prometheus adds itself.
func daemonMetrics(t *testing.T, targetLabels map[string]bool) catalog {
	t.Helper()
	r := &recorder{Registry: prometheus.NewRegistry(), cat: catalog{}}

	// Ingester: the pipeline and its dead-letter writer.
	if _, err := ingest.New(ingest.Config{
		GroupID: "configs-test",
		Brokers: []string{"127.0.0.1:1"},
		Topics:  map[string]ingest.Kind{"predlog.predictions": ingest.KindPredictions},
	}, nil, nil, nil, nil, r); err != nil {
		t.Fatalf("ingest.New: %v", err)
	}
	w, err := dlq.New(dlq.Config{Topic: "predlog.dlq"}, []string{"127.0.0.1:1"}, nil, nil, r)
	if err != nil {
		t.Fatalf("dlq.New: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })

	// Aggregator: the cycles and its query API. Neither touches the
	// connection or the store when built.
	acfg := aggregate.FromConfig(config.DefaultAggregator())
	acfg.Database = "predlog"
	if _, err := aggregate.New(acfg, struct{ driver.Conn }{}, nil, r); err != nil {
		t.Fatalf("aggregate.New: %v", err)
	}
	if _, err := api.New(api.Options{Store: struct{ api.Store }{}, Registerer: r}); err != nil {
		t.Fatalf("api.New: %v", err)
	}

	// Both daemons' /metrics: Go runtime, process and promhttp collectors.
	if _, err := telemetry.NewServer(telemetry.ServerOptions{Registry: r.Registry}); err != nil {
		t.Fatalf("telemetry.NewServer: %v", err)
	}
	mfs, err := r.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		m := r.cat[mf.GetName()]
		if m == nil {
			m = &metric{labels: map[string]bool{}}
			r.cat[mf.GetName()] = m
		}
		m.kind = mf.GetType()
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				m.labels[l.GetName()] = true
			}
		}
	}

	// Series Prometheus writes for every scrape target.
	for _, name := range []string{"up", "scrape_duration_seconds", "scrape_samples_scraped",
		"scrape_samples_post_metric_relabeling", "scrape_series_added"} {
		r.cat[name] = &metric{kind: dto.MetricType_GAUGE, labels: map[string]bool{}}
	}
	// Target labels (job, instance, static labels) are on every series.
	for _, m := range r.cat {
		for l := range targetLabels {
			m.labels[l] = true
		}
	}
	return r.cat
}

// scrapeTargetLabels returns the labels Prometheus attaches to every scraped
// series under configs/prometheus.yml: job, instance and static labels.
func scrapeTargetLabels(t *testing.T) map[string]bool {
	t.Helper()
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, prometheusConfig, &cfg)
	labels := map[string]bool{"job": true, "instance": true}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for l := range st.Labels {
				labels[l] = true
			}
		}
	}
	return labels
}

// table is a table or view created by clickhouse/migrations.
type table struct {
	engine string // e.g. ReplacingMergeTree; empty for views
}

var (
	createRE = regexp.MustCompile(`(?i)\bCREATE\s+(?:TABLE|MATERIALIZED\s+VIEW|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?\{db\}\.(\w+)`)
	engineRE = regexp.MustCompile(`(?i)\bENGINE\s*=\s*(\w+)`)
)

// migrationTables returns the tables of clickhouse/migrations/*.sql.
func migrationTables(t *testing.T) map[string]table {
	t.Helper()
	files, err := filepath.Glob(migrationsGlob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations at %s (%v)", migrationsGlob, err)
	}
	tables := map[string]table{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := stripSQLComments(string(b))
		creates := createRE.FindAllStringSubmatchIndex(src, -1)
		for i, c := range creates {
			end := len(src)
			if i+1 < len(creates) {
				end = creates[i+1][0]
			}
			var tb table
			if e := engineRE.FindStringSubmatch(src[c[1]:end]); e != nil {
				tb.engine = e[1]
			}
			tables[src[c[2]:c[3]]] = tb
		}
	}
	return tables
}

// ---------------------------------------------------------------------------
// PromQL: the metric names and label names an expression relies on, without
// a PromQL parser (github.com/prometheus/prometheus is not a dependency).

type promChecker struct {
	metrics catalog // target labels included
}

var (
	promStringRE   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promSelectorRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^{}]*)\}`)
	promMatcherRE  = regexp.MustCompile(`([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)`)
	promRangeRE    = regexp.MustCompile(`\[[^\[\]]*\]`)
	promGroupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)`)
	promIdentRE    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	legendLabelRE  = regexp.MustCompile(`\{\{\s*([a-zA-Z_]\w*)\s*\}\}`)
	promKeywords   = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	}
)

// resolve returns the registered metric behind a queried series name:
// histograms expose name_bucket, name_sum and name_count, summaries the
// latter two.
func (c promChecker) resolve(name string) (*metric, error) {
	if m, ok := c.metrics[name]; ok {
		return m, nil
	}
	for suffix, kinds := range map[string][]dto.MetricType{
		"_bucket": {dto.MetricType_HISTOGRAM},
		"_sum":    {dto.MetricType_HISTOGRAM, dto.MetricType_SUMMARY},
		"_count":  {dto.MetricType_HISTOGRAM, dto.MetricType_SUMMARY},
	} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if m, ok := c.metrics[base]; ok {
			if !slices.Contains(kinds, m.kind) {
				return nil, fmt.Errorf("metric %s: %s is a %s, it has no %s series", name, base, strings.ToLower(m.kind.String()), suffix)
			}
			return m, nil
		}
	}
	return nil, fmt.Errorf("unknown metric %s: no daemon registers it", name)
}

// check returns the problems of expr; legend is its Grafana legendFormat
// (may be empty).
func (c promChecker) check(expr, legend string) []error {
	var errs []error
	if strings.TrimSpace(expr) == "" {
		return []error{fmt.Errorf("empty expression")}
	}
	e := promStringRE.ReplaceAllString(expr, `""`)
	if err := balanced(e); err != nil {
		errs = append(errs, err)
	}

	// Label matchers, checked against their selector's metric.
	type use struct{ metric, label string }
	var matchers []use
	for _, m := range promSelectorRE.FindAllStringSubmatch(e, -1) {
		for _, l := range promMatcherRE.FindAllStringSubmatch(m[2], -1) {
			matchers = append(matchers, use{m[1], l[1]})
		}
	}
	e = promSelectorRE.ReplaceAllString(e, "$1 ")
	e = promRangeRE.ReplaceAllString(e, " ")
	var grouping []string
	for _, m := range promGroupingRE.FindAllStringSubmatch(e, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				grouping = append(grouping, l)
			}
		}
	}
	e = promGroupingRE.ReplaceAllString(e, " ")

	// What is left: function and aggregation names (followed by a
	// parenthesis), keywords, numbers, Grafana variables and metric names.
	available := map[string]bool{}
	found := 0
	for _, loc := range promIdentRE.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(e[loc[0]-1:loc[0]], "$0123456789.") {
			continue // $var, 1e3, 5m
		}
		if strings.HasPrefix(strings.TrimLeft(e[loc[1]:], " \t\n"), "(") || promKeywords[strings.ToLower(name)] {
			continue
		}
		found++
		m, err := c.resolve(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for l := range m.labels {
			available[l] = true
		}
		if strings.HasSuffix(name, "_bucket") {
			available["le"] = true
		}
	}
	if found == 0 {
		errs = append(errs, fmt.Errorf("no metric name found in %q", expr))
	}
	if len(errs) > 0 {
		return errs // the label checks below would only repeat them
	}
	for _, u := range matchers {
		if u.metric == "" {
			continue
		}
		m, err := c.resolve(u.metric)
		if err != nil {
			continue // reported above
		}
		if !m.labels[u.label] && !(u.label == "le" && strings.HasSuffix(u.metric, "_bucket")) {
			errs = append(errs, fmt.Errorf("metric %s has no label %q", u.metric, u.label))
		}
	}
	for _, l := range grouping {
		if !available[l] {
			errs = append(errs, fmt.Errorf("grouping by %q, a label none of the expression's metrics has", l))
		}
	}
	for _, m := range legendLabelRE.FindAllStringSubmatch(legend, -1) {
		if !available[m[1]] {
			errs = append(errs, fmt.Errorf("legend uses {{%s}}, a label none of the expression's metrics has", m[1]))
		}
	}
	return errs
}

// balanced reports unbalanced (), [] and {} in s (strings already blanked).
func balanced(s string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for _, r := range s {
		switch r {
		case '(', '[', '{':
			stack = append(stack, r)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return fmt.Errorf("unbalanced %q", r)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("unclosed %q", stack[len(stack)-1])
	}
	return nil
}

// ---------------------------------------------------------------------------
// ClickHouse SQL: the tables a query reads.

type sqlChecker struct {
	tables map[string]table
}

var (
	sqlStringRE    = regexp.MustCompile(`'(?:[^'\\]|\\.|'')*'`)
	sqlLineComment = regexp.MustCompile(`--[^\n]*`)
	// Dashboards name the database through their $database variable.
	sqlTableRE     = regexp.MustCompile(`\$\{database\}\.(\w+)`)
	sqlLiteralDBRE = regexp.MustCompile(`\bpredlog\.\w+`)
	sqlFinalRE     = regexp.MustCompile(`^\s+(?i:AS\s+\w+\s+)?(?i:FINAL)\b`)
	sqlFromRE      = regexp.MustCompile(`(?i)\b(?:FROM|JOIN)\s+([a-zA-Z_]\w*)(\s*\.)?`)
)

func stripSQLComments(s string) string { return sqlLineComment.ReplaceAllString(s, " ") }

// check returns the problems of a query. Panel queries must read the
// ReplacingMergeTree tables with FINAL (else rows recomputed by the
// aggregator count twice); variable queries list distinct values and may
// skip it.
func (c sqlChecker) check(query string, needFinal bool) []error {
	if strings.TrimSpace(query) == "" {
		return []error{fmt.Errorf("empty query")}
	}
	var errs []error
	q := sqlStringRE.ReplaceAllString(stripSQLComments(query), "''")
	if err := balanced(q); err != nil {
		errs = append(errs, err)
	}
	for _, m := range sqlFromRE.FindAllStringSubmatch(q, -1) {
		if m[2] == "" {
			errs = append(errs, fmt.Errorf("table %s is not read through the dashboard's database variable (${database}.%[1]s)", m[1]))
		}
	}
	for _, m := range sqlLiteralDBRE.FindAllString(q, -1) {
		errs = append(errs, fmt.Errorf("%s names the database: use ${database}.", m))
	}
	tables := sqlTableRE.FindAllStringSubmatchIndex(q, -1)
	if len(tables) == 0 {
		errs = append(errs, fmt.Errorf("reads no ${database}.<table>"))
	}
	for _, m := range tables {
		name := q[m[2]:m[3]]
		tb, ok := c.tables[name]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown table %s: no migration creates it", name))
			continue
		}
		if needFinal && tb.engine == "ReplacingMergeTree" && !sqlFinalRE.MatchString(q[m[1]:]) {
			errs = append(errs, fmt.Errorf("%s is a ReplacingMergeTree: read it with FINAL", name))
		}
	}
	return errs
}

// ---------------------------------------------------------------------------
// Grafana files.

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID        string `json:"refId"`
	Datasource   *dsRef `json:"datasource"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
	RawSQL       string `json:"rawSql"`
}

type panel struct {
	ID         int      `json:"id"`
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Datasource *dsRef   `json:"datasource"`
	GridPos    *gridPos `json:"gridPos"`
	Targets    []target `json:"targets"`
	Panels     []panel  `json:"panels"` // collapsed rows
}

type gridPos struct{ H, W, X, Y int }

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource *dsRef          `json:"datasource"`
	Query      json.RawMessage `json:"query"`
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

// allPanels returns the panels, those inside collapsed rows included.
func (d *dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// query is one query of a dashboard, with where it comes from.
type query struct {
	where    string
	ds       dsRef
	text     string
	legend   string
	variable bool
}

// queries returns the panel targets and variable queries of d, resolving
// each one's datasource (the target's, else its panel's).
func (d *dashboard) queries(t *testing.T) []query {
	t.Helper()
	var out []query
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			ds := tg.Datasource
			if ds == nil {
				ds = p.Datasource
			}
			if ds == nil {
				t.Errorf("panel %d %q target %s: no datasource", p.ID, p.Title, tg.RefID)
				continue
			}
			text := tg.Expr
			if ds.Type != "prometheus" {
				text = tg.RawSQL
			}
			out = append(out, query{where: fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), ds: *ds, text: text, legend: tg.LegendFormat})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if v.Datasource == nil {
			t.Errorf("variable %s: no datasource", v.Name)
			continue
		}
		// A string, or an object holding rawSql (ClickHouse) or query
		// (Prometheus).
		var text string
		if err := json.Unmarshal(v.Query, &text); err != nil {
			var obj struct{ RawSQL, Query string }
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Errorf("variable %s: query is neither a string nor an object: %v", v.Name, err)
				continue
			}
			text = obj.RawSQL + obj.Query
		}
		out = append(out, query{where: "variable " + v.Name, ds: *v.Datasource, text: text, variable: true})
	}
	return out
}

// provisionedDatasources returns the uid -> type of the provisioned datasources.
func provisionedDatasources(t *testing.T) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(datasourcesDir, "*.yml"))
	if len(files) == 0 {
		t.Fatalf("no datasources in %s", datasourcesDir)
	}
	out := map[string]string{}
	for _, f := range files {
		var cfg struct {
			Datasources []struct {
				Name string `yaml:"name"`
				UID  string `yaml:"uid"`
				Type string `yaml:"type"`
			} `yaml:"datasources"`
		}
		readYAML(t, f, &cfg)
		for _, ds := range cfg.Datasources {
			if ds.UID == "" || ds.Type == "" {
				t.Errorf("%s: datasource %q needs a uid (dashboards refer to it) and a type", f, ds.Name)
			}
			if _, dup := out[ds.UID]; dup {
				t.Errorf("%s: datasource uid %q provisioned twice", f, ds.UID)
			}
			out[ds.UID] = ds.Type
		}
	}
	return out
}

var grafanaVarRE = regexp.MustCompile(`\$\{?(\w+)`)

// builtinVar reports Grafana's global variables and macros ($__range,
// $__rate_interval, $__timeFilter, ...).
func builtinVar(name string) bool { return strings.HasPrefix(name, "__") }

// minSchemaVersion is the dashboard schema of Grafana 10.4/11 exports.
const minSchemaVersion = 39

var panelTypes = map[string]bool{"row": true, "timeseries": true, "table": true, "stat": true}

func TestDashboards(t *testing.T) {
	targetLabels := scrapeTargetLabels(t)
	prom := promChecker{metrics: daemonMetrics(t, targetLabels)}
	sql := sqlChecker{tables: migrationTables(t)}
	datasources := provisionedDatasources(t)

	files, _ := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no dashboards in %s", dashboardsDir)
	}
	uids := map[string]string{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(b) {
				var v any
				t.Fatalf("invalid JSON: %v", json.Unmarshal(b, &v))
			}
			var d dashboard
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatalf("not a dashboard: %v", err)
			}
			if prev, dup := uids[d.UID]; dup {
				t.Errorf("uid %q also used by %s", d.UID, prev)
			}
			uids[d.UID] = f

			checks := []struct {
				name  string
				check func(t *testing.T, d *dashboard)
			}{
				{"stable uid and title", func(t *testing.T, d *dashboard) {
					// Links and bookmarks use the uid: it is the file name.
					if want := strings.TrimSuffix(filepath.Base(f), ".json"); d.UID != want {
						t.Errorf("uid %q, want %q (the file name)", d.UID, want)
					}
					if d.Title == "" {
						t.Error("no title")
					}
				}},
				{"schema version", func(t *testing.T, d *dashboard) {
					if d.SchemaVersion < minSchemaVersion {
						t.Errorf("schemaVersion %d, want >= %d", d.SchemaVersion, minSchemaVersion)
					}
				}},
				{"panels", func(t *testing.T, d *dashboard) {
					ids := map[int]string{}
					for _, p := range d.allPanels() {
						if p.ID <= 0 {
							t.Errorf("panel %q: id %d, want > 0", p.Title, p.ID)
						}
						if prev, dup := ids[p.ID]; dup {
							t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
						}
						ids[p.ID] = p.Title
						if !panelTypes[p.Type] {
							t.Errorf("panel %d %q: type %q, want one of row, timeseries, table, stat", p.ID, p.Title, p.Type)
						}
						if p.Title == "" {
							t.Errorf("panel %d: no title", p.ID)
						}
						if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
							t.Errorf("panel %d %q: gridPos %+v outside the 24-column grid", p.ID, p.Title, p.GridPos)
						}
						if p.Type == "row" {
							continue
						}
						if len(p.Targets) == 0 {
							t.Errorf("panel %d %q: no queries", p.ID, p.Title)
						}
						refs := map[string]bool{}
						for _, tg := range p.Targets {
							if tg.RefID == "" || refs[tg.RefID] {
								t.Errorf("panel %d %q: missing or duplicate refId %q", p.ID, p.Title, tg.RefID)
							}
							refs[tg.RefID] = true
						}
					}
				}},
				{"queries", func(t *testing.T, d *dashboard) {
					vars := map[string]bool{}
					for _, v := range d.Templating.List {
						vars[v.Name] = true
					}
					for _, q := range d.queries(t) {
						if typ, ok := datasources[q.ds.UID]; !ok || typ != q.ds.Type {
							t.Errorf("%s: datasource %+v is not provisioned (have %v)", q.where, q.ds, datasources)
							continue
						}
						var errs []error
						switch q.ds.Type {
						case "prometheus":
							errs = prom.check(q.text, q.legend)
						case "grafana-clickhouse-datasource":
							errs = sql.check(q.text, !q.variable)
						default:
							errs = []error{fmt.Errorf("no checker for datasource type %s", q.ds.Type)}
						}
						for _, m := range grafanaVarRE.FindAllStringSubmatch(q.text, -1) {
							if !builtinVar(m[1]) && !vars[m[1]] {
								errs = append(errs, fmt.Errorf("undefined variable $%s", m[1]))
							}
						}
						for _, err := range errs {
							t.Errorf("%s: %v\n%s", q.where, err, q.text)
						}
					}
				}},
			}
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) { c.check(t, &d) })
			}
		})
	}
}

// TestGrafanaProvisioning checks that docker-compose.yml gives Grafana what
// the provisioning files expect: the dashboards at the provider's path, the
// datasource plugins and the environment they expand.
func TestGrafanaProvisioning(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	readYAML(t, composeFile, &compose)
	grafana, ok := compose.Services[grafanaComposeSvc]
	if !ok {
		t.Fatalf("%s: no %s service", composeFile, grafanaComposeSvc)
	}

	providers, _ := filepath.Glob(filepath.Join(dashProvidersDir, "*.yml"))
	if len(providers) == 0 {
		t.Fatalf("no dashboard providers in %s", dashProvidersDir)
	}
	for _, f := range providers {
		var cfg struct {
			Providers []struct {
				Name    string `yaml:"name"`
				Type    string `yaml:"type"`
				Options struct {
					Path string `yaml:"path"`
				} `yaml:"options"`
			} `yaml:"providers"`
		}
		readYAML(t, f, &cfg)
		for _, p := range cfg.Providers {
			if p.Type != "file" || p.Options.Path == "" {
				t.Errorf("%s: provider %q: want type file with options.path", f, p.Name)
				continue
			}
			mounted := slices.ContainsFunc(grafana.Volumes, func(v string) bool {
				dst, ok := strings.CutPrefix(v, grafanaDashPrefix)
				return ok && strings.TrimSuffix(dst, ":ro") == p.Options.Path
			})
			if !mounted {
				t.Errorf("%s: provider %q reads %s, but %s mounts no %s there (volumes %q)",
					f, p.Name, p.Options.Path, composeFile, grafanaDashPrefix, grafana.Volumes)
			}
		}
	}

	plugins := strings.Split(grafana.Environment["GF_INSTALL_PLUGINS"], ",")
	envRE := regexp.MustCompile(`\$\{?([A-Z_][A-Z0-9_]*)\}?`)
	files, _ := filepath.Glob(filepath.Join(datasourcesDir, "*.yml"))
	for uid, typ := range provisionedDatasources(t) {
		if typ != "prometheus" && !slices.Contains(plugins, typ) {
			t.Errorf("datasource %s has type %s, a plugin missing from GF_INSTALL_PLUGINS %q", uid, typ, plugins)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range envRE.FindAllStringSubmatch(line, -1) {
				if _, ok := grafana.Environment[m[1]]; !ok {
					t.Errorf("%s expands $%s, which the %s service's environment does not set", f, m[1], grafanaComposeSvc)
				}
			}
		}
	}
}

// TestAlertRules checks configs/alerts.yml: it parses, Prometheus loads it,
// and every rule queries metrics the daemons register.
func TestAlertRules(t *testing.T) {
	var prom struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	readYAML(t, prometheusConfig, &prom)
	if !slices.Contains(prom.RuleFiles, alertRules) {
		t.Errorf("%s: rule_files %q do not load %s", prometheusConfig, prom.RuleFiles, alertRules)
	}

	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Record      string            `yaml:"record"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, alertRules, &rules)
	if len(rules.Groups) == 0 {
		t.Fatalf("%s: no rule groups", alertRules)
	}
	targetLabels := scrapeTargetLabels(t)
	checker := promChecker{metrics: daemonMetrics(t, targetLabels)}
	names := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			if (r.Alert == "") == (r.Record == "") {
				t.Errorf("group %s: rule %q: want exactly one of alert and record", g.Name, name)
			}
			if r.Alert != "" && names[r.Alert] {
				t.Errorf("group %s: alert %s defined twice", g.Name, r.Alert)
			}
			names[r.Alert] = true
			for _, err := range checker.check(r.Expr, "") {
				t.Errorf("group %s: rule %s: %v\n%s", g.Name, name, err, r.Expr)
			}
		}
	}
}

// TestAlertRulesFire runs promtool's unit tests of the alert rules
// (alerts_test.yml) with $PREDLOG_PROMTOOL (make test fetches it) or the
// promtool on PATH; TestAlertRules checks the names and labels without it.
func TestAlertRulesFire(t *testing.T) {
	promtool := os.Getenv("PREDLOG_PROMTOOL")
	if promtool == "" {
		var err error
		if promtool, err = exec.LookPath("promtool"); err != nil {
			t.Skip("promtool not found: set PREDLOG_PROMTOOL, or run scripts/fetch-promtool.sh (Debian's prometheus package)")
		}
	}
	out, err := exec.Command(promtool, "test", "rules", "alerts_test.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules alerts_test.yml: %v\n%s", err, out)
	}
}

// TestCheckers shows that the checks above catch the mistakes they are for.
func TestCheckers(t *testing.T) {
	targetLabels := scrapeTargetLabels(t)
	prom := promChecker{metrics: daemonMetrics(t, targetLabels)}
	sql := sqlChecker{tables: migrationTables(t)}

	promTests := []struct {
		name, give, legend string
		wantErr            string // "" for none
	}{
		{"counter rate", `sum by (topic) (rate(predlog_ingester_consumed_messages_total[$__rate_interval]))`, "{{topic}}", ""},
		{"histogram quantile", `histogram_quantile(0.99, sum by (le, table) (rate(predlog_ingester_insert_duration_seconds_bucket[5m])))`, "", ""},
		{"dlq and api", `sum(rate(predlog_ingester_dlq_messages_total[1m])) + sum(rate(predlog_aggregator_api_requests_total{code="200"}[1m]))`, "", ""},
		{"up and offset", `up{job=~"predlog-.*", daemon="ingester"} == 0 or up offset 5m`, "{{instance}}", ""},
		{"runtime collectors", `go_goroutines + process_resident_memory_bytes`, "", ""},
		{"bogus metric", `sum(rate(predlog_ingester_bogus_total[5m]))`, "", "unknown metric predlog_ingester_bogus_total"},
		{"bucket of a counter", `rate(predlog_ingester_commits_total_bucket[5m])`, "", "it has no _bucket series"},
		{"grouping by a missing label", `sum by (model) (rate(predlog_ingester_inserted_rows_total[5m]))`, "", `grouping by "model"`},
		{"matcher on a missing label", `predlog_aggregator_cycles_total{status="error"}`, "", `has no label "status"`},
		{"legend label", `sum by (table) (predlog_ingester_inserted_rows_total)`, "{{topic}}", "legend uses {{topic}}"},
		{"unbalanced", `sum(rate(predlog_ingester_commits_total[5m])`, "", "unclosed"},
	}
	for _, tt := range promTests {
		t.Run("promql/"+tt.name, func(t *testing.T) {
			assertErrs(t, prom.check(tt.give, tt.legend), tt.wantErr)
		})
	}

	sqlTests := []struct {
		name, give string
		needFinal  bool
		wantErr    string
	}{
		{"final", "SELECT f1 FROM ${database}.performance_metrics FINAL WHERE model_id = 'm'", true, ""},
		{"rollup", "SELECT sum(prediction_count) FROM ${database}.prediction_stats_1m WHERE minute >= now() - INTERVAL 1 HOUR -- predlog.nope", true, ""},
		{"variable without final", "SELECT DISTINCT model_id FROM ${database}.models", false, ""},
		{"bogus table", "SELECT 1 FROM ${database}.prediction_stats_5m", true, "unknown table prediction_stats_5m"},
		{"missing final", "SELECT * FROM ${database}.drift_metrics WHERE flagged", true, "read it with FINAL"},
		{"alias and final", "SELECT d.psi FROM ${database}.drift_metrics AS d FINAL", true, ""},
		{"unqualified", "SELECT * FROM ab_results FINAL", true, "database variable"},
		{"literal database", "SELECT * FROM predlog.ab_results FINAL", true, "predlog.ab_results names the database"},
		{"subquery", "SELECT x FROM (SELECT 1 AS x FROM ${database}.prediction_logs)", true, ""},
	}
	for _, tt := range sqlTests {
		t.Run("sql/"+tt.name, func(t *testing.T) {
			assertErrs(t, sql.check(tt.give, tt.needFinal), tt.wantErr)
		})
	}
}

func assertErrs(t *testing.T, errs []error, want string) {
	t.Helper()
	if want == "" {
		for _, err := range errs {
			t.Errorf("unexpected: %v", err)
		}
		return
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), want) {
			return
		}
	}
	t.Errorf("got %v, want an error containing %q", errs, want)
}

// readYAML decodes the YAML file path into v. Unknown keys are ignored: the
// structs above name only what the tests look at.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
