package chwriter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/internal/testenv"
	"github.com/predlog/predlog/internal/testenv/testschema"
	"github.com/predlog/predlog/pkg/events"
	"github.com/predlog/predlog/pkg/events/eventstest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// recent is a start time inside the prediction_logs TTL (older rows are
// dropped by ClickHouse as soon as they are written).
func recent() time.Time { return time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond) }

// setup applies the migrations to a fresh database and returns a sink on it.
func setup(t *testing.T) (*testenv.Stack, string, *chwriter.HTTPSink) {
	t.Helper()
	st := testenv.Get(t)
	db := testschema.Database(t, st)
	sink, err := chwriter.NewHTTPSink(chwriter.HTTPConfig{URL: st.ClickHouseURL, Database: db, User: st.ClickHouseUser, Password: st.ClickHousePassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	return st, db, sink
}

func insertBlock(t *testing.T, sink chwriter.Sink, b chwriter.Block, token string) {
	t.Helper()
	body, err := chwriter.EncodeNative(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	err = sink.Insert(context.Background(), chwriter.Insert{
		Table: b.Table(), Columns: chwriter.ColumnList(b.Input()), Format: "Native", Body: body, Token: token,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPredictionRoundTrip decodes generated messages, writes them as Native
// columns and compares what ClickHouse returns with what was decoded.
func TestPredictionRoundTrip(t *testing.T) {
	t.Parallel()
	st, db, sink := setup(t)
	const n = 3000
	gen := eventstest.New(7, eventstest.Config{Classes: 3, SparseRate: 0.2, ErrorRate: 0.1, Contributions: true, Start: recent()})
	dec := events.NewDecoder(events.Options{})
	block := chwriter.NewPredictionBlock()
	var want []string
	var msg []byte
	for i := range n {
		msg = gen.AppendPrediction(msg[:0])
		var p events.PredictionLog
		if err := dec.DecodePrediction(&p, msg); err != nil {
			t.Fatalf("decode %d: %v\n%s", i, err, msg)
		}
		p.Provenance = events.Provenance{Topic: "predlog.predictions", Partition: int32(i % 3), Offset: int64(i), IngestTime: 1_764_000_000_000}
		block.Append(&p)
		want = append(want, expectRow(&p))
	}
	// Every other row with no categorical features, score or label, so empty
	// maps and NULLs are covered.
	var bare events.PredictionLog
	bare.RequestID, bare.ModelID, bare.ModelVersion, bare.EventTime = "bare", "m", "v", recent().UnixMilli()
	block.Append(&bare)
	want = append(want, expectRow(&bare))
	insertBlock(t, sink, block, "")

	got := st.Exec(t, db, `SELECT request_id, model_id, model_version, toUnixTimestamp64Milli(event_time),
		toJSONString(features_num), toJSONString(features_cat), score, value, predicted_label, toJSONString(probabilities),
		confidence, latency_ms, status, error_message, toJSONString(metadata), experiment_id, variant, toJSONString(contributions),
		kafka_topic, kafka_partition, kafka_offset, toUnixTimestamp64Milli(ingest_time), tenant
		FROM prediction_logs ORDER BY kafka_offset, request_id FORMAT JSONCompactEachRow SETTINGS output_format_json_quote_64bit_integers = 0`)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d rows, want %d", len(lines), len(want))
	}
	sort.Strings(lines)
	sort.Strings(want)
	for i := range want {
		if norm(t, lines[i]) != norm(t, want[i]) {
			t.Fatalf("row mismatch\n got %s\nwant %s", lines[i], want[i])
		}
	}
}

// expectRow renders what the SELECT above must return for p.
func expectRow(p *events.PredictionLog) string {
	obj := func(keys []string, vals []float64) map[string]float64 {
		m := map[string]float64{}
		for i, k := range keys {
			m[k] = vals[i]
		}
		return m
	}
	str := func(keys, vals []string) map[string]string {
		m := map[string]string{}
		for i, k := range keys {
			m[k] = vals[i]
		}
		return m
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	opt := func(v float64, ok bool) any {
		if !ok {
			return nil
		}
		return v
	}
	status := "ok"
	if p.Status == events.StatusError {
		status = "error"
	}
	tenant, _ := p.Metadata.Get("tenant")
	row := []any{p.RequestID, p.ModelID, p.ModelVersion, p.EventTime,
		js(obj(p.NumFeatures.Keys, p.NumFeatures.Values)), js(str(p.CatFeatures.Keys, p.CatFeatures.Values)),
		opt(p.Score, p.HasScore), opt(p.Value, p.HasValue), p.Label, js(obj(p.Probabilities.Keys, p.Probabilities.Values)),
		opt(p.Confidence, p.HasConfidence), p.LatencyMs, status, p.Error, js(str(p.Metadata.Keys, p.Metadata.Values)),
		p.ExperimentID, p.Variant, js(obj(p.Contributions.Keys, p.Contributions.Values)),
		p.Provenance.Topic, p.Provenance.Partition, p.Provenance.Offset, p.Provenance.IngestTime, tenant}
	return js(row)
}

// norm re-encodes a JSON row with nested JSON strings decoded, so key order
// and float formatting do not matter.
func norm(t *testing.T, line string) string {
	t.Helper()
	var row []any
	if err := json.Unmarshal([]byte(line), &row); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	for i, v := range row {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "{") {
			var m map[string]any
			if err := json.Unmarshal([]byte(s), &m); err == nil {
				row[i] = m
			}
		}
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			row[i] = fmt.Sprint(f)
		}
	}
	b, _ := json.Marshal(row)
	return string(b)
}

func TestDeduplicationToken(t *testing.T) {
	t.Parallel()
	st, db, sink := setup(t)
	gen := eventstest.New(3, eventstest.Config{Start: recent()})
	dec := events.NewDecoder(events.Options{})
	block := chwriter.NewPredictionBlock()
	var msg []byte
	for range 500 {
		msg = gen.AppendPrediction(msg[:0])
		var p events.PredictionLog
		if err := dec.DecodePrediction(&p, msg); err != nil {
			t.Fatal(err)
		}
		block.Append(&p)
	}
	for range 3 { // a retried batch, as after a timeout whose insert succeeded
		insertBlock(t, sink, block, "predlog.predictions/0/0-499")
	}
	if got := st.Exec(t, db, "SELECT count() FROM prediction_logs"); got != "500\n" {
		t.Fatalf("count = %q, want 500", got)
	}
	// The real-time view must not count the retries either.
	if got := st.Exec(t, db, "SELECT sum(prediction_count) FROM prediction_stats_1m"); got != "500\n" {
		t.Fatalf("view count = %q, want 500", got)
	}
}

func TestOutcomesAndDimensions(t *testing.T) {
	t.Parallel()
	st, db, sink := setup(t)
	ob := chwriter.NewOutcomeBlock()
	ts := recent().UnixMilli()
	ob.Append(&events.Outcome{RequestID: "r1", ModelID: "m", EventTime: ts, Label: "1", HasLabel: true})
	ob.Append(&events.Outcome{RequestID: "r2", ModelID: "m", EventTime: ts + 1, Value: 2.5, HasValue: true})
	insertBlock(t, sink, ob, "")
	if got, want := st.Exec(t, db, "SELECT request_id, toUnixTimestamp64Milli(event_time), label, value FROM outcomes ORDER BY request_id"),
		fmt.Sprintf("r1\t%d\t1\t\\N\nr2\t%d\t\\N\t2.5\n", ts, ts+1); got != want {
		t.Fatalf("outcomes = %q, want %q", got, want)
	}

	dec := events.NewDecoder(events.Options{})
	tests := []struct {
		table  string
		msg    string
		append func(b *chwriter.JSONBlock, data []byte) error
		query  string
		want   string
	}{
		{"models", `{"model_id":"m","model_version":"3","name":"Fraud","framework":"xgboost","stage":"production","problem_type":"binary","decision_threshold":0.7,"aliases":["champion"],"tags":{"team":"risk"},"updated_at":"2026-11-26T10:00:00Z"}`,
			func(b *chwriter.JSONBlock, data []byte) error {
				var m events.Model
				if err := dec.DecodeModel(&m, data); err != nil {
					return err
				}
				return b.AppendModel(&m)
			},
			"SELECT model_id, model_version, stage, problem_type, decision_threshold, positive_class, aliases, tags, updated_at FROM models FINAL",
			"m\t3\tproduction\tbinary\t0.7\t1\t['champion']\t{'team':'risk'}\t2026-11-26 10:00:00.000\n"},
		{"feature_importance", `{"model_id":"m","model_version":"3","method":"shap","computed_at":1764000000000,"importances":{"amount":0.5,"country":0.25}}`,
			func(b *chwriter.JSONBlock, data []byte) error {
				var f events.FeatureImportance
				if err := dec.DecodeFeatureImportance(&f, data); err != nil {
					return err
				}
				return b.AppendFeatureImportance(&f)
			},
			"SELECT feature, score, scope FROM feature_importance FINAL ORDER BY feature",
			"amount\t0.5\tglobal\ncountry\t0.25\tglobal\n"},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			b := chwriter.NewJSONBlock(tt.table)
			if err := tt.append(b, []byte(tt.msg)); err != nil {
				t.Fatal(err)
			}
			if err := sink.Insert(context.Background(), chwriter.Insert{Table: tt.table, Format: "JSONEachRow", Body: b.Body()}); err != nil {
				t.Fatalf("insert: %v\n%s", err, b.Body())
			}
			if got := st.Exec(t, db, tt.query); got != tt.want {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	_, _, sink := setup(t)
	ctx := context.Background()
	err := sink.Insert(ctx, chwriter.Insert{Table: "models", Format: "JSONEachRow", Body: []byte(`{"model_id":"m","stage":"bogus"}` + "\n")})
	if k := chwriter.KindOf(err); k != chwriter.KindContent {
		t.Errorf("bad enum: kind %v (%v), want content", k, err)
	}
	// A field the table has no column for (a column renamed or dropped by
	// hand): not silently dropped, and the table's fault, not the row's.
	err = sink.Insert(ctx, chwriter.Insert{Table: "models", Format: "JSONEachRow",
		Body: []byte(`{"model_id":"m","model_version":"1","problem_type":"binary","updated_at":"2026-01-01 00:00:00","dataset_name2":"x"}` + "\n")})
	if k := chwriter.KindOf(err); k != chwriter.KindSchema {
		t.Errorf("field without a column: kind %v (%v), want schema", k, err)
	}
	err = sink.Insert(ctx, chwriter.Insert{Table: "no_such_table", Format: "JSONEachRow", Body: []byte("{}\n")})
	if k := chwriter.KindOf(err); k != chwriter.KindSchema {
		t.Errorf("unknown table: kind %v (%v), want schema", k, err)
	}
	down, err := chwriter.NewHTTPSink(chwriter.HTTPConfig{URL: "http://127.0.0.1:1", Database: "x", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := down.Ping(ctx); chwriter.KindOf(err) != chwriter.KindTransient || err == nil {
		t.Errorf("refused connection: %v, want transient", err)
	} else if !strings.Contains(err.Error(), "clickhouse 127.0.0.1:1: ") || strings.Contains(err.Error(), "SELECT") {
		t.Errorf("refused connection: %q, want the server named and the statement left out", err)
	}
}
