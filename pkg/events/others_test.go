package events_test

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/predlog/predlog/pkg/events"
)

// decodeAny decodes data as the given kind, for tables spanning event kinds.
func decodeAny(d *events.Decoder, kind string, data []byte) (any, error) {
	switch kind {
	case "prediction":
		var v events.PredictionLog
		return &v, d.DecodePrediction(&v, data)
	case "outcome":
		var v events.Outcome
		return &v, d.DecodeOutcome(&v, data)
	case "model":
		var v events.Model
		return &v, d.DecodeModel(&v, data)
	case "training_job":
		var v events.TrainingJob
		return &v, d.DecodeTrainingJob(&v, data)
	case "feature_importance":
		var v events.FeatureImportance
		return &v, d.DecodeFeatureImportance(&v, data)
	case "feature_baseline":
		var v events.FeatureBaseline
		return &v, d.DecodeFeatureBaseline(&v, data)
	}
	panic("unknown kind " + kind)
}

var kinds = []string{"prediction", "outcome", "model", "training_job", "feature_importance", "feature_baseline"}

// docExamples returns the examples of docs/events.md by kind.
func docExamples(t testing.TB) map[string][]byte {
	t.Helper()
	md, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- example: (\\w+) -->\n```json\n(.*?)```")
	out := map[string][]byte{}
	for _, m := range re.FindAllSubmatch(md, -1) {
		out[string(m[1])] = m[2]
	}
	return out
}

func TestDocExamplesDecode(t *testing.T) {
	ex := docExamples(t)
	for _, kind := range kinds {
		data, ok := ex[kind]
		if !ok {
			t.Errorf("docs/events.md has no example for %s", kind)
			continue
		}
		d := events.NewDecoder(events.Options{})
		if _, err := decodeAny(d, kind, data); err != nil {
			t.Errorf("%s example: %v", kind, err)
		}
		if d.UnknownFields() != 0 {
			t.Errorf("%s example has %d unknown fields", kind, d.UnknownFields())
		}
	}
}

func TestDecodeModelExample(t *testing.T) {
	d := events.NewDecoder(events.Options{})
	var got events.Model
	if err := d.DecodeModel(&got, docExamples(t)["model"]); err != nil {
		t.Fatal(err)
	}
	want := events.Model{
		ModelID: "fraud-detector", ModelVersion: "v4.1.0", Name: "Card fraud detector",
		Architecture: "gradient_boosted_trees", Framework: "xgboost 2.1.3",
		Parameters:  `{"max_depth": 8, "n_estimators": 600, "objective": "binary:logistic"}`,
		Datasets:    []string{"transactions@2025-11-01"},
		ArtifactURI: "s3://models/fraud-detector/v4.1.0/model.ubj",
		Stage:       events.StageProduction, Aliases: []string{"champion"},
		Tags:        events.StringMap{Keys: []string{"team"}, Values: []string{"risk"}},
		ProblemType: events.ProblemBinary, DecisionThreshold: 0.62, HasDecisionThreshold: true, PositiveClass: "1",
		CreatedAt: 1763629200000, CreatedBy: "ci@risk", UpdatedAt: 1764088200000, UpdatedBy: "alice",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// Low-volume decoders give strings that survive the next call.
	name := got.Name
	var other events.Model
	if err := d.DecodeModel(&other, []byte(`{"model_id":"zzzzzzzzzzzzzz","model_version":"9","problem_type":"regression","updated_at":1764088200000,"name":"xxxxxxxxxxxxxxxxxxx"}`)); err != nil {
		t.Fatal(err)
	}
	if got.Name != name || name != "Card fraud detector" {
		t.Errorf("model strings changed after the next decode: %q", got.Name)
	}
	if other.Stage != events.StageRegistered || other.HasDecisionThreshold || other.PositiveClass != "" {
		t.Errorf("defaults: %+v", other)
	}
}

func TestDecodeTrainingJobExample(t *testing.T) {
	var got events.TrainingJob
	if err := events.NewDecoder(events.Options{}).DecodeTrainingJob(&got, docExamples(t)["training_job"]); err != nil {
		t.Fatal(err)
	}
	want := events.TrainingJob{
		JobID: "train-20251119-0042", ModelID: "fraud-detector", ModelVersion: "v4.1.0", Status: events.JobSucceeded,
		StatusHistory: []events.StatusChange{
			{Status: events.JobQueued, At: 1763589600000},
			{Status: events.JobRunning, At: 1763589790000},
			{Status: events.JobSucceeded, At: 1763602915000, Message: "early stopping at round 600"},
		},
		Hyperparameters: `{"learning_rate": 0.05, "max_depth": 8, "subsample": 0.8}`,
		DatasetName:     "transactions", DatasetVersion: "2025-11-01", DatasetDigest: "sha256:9b1f0c2e",
		Resources: events.Resources{CPUCores: 32, GPUCount: 1, GPUType: "A10G", MemoryBytes: 137438953472,
			NodeCount: 1, DurationSeconds: 13125, Cost: 18.4, HasCost: true, CostCurrency: "USD"},
		TrainMetrics: events.Float64Map{Keys: []string{"logloss", "auc"}, Values: []float64{0.081, 0.981}},
		ValidMetrics: events.Float64Map{Keys: []string{"logloss", "auc"}, Values: []float64{0.094, 0.968}},
		StartedAt:    1763589790000, FinishedAt: 1763602915000, UpdatedAt: 1763602915000,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestDecodeFeatureImportanceAndBaselineExamples(t *testing.T) {
	ex := docExamples(t)
	d := events.NewDecoder(events.Options{})
	var fi events.FeatureImportance
	if err := d.DecodeFeatureImportance(&fi, ex["feature_importance"]); err != nil {
		t.Fatal(err)
	}
	wantFI := events.FeatureImportance{ModelID: "fraud-detector", ModelVersion: "v4.1.0", Method: "shap",
		Scope: events.ScopeGlobal, ComputedAt: 1763604000000,
		Importances: events.Float64Map{Keys: []string{"amount", "txn_count_24h", "account_age_days", "country"},
			Values: []float64{0.41, 0.22, 0.13, 0.07}}}
	if !reflect.DeepEqual(fi, wantFI) {
		t.Errorf("importance got %+v", fi)
	}
	var fb events.FeatureBaseline
	if err := d.DecodeFeatureBaseline(&fb, ex["feature_baseline"]); err != nil {
		t.Fatal(err)
	}
	wantFB := events.FeatureBaseline{ModelID: "fraud-detector", ModelVersion: "v4.1.0", Source: events.SourceTraining,
		DatasetRef: "transactions@2025-11-01", ComputedAt: 1763604000000,
		Features: []events.FeatureDistribution{
			{Feature: "amount", Type: events.FeatureNumeric, Count: 1250000, NullRate: 0.001,
				BinEdges:       []float64{10, 25, 50, 100, 250, 500},
				BinProportions: []float64{0.08, 0.17, 0.24, 0.23, 0.18, 0.07, 0.03}},
			{Feature: "country", Type: events.FeatureCategorical, Count: 1250000,
				Categories:      events.Float64Map{Keys: []string{"DE", "FR", "US"}, Values: []float64{0.41, 0.22, 0.17}},
				OtherProportion: 0.2},
		}}
	if !reflect.DeepEqual(fb, wantFB) {
		t.Errorf("baseline got  %+v\nwant %+v", fb, wantFB)
	}
	// Reuse keeps working when the next message has fewer features.
	if err := d.DecodeFeatureBaseline(&fb, []byte(`{"model_id":"m","model_version":"1","computed_at":1763604000000,
		"features":[{"feature":"c","type":"categorical","categories":{"a":1}}]}`)); err != nil {
		t.Fatal(err)
	}
	if len(fb.Features) != 1 || len(fb.Features[0].BinEdges) != 0 || fb.Features[0].Categories.Len() != 1 {
		t.Errorf("reused baseline: %+v", fb)
	}
}

func TestDecodeOtherEventsBad(t *testing.T) {
	const (
		outcome = `{"request_id":"r","model_id":"m","event_time":1764166516123`
		model   = `{"model_id":"m","model_version":"1","problem_type":"binary","updated_at":1764166516123`
		job     = `{"job_id":"j","model_id":"m","status":"running","updated_at":1764166516123`
		imp     = `{"model_id":"m","model_version":"1","method":"shap","computed_at":1764166516123`
		base    = `{"model_id":"m","model_version":"1","computed_at":1764166516123`
	)
	type tcase struct {
		kind string
		badCase
	}
	tests := []tcase{
		{"outcome", badCase{name: "no label or value", give: outcome + `}`, wantCode: events.CodeMissingField, wantField: "label"}},
		{"outcome", badCase{name: "empty label", give: outcome + `,"label":""}`, wantCode: events.CodeMissingField, wantField: "label"}},
		{"outcome", badCase{name: "label object", give: outcome + `,"label":{}}`, wantCode: events.CodeWrongType, wantField: "label"}},
		{"outcome", badCase{name: "value Inf", give: outcome + `,"value":1e999}`, wantCode: events.CodeOutOfRange, wantField: "value"}},
		{"outcome", badCase{name: "unknown model", give: outcome + `,"label":"1"}`, opts: events.Options{KnownModel: func(string) bool { return false }}, wantCode: events.CodeUnknownModel, wantField: "model_id"}},
		{"outcome", badCase{name: "oversized", give: outcome + `,"label":"1"}`, opts: events.Options{MaxSize: 10}, wantCode: events.CodeOversized}},

		{"model", badCase{name: "no problem type", give: `{"model_id":"m","model_version":"1","updated_at":1764166516123}`, wantCode: events.CodeMissingField, wantField: "problem_type"}},
		{"model", badCase{name: "no updated_at", give: `{"model_id":"m","model_version":"1","problem_type":"binary"}`, wantCode: events.CodeMissingField, wantField: "updated_at"}},
		{"outcome", badCase{name: "request id with a tab", give: `{"request_id":"r\t","model_id":"m","event_time":1764166516123,"label":"1"}`, wantCode: events.CodeInvalidValue, wantField: "request_id"}},
		{"outcome", badCase{name: "model id with a tab", give: `{"request_id":"r","model_id":"a\tb","event_time":1764166516123,"label":"1"}`, wantCode: events.CodeInvalidValue, wantField: "model_id"}},
		{"model", badCase{name: "version too long", give: `{"model_id":"m","model_version":"` + strings.Repeat("v", 129) + `","problem_type":"binary","updated_at":1764166516123}`, wantCode: events.CodeInvalidValue, wantField: "model_version"}},
		{"training_job", badCase{name: "model id too long", give: `{"job_id":"j","model_id":"` + strings.Repeat("é", 257) + `","status":"running","updated_at":1764166516123}`, wantCode: events.CodeInvalidValue, wantField: "model_id"}},
		{"training_job", badCase{name: "version with a newline", give: `{"job_id":"j","model_id":"m","model_version":"1\n","status":"running","updated_at":1764166516123}`, wantCode: events.CodeInvalidValue, wantField: "model_version"}},
		{"feature_importance", badCase{name: "model id with a newline", give: `{"model_id":"m\n","model_version":"1","method":"shap","computed_at":1764166516123,"importances":{"a":1}}`, wantCode: events.CodeInvalidValue, wantField: "model_id"}},
		{"feature_baseline", badCase{name: "version with a control character", give: `{"model_id":"m","model_version":"1\u0001","computed_at":1764166516123,"features":[{"feature":"a","type":"categorical","categories":{"x":1}}]}`, wantCode: events.CodeInvalidValue, wantField: "model_version"}},
		{"feature_importance", badCase{name: "feature name with a newline", give: `{"model_id":"m","model_version":"1","method":"shap","computed_at":1764166516123,"importances":{"a\n":1}}`, wantCode: events.CodeInvalidValue, wantField: "importances", wantMsg: "control character"}},
		{"feature_baseline", badCase{name: "feature name with a tab", give: `{"model_id":"m","model_version":"1","computed_at":1764166516123,"features":[{"feature":"a\tb","type":"categorical","categories":{"x":1}}]}`, wantCode: events.CodeInvalidValue, wantField: "features[0].feature", wantMsg: "control character"}},
		{"feature_baseline", badCase{name: "feature name too long", give: `{"model_id":"m","model_version":"1","computed_at":1764166516123,"features":[{"feature":"` + strings.Repeat("f", 257) + `","type":"categorical","categories":{"x":1}}]}`, wantCode: events.CodeInvalidValue, wantField: "features[0].feature", wantMsg: "longer than 256"}},
		{"model", badCase{name: "version *", give: `{"model_id":"m","model_version":"*","problem_type":"binary","updated_at":1764166516123}`, wantCode: events.CodeInvalidValue, wantField: "model_version"}},
		{"training_job", badCase{name: "version *", give: `{"job_id":"j","model_id":"m","model_version":"*","status":"running","updated_at":1764166516123}`, wantCode: events.CodeInvalidValue, wantField: "model_version"}},
		{"feature_importance", badCase{name: "version *", give: `{"model_id":"m","model_version":"*","method":"shap","computed_at":1764166516123,"importances":{"a":1}}`, wantCode: events.CodeInvalidValue, wantField: "model_version"}},
		{"feature_baseline", badCase{name: "version *", give: `{"model_id":"m","model_version":"*","computed_at":1764166516123,"features":[{"feature":"a","type":"categorical","categories":{"x":1}}]}`, wantCode: events.CodeInvalidValue, wantField: "model_version"}},
		{"model", badCase{name: "bad stage", give: model + `,"stage":"prod"}`, wantCode: events.CodeInvalidValue, wantField: "stage"}},
		{"model", badCase{name: "parameters array", give: model + `,"parameters":[1]}`, wantCode: events.CodeWrongType, wantField: "parameters"}},
		{"model", badCase{name: "alias number", give: model + `,"aliases":["a",1]}`, wantCode: events.CodeWrongType, wantField: "aliases[]"}},
		{"model", badCase{name: "threshold Inf", give: model + `,"decision_threshold":1e999}`, wantCode: events.CodeOutOfRange, wantField: "decision_threshold"}},
		{"model", badCase{name: "bad created_at", give: model + `,"created_at":"now"}`, wantCode: events.CodeInvalidTime, wantField: "created_at"}},

		{"training_job", badCase{name: "bad status", give: `{"job_id":"j","model_id":"m","status":"done","updated_at":1764166516123}`, wantCode: events.CodeInvalidValue, wantField: "status"}},
		{"training_job", badCase{name: "history without at", give: job + `,"status_history":[{"status":"queued"}]}`, wantCode: events.CodeMissingField, wantField: "status_history[0].at"}},
		{"training_job", badCase{name: "history entry string", give: job + `,"status_history":["queued"]}`, wantCode: events.CodeWrongType, wantField: "status_history[0]"}},
		{"training_job", badCase{name: "negative gpus", give: job + `,"resources":{"gpu_count":-1}}`, wantCode: events.CodeOutOfRange, wantField: "resources.gpu_count"}},
		{"training_job", badCase{name: "fractional nodes", give: job + `,"resources":{"node_count":1.5}}`, wantCode: events.CodeOutOfRange, wantField: "resources.node_count"}},
		{"training_job", badCase{name: "finished before start", give: job + `,"started_at":1764166516123,"finished_at":1764166516000}`, wantCode: events.CodeOutOfRange, wantField: "finished_at"}},
		{"training_job", badCase{name: "metric string", give: job + `,"train_metrics":{"auc":"high"}}`, wantCode: events.CodeWrongType, wantField: "train_metrics.auc"}},

		{"feature_importance", badCase{name: "no importances", give: imp + `}`, wantCode: events.CodeMissingField, wantField: "importances"}},
		{"feature_importance", badCase{name: "no method", give: `{"model_id":"m","model_version":"1","computed_at":1764166516123,"importances":{"a":1}}`, wantCode: events.CodeMissingField, wantField: "method"}},
		{"feature_importance", badCase{name: "bad scope", give: imp + `,"scope":"both","importances":{"a":1}}`, wantCode: events.CodeInvalidValue, wantField: "scope"}},
		{"feature_importance", badCase{name: "Inf score", give: imp + `,"importances":{"a":1e999}}`, wantCode: events.CodeOutOfRange, wantField: "importances.a"}},

		{"feature_baseline", badCase{name: "no features", give: base + `}`, wantCode: events.CodeMissingField, wantField: "features"}},
		{"feature_baseline", badCase{name: "window missing", give: base + `,"source":"reference_window","features":[{"feature":"c","type":"categorical","categories":{"a":1}}]}`, wantCode: events.CodeMissingField, wantField: "window_start"}},
		{"feature_baseline", badCase{name: "no type", give: base + `,"features":[{"feature":"a"}]}`, wantCode: events.CodeMissingField, wantField: "features[0].type"}},
		{"feature_baseline", badCase{name: "wrong proportion count", give: base + `,"features":[{"feature":"a","type":"numeric","bin_edges":[1,2],"bin_proportions":[0.5,0.5]}]}`, wantCode: events.CodeInvalidValue, wantField: "features[0].bin_proportions"}},
		{"feature_baseline", badCase{name: "edges not increasing", give: base + `,"features":[{"feature":"a","type":"numeric","bin_edges":[2,1],"bin_proportions":[0.2,0.3,0.5]}]}`, wantCode: events.CodeOutOfRange, wantField: "features[0].bin_edges"}},
		{"feature_baseline", badCase{name: "sum not 1", give: base + `,"features":[{"feature":"a","type":"numeric","bin_edges":[1],"bin_proportions":[0.2,0.3]}]}`, wantCode: events.CodeOutOfRange, wantField: "features[0]"}},
		{"feature_baseline", badCase{name: "null rate 2", give: base + `,"features":[{"feature":"c","type":"categorical","null_rate":2,"categories":{"a":1}}]}`, wantCode: events.CodeOutOfRange, wantField: "features[0].null_rate"}},
		{"feature_baseline", badCase{name: "bad type", give: base + `,"features":[{"feature":"c","type":"text"}]}`, wantCode: events.CodeInvalidValue, wantField: "features[0].type"}},
		{"feature_baseline", badCase{name: "edge string", give: base + `,"features":[{"feature":"a","type":"numeric","bin_edges":["1"]}]}`, wantCode: events.CodeWrongType, wantField: "features[0].bin_edges[]"}},

		// Members only a prediction has: a prediction on the outcomes topic.
		{"outcome", badCase{name: "prediction example", give: `{"request_id":"r","model_id":"m","model_version":"v1","event_time":1764166516123,"label":"1","features":{"a":1},"latency_ms":5}`, wantCode: events.CodeWrongTopic, wantField: "latency_ms"}},
		{"outcome", badCase{name: "error prediction", give: `{"request_id":"r","model_id":"m","model_version":"v1","event_time":1764166516123,"latency_ms":5,"status":"error"}`, wantCode: events.CodeWrongTopic, wantField: "latency_ms"}},
		{"outcome", badCase{name: "probabilities", give: outcome + `,"label":"cat","probabilities":{"cat":1}}`, wantCode: events.CodeWrongTopic, wantField: "probabilities"}},
		{"outcome", badCase{name: "features", give: outcome + `,"label":"1","features":{}}`, wantCode: events.CodeWrongTopic, wantField: "features"}},
		{"outcome", badCase{name: "contributions", give: outcome + `,"label":"1","contributions":{"a":1}}`, wantCode: events.CodeWrongTopic, wantField: "contributions"}},
		// Malformed JSON is reported as such, whatever the members.
		{"outcome", badCase{name: "prediction, truncated", give: outcome + `,"label":"1","latency_ms":5`, wantCode: events.CodeInvalidJSON}},

		// Empty names in free-form maps.
		{"model", badCase{name: "empty tag key", give: model + `,"tags":{"team":"risk","":"x"}}`, wantCode: events.CodeInvalidValue, wantField: "tags."}},
		{"training_job", badCase{name: "empty train metric", give: job + `,"train_metrics":{"":0.9}}`, wantCode: events.CodeInvalidValue, wantField: "train_metrics."}},
		{"training_job", badCase{name: "empty validation metric", give: job + `,"validation_metrics":{"auc":0.9,"":1}}`, wantCode: events.CodeInvalidValue, wantField: "validation_metrics."}},
		{"feature_importance", badCase{name: "empty feature", give: imp + `,"importances":{"a":1,"":0.5}}`, wantCode: events.CodeInvalidValue, wantField: "importances."}},
	}
	// The whole-message codes behave the same for every kind.
	for _, kind := range kinds {
		tests = append(tests,
			tcase{kind, badCase{name: "empty", give: " ", wantCode: events.CodeEmpty}},
			tcase{kind, badCase{name: "truncated", give: `{"model_id":"m"`, wantCode: events.CodeInvalidJSON}},
			tcase{kind, badCase{name: "bad utf8", give: `{"model_id":"` + "\xff" + `"}`, wantCode: events.CodeInvalidUTF8, wantField: "model_id"}},
			tcase{kind, badCase{name: "array", give: `[]`, wantCode: events.CodeWrongType}},
			tcase{kind, badCase{name: "model_id number", give: `{"model_id":1}`, wantCode: events.CodeWrongType, wantField: "model_id"}},
		)
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.name, func(t *testing.T) {
			_, err := decodeAny(events.NewDecoder(tt.opts), tt.kind, []byte(tt.give))
			checkBad(t, err, tt.badCase)
		})
	}
}

// Unknown fields are counted at every level with a fixed schema.
func TestUnknownFieldsCounted(t *testing.T) {
	d := events.NewDecoder(events.Options{})
	var j events.TrainingJob
	err := d.DecodeTrainingJob(&j, []byte(`{"job_id":"j","model_id":"m","status":"running","updated_at":1764166516123,
		"x":1,"resources":{"tpu_count":4},"status_history":[{"status":"queued","at":1764166516000,"by":"bob"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.UnknownFields(); got != 3 {
		t.Errorf("UnknownFields() = %d, want 3", got)
	}
}

// An outcome may carry members of its own and prediction members sent as
// null (absent, like every null): they are skipped and counted, as any
// unknown member, and the outcome is kept.
func TestOutcomeUnknownMembersKept(t *testing.T) {
	const outcome = `{"request_id":"r","model_id":"m","event_time":1764166516123,"label":"1"`
	tests := []struct {
		name        string
		give        string
		wantUnknown int
	}{
		{"new member", outcome + `,"source":"chargeback"}`, 1},
		// Names an outcome producer may send today.
		{"generic prediction names", outcome + `,"model_version":"v1","metadata":{"tenant":"a"},"status":"ok","error":"","experiment_id":"e","variant":"B"}`, 6},
		{"prediction members null", outcome + `,"score":null,"latency_ms":null,"features":null}`, 3},
		{"a labeller's score and confidence", outcome + `,"score":4,"confidence":0.8}`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := events.NewDecoder(events.Options{})
			var o events.Outcome
			if err := d.DecodeOutcome(&o, []byte(tt.give)); err != nil {
				t.Fatal(err)
			}
			if o.Label != "1" || d.UnknownFields() != tt.wantUnknown {
				t.Errorf("label %q, %d unknown fields, want \"1\", %d", o.Label, d.UnknownFields(), tt.wantUnknown)
			}
		})
	}
}

// The docs' prediction, sent to the outcomes topic: the DLQ reason names
// every prediction member it has and where it belongs.
func TestOutcomeWrongTopicMessage(t *testing.T) {
	var o events.Outcome
	err := events.NewDecoder(events.Options{}).DecodeOutcome(&o, docExamples(t)["prediction"])
	want := `events: wrong_topic "latency_ms": an outcome with latency_ms, features, contributions looks like a prediction: ` +
		`predictions belong on the predictions topic (predlog.predictions by default), not the outcomes topic`
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
}

// "" is a category like any other in a baseline: production may send a
// categorical feature as "".
func TestBaselineEmptyCategory(t *testing.T) {
	var b events.FeatureBaseline
	err := events.NewDecoder(events.Options{}).DecodeFeatureBaseline(&b, []byte(`{"model_id":"m","model_version":"1","computed_at":1764166516123,
		"features":[{"feature":"c","type":"categorical","categories":{"":0.25,"a":0.75}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Features[0].Categories.Keys; len(got) != 2 || got[0] != "" {
		t.Errorf("categories %q", got)
	}
}

// A null member with an empty name is absent, as any null map entry.
func TestEmptyKeyNullDropped(t *testing.T) {
	msg := `{"request_id":"r","model_id":"m","model_version":"v1","event_time":1764166516123,"latency_ms":5,"score":1,` +
		`"metadata":{"":null,"tenant":"a"},"probabilities":{"":null},"contributions":{"":1,"":null}}`
	var p events.PredictionLog
	if err := events.NewDecoder(events.Options{}).DecodePrediction(&p, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if p.Metadata.Len() != 1 || p.Probabilities.Len() != 0 || p.Contributions.Len() != 0 {
		t.Errorf("metadata %v, probabilities %v, contributions %v", p.Metadata, p.Probabilities, p.Contributions)
	}
}
