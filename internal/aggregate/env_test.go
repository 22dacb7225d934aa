package aggregate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/internal/testenv"
	"github.com/predlog/predlog/internal/testenv/testschema"
	"github.com/predlog/predlog/pkg/events"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is a migrated database with a writer and an aggregator config.
type env struct {
	t    *testing.T
	st   *testenv.Stack
	db   string
	sink *chwriter.HTTPSink
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := testenv.Get(t)
	db := testschema.Database(t, st)
	sink, err := chwriter.NewHTTPSink(chwriter.HTTPConfig{URL: st.ClickHouseURL, Database: db, User: st.ClickHouseUser, Password: st.ClickHousePassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	return &env{t: t, st: st, db: db, sink: sink}
}

// config is a test configuration: 1m/1h/1d windows, a 6h label horizon
// (short, so the first cycle computes few windows), no ingest delay.
func (e *env) config() Config {
	return Config{
		Database:        e.db,
		Interval:        time.Minute,
		Granularities:   []time.Duration{time.Minute, time.Hour, 24 * time.Hour},
		AllowedLateness: time.Minute,
		LabelHorizon:    6 * time.Hour,
		IngestDelay:     time.Millisecond,
		PSIThreshold:    0.2,
		JSThreshold:     0.1,
		PValue:          0.05,
		MinEffect:       0.05, // the default: the drift tests run as shipped
		TopN:            10,
		LabelCap:        100,
	}
}

func (e *env) aggregator(cfg Config) *Aggregator {
	e.t.Helper()
	a, err := New(cfg, e.st.Conn(e.t, e.db), nil, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// cycle runs one cycle of a as of now, a little after the rows inserted
// so far (ingest_time strictly before the cycle's scan bound).
func cycle(t *testing.T, a *Aggregator) CycleReport {
	t.Helper()
	time.Sleep(10 * time.Millisecond)
	rep, err := a.RunOnce(context.Background(), time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// computeBase computes the states and the base-granularity outputs of the
// windows starting at starts, with the test configuration.
func (e *env) computeBase(starts ...time.Time) {
	e.t.Helper()
	a := e.aggregator(e.config())
	wins := make([]window, len(starts))
	for i, s := range starts {
		wins[i] = window{start: s, reason: reasonBackfill}
	}
	if err := a.computeStates(context.Background(), wins, time.Time{}); err != nil {
		e.t.Fatal(err)
	}
	if err := a.computeOutputs(context.Background(), a.grans[0], wins); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) insert(b chwriter.Block) {
	e.t.Helper()
	body, err := chwriter.EncodeNative(nil, b)
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.sink.Insert(context.Background(), chwriter.Insert{
		Table: b.Table(), Columns: chwriter.ColumnList(b.Input()), Format: "Native", Body: body,
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) insertPredictions(ps []events.PredictionLog) {
	e.t.Helper()
	b := chwriter.NewPredictionBlock()
	for i := range ps {
		b.Append(&ps[i])
	}
	e.insert(b)
}

func (e *env) insertOutcomes(os []events.Outcome) {
	e.t.Helper()
	b := chwriter.NewOutcomeBlock()
	for i := range os {
		b.Append(&os[i])
	}
	e.insert(b)
}

func (e *env) insertJSON(table string, add func(b *chwriter.JSONBlock) error) {
	e.t.Helper()
	b := chwriter.NewJSONBlock(table)
	if err := add(b); err != nil {
		e.t.Fatal(err)
	}
	if err := e.sink.Insert(context.Background(), chwriter.Insert{Table: table, Format: "JSONEachRow", Body: b.Body()}); err != nil {
		e.t.Fatal(err)
	}
}

// insertBaseline writes a training baseline of one model version,
// computed at at.
func (e *env) insertBaseline(model, version string, at time.Time, fs ...events.FeatureDistribution) {
	e.t.Helper()
	e.insertJSON("feature_baselines", func(b *chwriter.JSONBlock) error {
		return b.AppendFeatureBaseline(&events.FeatureBaseline{ModelID: model, ModelVersion: version, Source: events.SourceTraining,
			ComputedAt: at.UnixMilli(), Features: fs})
	})
}

// uniformBins is a numeric baseline of feature with these edges and the
// same proportion in every bin.
func uniformBins(feature string, edges []float64) events.FeatureDistribution {
	props := make([]float64, len(edges)+1)
	for i := range props {
		props[i] = 1 / float64(len(props))
	}
	return events.FeatureDistribution{Feature: feature, Type: events.FeatureNumeric, Count: 1000, BinEdges: edges, BinProportions: props}
}

func (e *env) insertModel(id, version string, pt events.ProblemType, threshold float64, positive string) {
	e.t.Helper()
	e.insertJSON("models", func(b *chwriter.JSONBlock) error {
		return b.AppendModel(&events.Model{ModelID: id, ModelVersion: version, ProblemType: pt,
			DecisionThreshold: threshold, HasDecisionThreshold: true, PositiveClass: positive,
			UpdatedAt: time.Now().UnixMilli()})
	})
}

// rows runs a query and decodes its JSONEachRow output.
func (e *env) rows(sql string, args ...any) []map[string]any {
	e.t.Helper()
	out := e.st.Exec(e.t, e.db, fmt.Sprintf(sql, args...)+" FORMAT JSONEachRow SETTINGS output_format_json_quote_64bit_integers = 0")
	var res []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		m := map[string]any{}
		d := json.NewDecoder(strings.NewReader(line))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			e.t.Fatalf("decode %q: %v", line, err)
		}
		res = append(res, m)
	}
	return res
}

// num returns a numeric column of a decoded row; NaN-free, nil as -1e300.
func num(t *testing.T, row map[string]any, col string) float64 {
	t.Helper()
	v, ok := row[col]
	if !ok {
		t.Fatalf("no column %s in %v", col, row)
	}
	if v == nil {
		return nullNum
	}
	f, err := v.(json.Number).Float64()
	if err != nil {
		t.Fatalf("%s: %v", col, err)
	}
	return f
}

const nullNum = -1e300

func ms(t time.Time) int64 { return t.UnixMilli() }

func benchStack(b *testing.B) *testenv.Stack { return testenv.Get(b) }

func benchRows() int {
	if v := os.Getenv("PREDLOG_BENCH_ROWS"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	return 10_000_000
}
