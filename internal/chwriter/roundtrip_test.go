package chwriter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/internal/testenv"
	"github.com/predlog/predlog/pkg/events"
)

// The tests below take each event type's example from docs/events.md (plus
// variants that exercise NULLs, defaults and odd strings), decode it with
// pkg/events, write it with chwriter and read it back, comparing every
// column with what the decoded struct says it must be.

// docExample returns the example of kind in docs/events.md with its top-level
// fields replaced by patch (a nil value deletes the field).
func docExample(t *testing.T, kind string, patch map[string]any) []byte {
	t.Helper()
	md, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- example: " + kind + " -->\n```json\n(.*?)```").FindSubmatch(md)
	if m == nil {
		t.Fatalf("docs/events.md has no %s example", kind)
	}
	if len(patch) == 0 {
		return m[1]
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(m[1]))
	dec.UseNumber() // keep the example's number text as written
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("%s example: %v", kind, err)
	}
	for k, v := range patch {
		if v == nil {
			delete(obj, k)
		} else {
			obj[k] = v
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// oddText has the characters most likely to break an encoder: quotes,
// backslashes, control characters, HTML escapes, multi-byte UTF-8.
const oddText = "quote\" back\\slash\ttab\nnewline <&> ünïcødé 模型 🚀"

// oddID is oddText without its control characters, which ids and names
// (features, metadata keys) may not hold.
const oddID = "quote\" back\\slash <&> ünïcødé 模型 🚀"

// selectRows runs query as JSONEachRow and returns its rows with JSON types
// (numbers are float64: every integer compared here is below 2^53).
func selectRows(t *testing.T, st *testenv.Stack, db, query string) []map[string]any {
	t.Helper()
	out := st.Exec(t, db, query+" FORMAT JSONEachRow SETTINGS output_format_json_quote_64bit_integers = 0")
	var rows []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		rows = append(rows, row)
	}
	return rows
}

// asJSON converts a Go value to what encoding/json reads back from its JSON
// text, so expectations compare with selectRows' output by reflect.DeepEqual.
func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// compareRows fails t for every column that differs between got and want,
// rows matched by position.
func compareRows(t *testing.T, got, want []map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d\n got %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range want {
		keys := map[string]bool{}
		for k := range want[i] {
			keys[k] = true
		}
		for k := range got[i] {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			g, gok := got[i][k]
			w, wok := want[i][k]
			if gok != wok || !reflect.DeepEqual(g, w) {
				t.Errorf("row %d column %s:\n got %#v\nwant %#v", i, k, g, w)
			}
		}
	}
}

// Small helpers that state the storage contract of optional values.
func nullable[T any](v T, ok bool) any {
	if !ok {
		return nil
	}
	return v
}

func optMs(ms int64) any { return nullable(ms, ms != 0) }

func floatMap(m events.Float64Map) map[string]float64 {
	out := map[string]float64{}
	for i, k := range m.Keys {
		out[k] = m.Values[i]
	}
	return out
}

func stringMap(m events.StringMap) map[string]string {
	out := map[string]string{}
	for i, k := range m.Keys {
		out[k] = m.Values[i]
	}
	return out
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func insertJSON(t *testing.T, sink chwriter.Sink, b *chwriter.JSONBlock) {
	t.Helper()
	if err := sink.Insert(context.Background(), chwriter.Insert{Table: b.Table(), Format: "JSONEachRow", Body: b.Body()}); err != nil {
		t.Fatalf("insert %s: %v\n%s", b.Table(), err, b.Body())
	}
}

// ingestTime is the provenance the tests give every row.
var ingestTime = time.Date(2026, 11, 26, 12, 0, 0, 123e6, time.UTC).UnixMilli()

func TestModelRoundTrip(t *testing.T) {
	t.Parallel()
	st, db, sink := setup(t)
	tests := []struct {
		name  string
		patch map[string]any
	}{
		{"docs example", nil},
		{"defaults and NULLs", map[string]any{
			"model_version": "minimal", "name": nil, "architecture": nil, "framework": nil, "parameters": nil,
			"training_datasets": nil, "artifact_uri": nil, "stage": nil, "aliases": nil, "tags": nil,
			"decision_threshold": nil, "positive_class": nil, "created_at": nil, "created_by": nil, "updated_by": nil,
			"problem_type": "regression",
		}},
		{"odd strings and lists", map[string]any{
			"model_version": 7, "name": oddText, "parameters": map[string]any{"nested": map[string]any{"s": oddText, "a": []int{1, 2}}},
			"training_datasets": []string{"a@1", "s3://b/c", oddText}, "aliases": []string{"champion", "challenger"},
			"tags":  map[string]string{"team": "risk", "note": oddText}, // an empty key is invalid_value (pkg/events)
			"stage": "archived", "problem_type": "multiclass", "created_at": 1764000000001, "updated_at": "2026-11-26T10:00:00.999+01:00",
		}},
	}
	block := chwriter.NewJSONBlock("models")
	var want []map[string]any
	for _, tt := range tests {
		msg := docExample(t, "model", tt.patch)
		var m events.Model // one decoder per message: its strings stay valid
		if err := events.NewDecoder(events.Options{}).DecodeModel(&m, msg); err != nil {
			t.Fatalf("%s: decode: %v\n%s", tt.name, err, msg)
		}
		m.Provenance.IngestTime = ingestTime
		if err := block.AppendModel(&m); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		threshold := 0.5 // documented default
		if m.HasDecisionThreshold {
			threshold = m.DecisionThreshold
		}
		want = append(want, asJSON(t, map[string]any{
			"model_id": m.ModelID, "model_version": m.ModelVersion, "name": m.Name,
			"architecture": m.Architecture, "framework": m.Framework, "parameters": m.Parameters,
			"training_datasets": orEmpty(m.Datasets), "artifact_uri": m.ArtifactURI,
			"stage":   or(m.Stage, events.StageRegistered).String(),
			"aliases": orEmpty(m.Aliases), "tags": stringMap(m.Tags), "problem_type": m.ProblemType.String(),
			"decision_threshold": threshold,
			"positive_class":     or(m.PositiveClass, "1"),
			"created_at_ms":      optMs(m.CreatedAt), "created_by": m.CreatedBy,
			"updated_at_ms": m.UpdatedAt, "updated_by": m.UpdatedBy, "ingest_time_ms": m.Provenance.IngestTime,
		}))
	}
	insertJSON(t, sink, block)
	got := selectRows(t, st, db, `SELECT model_id, model_version, name, architecture, framework, parameters,
		training_datasets, artifact_uri, stage, aliases, tags, problem_type, decision_threshold, positive_class,
		toUnixTimestamp64Milli(created_at) AS created_at_ms, created_by, toUnixTimestamp64Milli(updated_at) AS updated_at_ms,
		updated_by, toUnixTimestamp64Milli(ingest_time) AS ingest_time_ms
		FROM models FINAL ORDER BY model_version`)
	sortBy(want, "model_version")
	compareRows(t, got, want)
}

// sortBy orders expectation rows like ORDER BY on string columns.
func sortBy(rows []map[string]any, cols ...string) {
	sort.SliceStable(rows, func(i, j int) bool {
		for _, c := range cols {
			a, b := fmt.Sprint(rows[i][c]), fmt.Sprint(rows[j][c])
			if a != b {
				return a < b
			}
		}
		return false
	})
}

func TestTrainingJobRoundTrip(t *testing.T) {
	t.Parallel()
	st, db, sink := setup(t)
	tests := []struct {
		name  string
		patch map[string]any
	}{
		{"docs example", nil},
		{"running, no cost, no finish", map[string]any{
			"job_id": "job-running", "status": "running", "model_version": nil, "finished_at": nil,
			"status_history": []map[string]any{{"status": "queued", "at": 1763589600000, "message": oddText}, {"status": "running", "at": "2025-11-19T22:03:10.5Z"}},
			"resources":      map[string]any{"cpu_cores": 0.1, "gpu_count": 0, "memory_bytes": 9007199254740991, "node_count": 3, "duration_seconds": 1.5},
			"train_metrics":  map[string]any{"loss": -1e-300, "huge": 1.7976931348623157e308}, "validation_metrics": nil,
		}},
		{"queued, minimal", map[string]any{
			"job_id": "job-queued", "status": "queued", "model_version": nil, "status_history": nil, "hyperparameters": nil,
			"dataset_name": nil, "dataset_version": nil, "dataset_digest": nil, "resources": nil,
			"train_metrics": nil, "validation_metrics": nil, "started_at": nil, "finished_at": nil,
		}},
		{"cost without currency", map[string]any{
			"job_id": "job-cost", "status": "failed", "resources": map[string]any{"cost": 0}, "hyperparameters": map[string]any{"s": oddText},
		}},
	}
	block := chwriter.NewJSONBlock("training_jobs")
	var want []map[string]any
	for _, tt := range tests {
		msg := docExample(t, "training_job", tt.patch)
		var j events.TrainingJob
		if err := events.NewDecoder(events.Options{}).DecodeTrainingJob(&j, msg); err != nil {
			t.Fatalf("%s: decode: %v\n%s", tt.name, err, msg)
		}
		j.Provenance.IngestTime = ingestTime
		if err := block.AppendTrainingJob(&j); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		hist := [][]any{}
		for _, h := range j.StatusHistory {
			hist = append(hist, []any{h.Status.String(), h.At, h.Message})
		}
		r := j.Resources
		want = append(want, asJSON(t, map[string]any{
			"job_id": j.JobID, "model_id": j.ModelID, "model_version": j.ModelVersion, "status": j.Status.String(),
			"status_history": hist, "hyperparameters": or(j.Hyperparameters, "{}"),
			"dataset_name": j.DatasetName, "dataset_version": j.DatasetVersion, "dataset_digest": j.DatasetDigest,
			"cpu_cores": float64(float32(r.CPUCores)), // Float32 column
			"gpu_count": r.GPUCount, "gpu_type": r.GPUType, "memory_bytes": r.MemoryBytes, "node_count": r.NodeCount,
			"duration_seconds": r.DurationSeconds, "cost": nullable(r.Cost, r.HasCost), "cost_currency": r.CostCurrency,
			"train_metrics": floatMap(j.TrainMetrics), "validation_metrics": floatMap(j.ValidMetrics),
			"started_at_ms": optMs(j.StartedAt), "finished_at_ms": optMs(j.FinishedAt),
			"updated_at_ms": j.UpdatedAt, "ingest_time_ms": j.Provenance.IngestTime,
		}))
	}
	insertJSON(t, sink, block)
	got := selectRows(t, st, db, `SELECT job_id, model_id, model_version, status,
		arrayMap(h -> (tupleElement(h, 'status'), toUnixTimestamp64Milli(tupleElement(h, 'at')), tupleElement(h, 'message')), status_history) AS status_history,
		hyperparameters, dataset_name, dataset_version, dataset_digest, toFloat64(cpu_cores) AS cpu_cores, gpu_count, gpu_type,
		memory_bytes, node_count, duration_seconds, cost, cost_currency, train_metrics, validation_metrics,
		toUnixTimestamp64Milli(started_at) AS started_at_ms, toUnixTimestamp64Milli(finished_at) AS finished_at_ms,
		toUnixTimestamp64Milli(updated_at) AS updated_at_ms, toUnixTimestamp64Milli(ingest_time) AS ingest_time_ms
		FROM training_jobs FINAL ORDER BY job_id`)
	sortBy(want, "job_id")
	compareRows(t, got, want)
}

func TestFeatureImportanceRoundTrip(t *testing.T) {
	t.Parallel()
	st, db, sink := setup(t)
	tests := []struct {
		name  string
		patch map[string]any
	}{
		{"docs example, global", nil},
		{"local, scope defaulted", map[string]any{"scope": nil, "method": "gain", "importances": map[string]any{"amount": 1e-9, oddID: -0.5}}},
		{"local", map[string]any{"scope": "local", "computed_at": 1764000000123, "importances": map[string]any{"amount": 0.35, "country": 0}}},
	}
	block := chwriter.NewJSONBlock("feature_importance")
	var want []map[string]any
	for _, tt := range tests {
		msg := docExample(t, "feature_importance", tt.patch)
		var f events.FeatureImportance
		if err := events.NewDecoder(events.Options{}).DecodeFeatureImportance(&f, msg); err != nil {
			t.Fatalf("%s: decode: %v\n%s", tt.name, err, msg)
		}
		f.Provenance.IngestTime = ingestTime
		if err := block.AppendFeatureImportance(&f); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for i, feature := range f.Importances.Keys { // one row per feature
			want = append(want, asJSON(t, map[string]any{
				"model_id": f.ModelID, "model_version": f.ModelVersion, "method": f.Method,
				"scope": or(f.Scope, events.ScopeGlobal).String(), "feature": feature, "score": f.Importances.Values[i],
				"computed_at_ms": f.ComputedAt, "ingest_time_ms": f.Provenance.IngestTime,
			}))
		}
	}
	insertJSON(t, sink, block)
	got := selectRows(t, st, db, `SELECT model_id, model_version, method, toString(scope) AS scope, feature, score,
		toUnixTimestamp64Milli(computed_at) AS computed_at_ms, toUnixTimestamp64Milli(ingest_time) AS ingest_time_ms
		FROM feature_importance FINAL ORDER BY method, scope, feature`)
	sortBy(want, "method", "scope", "feature")
	compareRows(t, got, want)
}

func TestFeatureBaselineRoundTrip(t *testing.T) {
	t.Parallel()
	st, db, sink := setup(t)
	tests := []struct {
		name  string
		patch map[string]any
	}{
		{"docs example, training", nil},
		{"reference window", map[string]any{
			"model_version": "v-window", "source": "reference_window", "dataset_ref": nil,
			"window_start": "2025-11-01T00:00:00Z", "window_end": 1764547200001,
			"features": []map[string]any{
				{"feature": "latency", "type": "numeric", "bin_edges": []float64{-1.5, 0, 1e-7, 3e12}, "bin_proportions": []float64{0.1, 0.2, 0.3, 0.25, 0.15}},
				{"feature": oddID, "type": "categorical", "count": 10, "null_rate": 0.5, "categories": map[string]float64{oddText: 0.6, "": 0.4}},
				{"feature": "empty", "type": "categorical", "categories": map[string]float64{}, "other_proportion": 1},
			},
		}},
	}
	block := chwriter.NewJSONBlock("feature_baselines")
	var want []map[string]any
	for _, tt := range tests {
		msg := docExample(t, "feature_baseline", tt.patch)
		var b events.FeatureBaseline
		if err := events.NewDecoder(events.Options{}).DecodeFeatureBaseline(&b, msg); err != nil {
			t.Fatalf("%s: decode: %v\n%s", tt.name, err, msg)
		}
		b.Provenance.IngestTime = ingestTime
		if err := block.AppendFeatureBaseline(&b); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, d := range b.Features { // one row per feature
			want = append(want, asJSON(t, map[string]any{
				"model_id": b.ModelID, "model_version": b.ModelVersion, "feature": d.Feature,
				"feature_type": d.Type.String(), "source": b.Source.String(), "dataset_ref": b.DatasetRef,
				"window_start_ms": optMs(b.WindowStart), "window_end_ms": optMs(b.WindowEnd),
				"sample_count": d.Count, "null_rate": d.NullRate, "bin_edges": orEmpty(d.BinEdges),
				"bin_proportions": orEmpty(d.BinProportions), "categories": floatMap(d.Categories),
				"other_proportion": d.OtherProportion, "computed_at_ms": b.ComputedAt, "ingest_time_ms": b.Provenance.IngestTime,
			}))
		}
	}
	if block.Rows() != len(want) {
		t.Fatalf("block has %d rows, want one per feature: %d", block.Rows(), len(want))
	}
	insertJSON(t, sink, block)
	got := selectRows(t, st, db, `SELECT model_id, model_version, feature, feature_type, source, dataset_ref,
		toUnixTimestamp64Milli(window_start) AS window_start_ms, toUnixTimestamp64Milli(window_end) AS window_end_ms,
		sample_count, null_rate, bin_edges, bin_proportions, categories, other_proportion,
		toUnixTimestamp64Milli(computed_at) AS computed_at_ms, toUnixTimestamp64Milli(ingest_time) AS ingest_time_ms
		FROM feature_baselines FINAL ORDER BY model_version, feature`)
	sortBy(want, "model_version", "feature")
	compareRows(t, got, want)
}

// TestPredictionDocRoundTrip complements TestPredictionRoundTrip (generated
// messages) with the documented example and hand-made variants, and checks
// the columns materialized from metadata.
func TestPredictionDocRoundTrip(t *testing.T) {
	t.Parallel()
	st, db, sink := setup(t)
	ts := recent().UnixMilli() // inside the TTL
	tests := []struct {
		name  string
		patch map[string]any
	}{
		{"docs example", map[string]any{"event_time": ts}},
		{"error, no output, no metadata", map[string]any{
			"request_id": "r-error", "event_time": ts + 1, "status": "error", "error": oddText, "score": nil, "label": nil,
			"confidence": nil, "features": nil, "metadata": nil, "experiment_id": nil, "variant": nil, "contributions": nil, "latency_ms": 0,
		}},
		{"multiclass", map[string]any{
			"request_id": "r-multi", "event_time": ts + 2, "score": nil, "label": 2, "model_version": 3,
			"probabilities": map[string]any{"0": 0.1, "1": 0.2, "2": 0.7}, "metadata": map[string]any{"tenant": oddText, "other": "x"},
			"features": map[string]any{oddID: oddText, "flag": false},
		}},
		{"regression", map[string]any{
			"request_id": "r-reg", "event_time": ts + 3, "score": nil, "label": nil, "confidence": nil, "value": -123.456e10,
			"metadata": map[string]any{"user_id": "u", "endpoint": "/v2"},
		}},
	}
	block := chwriter.NewPredictionBlock()
	var want []map[string]any
	for i, tt := range tests {
		msg := docExample(t, "prediction", tt.patch)
		var p events.PredictionLog
		if err := events.NewDecoder(events.Options{}).DecodePrediction(&p, msg); err != nil {
			t.Fatalf("%s: decode: %v\n%s", tt.name, err, msg)
		}
		p.Provenance = events.Provenance{Topic: events.TopicPredictions, Partition: int32(i), Offset: int64(1000 + i), IngestTime: ingestTime}
		block.Append(&p)
		meta := stringMap(p.Metadata)
		want = append(want, asJSON(t, map[string]any{
			"request_id": p.RequestID, "model_id": p.ModelID, "model_version": p.ModelVersion, "event_time_ms": p.EventTime,
			"features_num": floatMap(p.NumFeatures), "features_cat": stringMap(p.CatFeatures),
			"score": nullable(p.Score, p.HasScore), "value": nullable(p.Value, p.HasValue), "predicted_label": p.Label,
			"probabilities": floatMap(p.Probabilities), "confidence": nullable(p.Confidence, p.HasConfidence),
			"latency_ms": p.LatencyMs, "status": or(p.Status, events.StatusOK).String(), "error_message": p.Error,
			"metadata": meta, "tenant": meta["tenant"], "endpoint": meta["endpoint"], "user_id": meta["user_id"],
			"experiment_id": p.ExperimentID, "variant": p.Variant, "contributions": floatMap(p.Contributions),
			"kafka_topic": p.Provenance.Topic, "kafka_partition": p.Provenance.Partition, "kafka_offset": p.Provenance.Offset,
			"ingest_time_ms": p.Provenance.IngestTime,
		}))
	}
	insertBlock(t, sink, block, "")
	got := selectRows(t, st, db, `SELECT request_id, model_id, model_version, toUnixTimestamp64Milli(event_time) AS event_time_ms,
		features_num, features_cat, score, value, predicted_label, probabilities, confidence, latency_ms, status, error_message,
		metadata, tenant, endpoint, user_id, experiment_id, variant, contributions,
		kafka_topic, kafka_partition, kafka_offset, toUnixTimestamp64Milli(ingest_time) AS ingest_time_ms
		FROM prediction_logs ORDER BY kafka_offset`)
	compareRows(t, got, want)
}

func TestOutcomeRoundTrip(t *testing.T) {
	t.Parallel()
	st, db, sink := setup(t)
	ts := recent().UnixMilli() // inside the TTL
	tests := []struct {
		name  string
		patch map[string]any
	}{
		{"docs example", map[string]any{"event_time": ts}},
		{"regression", map[string]any{"request_id": "r-reg", "event_time": ts + 1, "label": nil, "value": 0.1}},
		{"numeric label and value", map[string]any{"request_id": oddID, "event_time": ts + 2, "label": 1, "value": -1e300}},
	}
	block := chwriter.NewOutcomeBlock()
	var want []map[string]any
	for i, tt := range tests {
		msg := docExample(t, "outcome", tt.patch)
		var o events.Outcome
		if err := events.NewDecoder(events.Options{}).DecodeOutcome(&o, msg); err != nil {
			t.Fatalf("%s: decode: %v\n%s", tt.name, err, msg)
		}
		o.Provenance = events.Provenance{Topic: events.TopicOutcomes, Partition: 2, Offset: int64(i), IngestTime: ingestTime}
		block.Append(&o)
		want = append(want, asJSON(t, map[string]any{
			"request_id": o.RequestID, "model_id": o.ModelID, "event_time_ms": o.EventTime,
			"label": nullable(o.Label, o.HasLabel), "value": nullable(o.Value, o.HasValue),
			"kafka_topic": o.Provenance.Topic, "kafka_partition": o.Provenance.Partition, "kafka_offset": o.Provenance.Offset,
			"ingest_time_ms": o.Provenance.IngestTime,
		}))
	}
	insertBlock(t, sink, block, "")
	got := selectRows(t, st, db, `SELECT request_id, model_id, toUnixTimestamp64Milli(event_time) AS event_time_ms, label, value,
		kafka_topic, kafka_partition, kafka_offset, toUnixTimestamp64Milli(ingest_time) AS ingest_time_ms
		FROM outcomes FINAL ORDER BY kafka_offset`)
	compareRows(t, got, want)
}

// TestPredictionStats1m is the acceptance test of the real-time view: per
// model, version and minute it answers count, error rate and latency
// quantiles within a second of an insert, and a retried insert (same
// deduplication token) changes nothing.
func TestPredictionStats1m(t *testing.T) {
	t.Parallel()
	st, db, sink := setup(t)
	type key struct {
		model, version string
		minute         int64 // Unix seconds
	}
	type stats struct {
		latencies []float64
		errors    int
	}
	want := map[key]*stats{}
	rng := rand.New(rand.NewPCG(1, 2))
	base := recent().Truncate(time.Minute)
	block := chwriter.NewPredictionBlock()
	var msg []byte
	for _, model := range []string{"fraud-detector", "churn"} {
		for m := range 3 {
			minute := base.Add(time.Duration(m) * time.Minute)
			s := &stats{}
			want[key{model, "v1", minute.Unix()}] = s
			// Fewer than 200 rows per minute: see checkQuantile.
			n := 40 + rng.IntN(150)
			for i := range n {
				ts := minute.Add(time.Duration(rng.IntN(60_000)) * time.Millisecond).UnixMilli()
				latency := 1 + math.Round(rng.ExpFloat64()*200)/10 // ms, long tail, one decimal
				outcome := `"score":0.5`
				if rng.IntN(100) < 15 {
					outcome = `"status":"error","error":"upstream timeout"`
					s.errors++
				}
				msg = fmt.Appendf(msg[:0], `{"request_id":"%s-%d-%d","model_id":%q,"model_version":"v1","event_time":%d,"latency_ms":%g,%s}`,
					model, m, i, model, ts, latency, outcome)
				var p events.PredictionLog
				if err := events.NewDecoder(events.Options{}).DecodePrediction(&p, msg); err != nil {
					t.Fatalf("decode: %v\n%s", err, msg)
				}
				block.Append(&p)
				s.latencies = append(s.latencies, p.LatencyMs)
			}
		}
	}

	levels := []float64{0.5, 0.9, 0.95, 0.99}
	query := `SELECT model_id, model_version, toUnixTimestamp(minute) AS minute,
		sum(prediction_count) AS count, sum(error_count) AS errors, sum(error_count) / sum(prediction_count) AS error_rate,
		quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_quantiles) AS latency_q
		FROM prediction_stats_1m GROUP BY model_id, model_version, minute
		FORMAT JSONEachRow SETTINGS output_format_json_quote_64bit_integers = 0`
	// check returns what the view gets wrong, nil when it is right.
	check := func() []string {
		out, err := st.Query(context.Background(), db, query)
		if err != nil {
			return []string{err.Error()}
		}
		var problems []string
		seen := map[key]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var row struct {
				ModelID      string    `json:"model_id"`
				ModelVersion string    `json:"model_version"`
				Minute       int64     `json:"minute"`
				Count        int       `json:"count"`
				Errors       int       `json:"errors"`
				ErrorRate    float64   `json:"error_rate"`
				LatencyQ     []float64 `json:"latency_q"`
			}
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				return []string{fmt.Sprintf("%v: %s", err, line)}
			}
			k := key{row.ModelID, row.ModelVersion, row.Minute}
			s, ok := want[k]
			if !ok {
				problems = append(problems, fmt.Sprintf("unexpected group %+v", k))
				continue
			}
			seen[k] = true
			n := len(s.latencies)
			if row.Count != n || row.Errors != s.errors || row.ErrorRate != float64(s.errors)/float64(n) {
				problems = append(problems, fmt.Sprintf("%+v: count %d, errors %d, rate %v; want %d, %d, %v",
					k, row.Count, row.Errors, row.ErrorRate, n, s.errors, float64(s.errors)/float64(n)))
			}
			if len(row.LatencyQ) != len(levels) {
				problems = append(problems, fmt.Sprintf("%+v: %d quantiles", k, len(row.LatencyQ)))
				continue
			}
			for i, q := range levels {
				if bad := checkQuantile(s.latencies, q, row.LatencyQ[i]); bad != "" {
					problems = append(problems, fmt.Sprintf("%+v: %s", k, bad))
				}
			}
		}
		for k := range want {
			if !seen[k] {
				problems = append(problems, fmt.Sprintf("missing group %+v", k))
			}
		}
		return problems
	}
	// waitCorrect polls until the view answers correctly, failing t if that
	// takes longer than a second after the insert returned.
	waitCorrect := func(what string) {
		t.Helper()
		inserted := time.Now()
		for {
			problems := check()
			if problems == nil {
				t.Logf("%s: view correct %v after the insert returned", what, time.Since(inserted))
				return
			}
			if time.Since(inserted) > time.Second {
				t.Fatalf("%s: view still wrong 1s after the insert:\n%s", what, strings.Join(problems, "\n"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	const token = "predlog.predictions/0/0-999"
	insertBlock(t, sink, block, token)
	waitCorrect("insert")
	insertBlock(t, sink, block, token) // a retry after a timeout whose insert succeeded
	waitCorrect("retried insert")
	if got, want := st.Exec(t, db, "SELECT count() FROM prediction_logs"), fmt.Sprintln(block.Rows()); got != want {
		t.Fatalf("prediction_logs has %q rows, want %q", got, want)
	}
}

// checkQuantile says how got, the view's t-digest estimate of the q quantile
// of xs, is wrong, or "" if it is acceptable.
//
// The tolerance: ClickHouse's t-digest (epsilon 0.01) merges two adjacent
// centroids only while their combined weight is at most 4·n·0.01·q(1−q) ≤
// 0.01·n, so with fewer than 200 values every value keeps its own centroid
// (equal values may share one). The estimate is then an interpolation between
// the two centroids around rank q·n, i.e. it lies between neighbouring order
// statistics; we allow one more on each side for shared centroids, and a
// float32 rounding (centroid means are Float32). The exact Go quantile (linear
// interpolation) is in the message for comparison.
func checkQuantile(xs []float64, q, got float64) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	h := q * float64(n-1)
	exact := s[int(math.Floor(h))] + (h-math.Floor(h))*(s[int(math.Ceil(h))]-s[int(math.Floor(h))])
	r := int(math.Ceil(q*float64(n) - 0.5)) // first centroid at or past rank q·n
	lo, hi := s[max(r-2, 0)], s[min(r+1, n-1)]
	const f32 = 1e-6 // relative
	if got < lo*(1-f32) || got > hi*(1+f32) {
		return fmt.Sprintf("p%g latency %v outside [%v, %v] (exact %v, n %d)", q*100, got, lo, hi, exact, n)
	}
	return ""
}

// TestTrainingJobColumnRange: resources wider than their columns used to be
// wrapped silently by ClickHouse (gpu_count 70000 was stored as 4464,
// node_count 65536 as 0); they are now rejected as out_of_range, so the
// ingester sends the message to the DLQ.
func TestTrainingJobColumnRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		resources map[string]any
		wantField string // "" if the row must be accepted
	}{
		{"largest UInt16", map[string]any{"gpu_count": 65535, "node_count": 65535, "cpu_cores": math.MaxFloat32}, ""},
		{"gpu_count", map[string]any{"gpu_count": 70000}, "resources.gpu_count"},
		{"node_count", map[string]any{"node_count": 65536}, "resources.node_count"},
		{"cpu_cores", map[string]any{"cpu_cores": 1e39}, "resources.cpu_cores"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := docExample(t, "training_job", map[string]any{"resources": tt.resources})
			var j events.TrainingJob
			if err := events.NewDecoder(events.Options{}).DecodeTrainingJob(&j, msg); err != nil {
				t.Fatalf("decode: %v\n%s", err, msg)
			}
			b := chwriter.NewJSONBlock("training_jobs")
			err := b.AppendTrainingJob(&j)
			if tt.wantField == "" {
				if err != nil || b.Rows() != 1 {
					t.Fatalf("err %v, %d rows; want accepted", err, b.Rows())
				}
				return
			}
			var ve *events.ValidationError
			if !errors.As(err, &ve) || ve.Code != events.CodeOutOfRange || ve.Field != tt.wantField {
				t.Fatalf("err %v, want out_of_range on %s", err, tt.wantField)
			}
			if b.Rows() != 0 || len(b.Body()) != 0 {
				t.Fatalf("rejected row left %d rows in the block", b.Rows())
			}
		})
	}
}
