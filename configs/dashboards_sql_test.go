package configs_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/predlog/predlog/internal/testenv"
	"github.com/predlog/predlog/internal/testenv/testschema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// grafanaTimeFilter is the ClickHouse datasource's $__timeFilter(column).
var grafanaTimeFilter = regexp.MustCompile(`\$__timeFilter\((\w+)\)`)

// TestDashboardSQLRuns runs every ClickHouse query of the dashboards (panels
// and variables) against a database migrated to the current schema, with
// the variables and macros Grafana would substitute: TestDashboards checks
// the tables they name, this that ClickHouse accepts them (columns, types,
// functions).
func TestDashboardSQLRuns(t *testing.T) {
	st := testenv.Get(t)
	db := testschema.Database(t, st)
	files, _ := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	ran := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, q := range d.queries(t) {
			if q.ds.Type != "grafana-clickhouse-datasource" {
				continue
			}
			sql := strings.NewReplacer("${database}", "`"+db+"`", "${model:sqlstring}", "'it''s {m}'",
				"${granularity:sqlstring}", "'1h'").Replace(q.text)
			sql = grafanaTimeFilter.ReplaceAllString(sql, "$1 >= now() - INTERVAL 6 HOUR AND $1 <= now()")
			if strings.Contains(sql, "$") {
				t.Errorf("%s %s: a variable or macro this test does not substitute:\n%s", filepath.Base(f), q.where, sql)
				continue
			}
			if _, err := st.Query(t.Context(), db, sql); err != nil {
				t.Errorf("%s %s: %v\n%s", filepath.Base(f), q.where, err, sql)
			}
			ran++
		}
	}
	if ran == 0 {
		t.Fatal("no ClickHouse queries found in the dashboards")
	}
}
