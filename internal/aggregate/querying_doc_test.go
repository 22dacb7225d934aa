package aggregate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/pkg/events"
)

// docQuery matches a SQL block of docs/querying.md and its name.
var docQuery = regexp.MustCompile("(?s)```sql\n(.*?)```")

// TestQueryingDoc runs every query of docs/querying.md against the output
// of two cycles over generated predictions (two models, two versions, a
// region slice key and an experiment: every kind of row that repeats the
// same predictions; late outcomes between the cycles, with merges stopped,
// so that recomputed windows have older rows beside them; a superseded
// cumulative verdict, as a cluster keeps one; a drifting feature; a model
// serving in the last minutes) and checks their answers against the truth
// counted here from the generated rows: a dashboard that copies them
// counts each prediction once.
func TestQueryingDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/querying.md")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	for _, table := range []string{"performance_metrics", "drift_metrics", "ab_results"} {
		e.st.Exec(t, e.db, "SYSTEM STOP MERGES "+table)
	}
	now := time.Now().UTC()
	from := floorTo(now.Add(-3*time.Hour), time.Hour)
	e.insertModel("m", "v1", events.ProblemBinary, 0.5, "1")
	e.insertJSON("feature_importance", func(b *chwriter.JSONBlock) error {
		return b.AppendFeatureImportance(&events.FeatureImportance{ModelID: "m", ModelVersion: "v1", Method: "shap", Scope: events.ScopeGlobal,
			ComputedAt: now.UnixMilli(), Importances: events.Float64Map{Keys: []string{"x", "y"}, Values: []float64{0.7, 0.1}}})
	})
	type counts struct{ n, tp, fp, fn float64 }
	truth := map[string]*counts{} // by model, model/version and variant
	add := func(key string, pos, actual, labeled bool) {
		c := truth[key]
		if c == nil {
			c = &counts{}
			truth[key] = c
		}
		c.n++
		switch {
		case !labeled:
		case pos && actual:
			c.tp++
		case pos:
			c.fp++
		case actual:
			c.fn++
		}
	}
	r := rand.New(rand.NewPCG(7, 7))
	var preds []events.PredictionLog
	var outs, late []events.Outcome
	for i := range 3000 {
		model, version, variant := "m", "v1", "A"
		switch i % 3 {
		case 1:
			version, variant = "v2", "B"
		case 2:
			model, version, variant = "n", "v1", ""
		}
		p := events.PredictionLog{RequestID: fmt.Sprint("r", i), ModelID: model, ModelVersion: version,
			EventTime: ms(from.Add(time.Duration(r.Int64N(int64(2 * time.Hour))))), LatencyMs: 10 + r.Float64()*10,
			Status: events.StatusOK, Score: r.Float64(), HasScore: true,
			Metadata:   events.StringMap{Keys: []string{"region"}, Values: []string{[]string{"eu", "us", "ap"}[r.IntN(3)]}},
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
		if variant != "" {
			p.ExperimentID, p.Variant = "exp", variant
		}
		// Feature x drifts from the first hour to the second, and so does
		// z, which only m's v2 sends (v2 has no importances); y does not.
		shift := 0.0
		if time.UnixMilli(p.EventTime).Sub(from) >= time.Hour {
			shift = 3
		}
		p.NumFeatures = events.Float64Map{Keys: []string{"x", "y"}, Values: []float64{shift + r.Float64(), r.Float64()}}
		if version == "v2" {
			p.NumFeatures.Keys = append(p.NumFeatures.Keys, "z")
			p.NumFeatures.Values = append(p.NumFeatures.Values, shift+r.Float64())
		}
		labeled, actual := r.Float64() < 0.7, r.Float64() < 0.5
		if labeled {
			label := map[bool]string{true: "1", false: "0"}[actual]
			o := events.Outcome{RequestID: p.RequestID, ModelID: model, EventTime: p.EventTime + 30_000,
				Label: label, HasLabel: true, Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}}
			if i%7 == 0 { // arrives after the first cycle
				o.Provenance.IngestTime = ms(now.Add(time.Minute))
				late = append(late, o)
			} else {
				outs = append(outs, o)
			}
		}
		pos := p.Score >= 0.5
		add(model, pos, actual, labeled)
		add(model+"/"+version, pos, actual, labeled)
		if variant != "" {
			add("exp/"+variant, pos, actual, labeled)
		}
		preds = append(preds, p)
	}
	// Model rt serves in the last minutes only: the real-time table's.
	const recent = 50
	for i := range recent {
		preds = append(preds, events.PredictionLog{RequestID: fmt.Sprint("rt", i), ModelID: "rt", ModelVersion: "v1",
			EventTime: ms(now.Add(-time.Duration(i+1) * time.Second)), LatencyMs: 5, Status: events.StatusOK,
			Provenance: events.Provenance{IngestTime: ms(now.Add(-time.Minute))}})
	}
	e.insertPredictions(preds)
	e.insertOutcomes(outs)
	cfg := e.config()
	cfg.SliceKeys = []string{"region"}
	a := e.aggregator(cfg)
	if _, err := a.RunOnce(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	e.insertOutcomes(late)
	if _, err := a.RunOnce(context.Background(), now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A superseded cumulative verdict, as a cluster keeps it: an older
	// computation from a later start (the start only moves back).
	e.st.Exec(t, e.db, `INSERT INTO ab_results SELECT * REPLACE (window_start + INTERVAL 1 HOUR AS window_start,
		computed_at - INTERVAL 1 HOUR AS computed_at, prediction_count * 2 AS prediction_count)
		FROM ab_results FINAL WHERE granularity = 'cumulative'`)
	// An older computation of every drift row, flagged with a PSI of 99.
	e.st.Exec(t, e.db, `INSERT INTO drift_metrics SELECT * REPLACE (computed_at - INTERVAL 1 HOUR AS computed_at, true AS flagged, 99 AS psi)
		FROM drift_metrics FINAL`)
	// Outcomes past their label horizon, as the routing inserts them (the
	// routed tests check that it does): two requests of n, 7 and 8 hours
	// after their predictions, one of them copied twice (a cycle repeated
	// after a failure, under its own clock).
	e.st.Exec(t, e.db, fmt.Sprintf(`INSERT INTO routed_outcomes (pred_time, model_id, request_id, event_time, label, value, routed_at, past_horizon) VALUES
		('%[1]s', 'n', 'r2', '%[1]s' + INTERVAL 7 HOUR, '1', NULL, '%[2]s', true),
		('%[1]s', 'n', 'r5', '%[1]s' + INTERVAL 8 HOUR, '0', NULL, '%[2]s', true),
		('%[1]s', 'n', 'r2', '%[1]s' + INTERVAL 7 HOUR, '1', NULL, '%[3]s', true)`,
		chTime64(from), chTime64(now), chTime64(now.Add(time.Second))))
	if n := e.rows(`SELECT count() AS n FROM performance_metrics WHERE granularity = '1h'`)[0]; num(t, n, "n") <=
		num(t, e.rows(`SELECT count() AS n FROM performance_metrics FINAL WHERE granularity = '1h'`)[0], "n") {
		t.Fatal("no recomputed 1h rows beside the older ones: the test cannot tell a query without FINAL")
	}

	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	quality := func(what string, row map[string]any, c *counts) {
		t.Helper()
		near(what+" precision", num(t, row, "precision"), c.tp/(c.tp+c.fp))
		if _, ok := row["recall"]; ok {
			near(what+" recall", num(t, row, "recall"), c.tp/(c.tp+c.fn))
		}
		if _, ok := row["f1"]; ok {
			near(what+" f1", num(t, row, "f1"), 2*c.tp/(2*c.tp+c.fp+c.fn))
		}
	}
	checks := map[string]func(rows []map[string]any){
		"hourly_quality": func(rows []map[string]any) {
			sums, n := map[string]float64{}, 0
			for _, row := range rows {
				if m := row["model_id"].(string); m != "rt" {
					sums[m] += num(t, row, "prediction_count")
					n++
				}
			}
			for _, m := range []string{"m", "n"} {
				near("hourly predictions of "+m, sums[m], truth[m].n)
			}
			if n != 4 {
				t.Errorf("hourly rows: %d, want 2 models x 2 hours", n)
			}
		},
		"period_quality": func(rows []map[string]any) {
			seen := 0
			for _, row := range rows {
				m := row["model_id"].(string)
				if m == "rt" {
					continue
				}
				seen++
				near("period predictions of "+m, num(t, row, "predictions"), truth[m].n)
				quality("period "+m, row, truth[m])
			}
			if seen != 2 {
				t.Errorf("period rows: %v", rows)
			}
		},
		"versions": func(rows []map[string]any) {
			if len(rows) != 2 {
				t.Fatalf("version rows: %v", rows)
			}
			for _, row := range rows {
				c := truth["m/"+row["model_version"].(string)]
				near("predictions of "+row["model_version"].(string), num(t, row, "predictions"), c.n)
				quality("version "+row["model_version"].(string), row, c)
			}
		},
		"versions_with_metadata": func(rows []map[string]any) {
			if len(rows) != 2 || rows[0]["stage"] == nil || rows[1]["stage"] != nil {
				t.Errorf("versions with metadata: %v, want v1 with a stage and v2 (no record) with NULL", rows)
			}
			for _, row := range rows {
				near("predictions of "+row["model_version"].(string), num(t, row, "predictions"), truth["m/"+row["model_version"].(string)].n)
			}
		},
		"ab_verdict": func(rows []map[string]any) {
			n := map[string]float64{}
			for _, row := range rows {
				if row["metric"] == "error_rate" {
					n[row["variant"].(string)] += num(t, row, "prediction_count")
				}
			}
			if len(rows) != 2*len(abMetrics) {
				t.Errorf("verdict rows: %d, want %d", len(rows), 2*len(abMetrics))
			}
			for _, v := range []string{"A", "B"} {
				near("cumulative predictions of "+v, n[v], truth["exp/"+v].n)
			}
		},
		"drifted_features": func(rows []map[string]any) {
			// x in both versions with v1's importance, z in v2 alone with
			// none (NULL, not 0); y only by chance, a significant test
			// among many. No older computation (PSI 99) counts.
			byFeature := map[string]map[string]any{}
			for _, row := range rows {
				byFeature[row["feature"].(string)] = row
				if num(t, row, "max_psi") >= 99 {
					t.Errorf("drifted feature %v: PSI of an older computation (no FINAL?)", row["feature"])
				}
			}
			x, z := byFeature["x"], byFeature["z"]
			if x == nil || fmt.Sprint(x["versions"]) != "[v1 v2]" && fmt.Sprint(x["versions"]) != "[v2 v1]" || num(t, x, "importance") != 0.7 {
				t.Errorf("drifted x: %v, want it in v1 and v2, importance 0.7 (v1's)", x)
			}
			if z == nil || fmt.Sprint(z["versions"]) != "[v2]" || z["importance"] != nil {
				t.Errorf("drifted z: %v, want it in v2 alone, importance NULL (v2 has none)", z)
			}
		},
		"last_hour": func(rows []map[string]any) {
			if len(rows) != 1 || rows[0]["model_id"] != "rt" || num(t, rows[0], "predictions") != recent {
				t.Errorf("last hour: %v, want model rt with %d predictions", rows, recent)
			}
		},
		"late_labels": func(rows []map[string]any) {
			if len(rows) != 1 || rows[0]["model_id"] != "n" || num(t, rows[0], "late_labels") != 2 {
				t.Errorf("late labels: %v, want model n with 2 (one copied twice)", rows)
			} else if d := num(t, rows[0], "median_delay_hours"); d < 7 || d > 8 {
				t.Errorf("late labels' median delay %v h, want 7 to 8", d)
			}
		},
		"ab_traffic": func(rows []map[string]any) {
			if len(rows) != 2 {
				t.Fatalf("traffic rows: %v", rows)
			}
			for _, row := range rows {
				near("traffic of "+row["variant"].(string), num(t, row, "predictions"), truth["exp/"+row["variant"].(string)].n)
			}
		},
	}
	params := strings.NewReplacer("predlog.", quoteIdent(e.db)+".", "{from:DateTime}", "toDateTime('"+chTime(from)+"', 'UTC')",
		"{model:String}", "'m'")
	ran := 0
	for _, m := range docQuery.FindAllStringSubmatch(string(doc), -1) {
		sql := strings.TrimSpace(m[1])
		first, _, _ := strings.Cut(sql, "\n")
		name, ok := strings.CutPrefix(first, "-- name: ")
		if !ok {
			t.Errorf("a query without a `-- name:` line:\n%s", sql)
			continue
		}
		rows := e.rows("%s", params.Replace(sql))
		if check := checks[name]; check != nil {
			check(rows)
			delete(checks, name)
		}
		ran++
	}
	for name := range checks {
		t.Errorf("docs/querying.md has no query %s", name)
	}
	if ran < 9 {
		t.Errorf("%d queries ran, want every query of docs/querying.md (9)", ran)
	}
}
