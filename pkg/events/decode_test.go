package events_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/predlog/predlog/pkg/events"
	"github.com/predlog/predlog/pkg/events/eventstest"
)

// 2025-11-26T14:15:16.123Z
const t0 = int64(1764166516123)

// base is a valid prediction without its closing brace, so cases can append.
const base = `{"request_id":"r1","model_id":"m","model_version":"v1","event_time":1764166516123,"latency_ms":5`

func TestDecodePredictionGood(t *testing.T) {
	tests := []struct {
		name        string
		give        string
		want        events.PredictionLog
		wantUnknown int
	}{
		{
			name: "minimal RFC 3339",
			give: `{"request_id":"r1","model_id":"m","model_version":"v1","event_time":"2025-11-26T14:15:16.123Z","score":0.25,"latency_ms":12.5}`,
			want: events.PredictionLog{RequestID: "r1", ModelID: "m", ModelVersion: "v1", EventTime: t0,
				Score: 0.25, HasScore: true, LatencyMs: 12.5, Status: events.StatusOK},
		},
		{
			name: "epoch ms and offset time agree",
			give: `{"request_id":"r1","model_id":"m","model_version":2,"event_time":"2025-11-26T15:15:16.123999+01:00","value":-3.5e2,"latency_ms":0}`,
			want: events.PredictionLog{RequestID: "r1", ModelID: "m", ModelVersion: "2", EventTime: t0,
				Value: -350, HasValue: true, Status: events.StatusOK},
		},
		{
			name: "sparse features, null dropped, bool as number, duplicate keeps last",
			give: base + `,"label":1,"features":{"a":1.5,"b":null,"c":"DE","d":true,"e":false,"a":2,"c":7,"f":"x","f":null}}`,
			want: events.PredictionLog{RequestID: "r1", ModelID: "m", ModelVersion: "v1", EventTime: t0,
				LatencyMs: 5, Label: "1", Status: events.StatusOK,
				NumFeatures: events.Float64Map{Keys: []string{"a", "d", "e", "c"}, Values: []float64{2, 1, 0, 7}}},
		},
		{
			name: "multiclass probabilities",
			give: base + `,"label":"cat","confidence":0.7,"probabilities":{"cat":0.7,"dog":0.2,"bird":0.1}}`,
			want: events.PredictionLog{RequestID: "r1", ModelID: "m", ModelVersion: "v1", EventTime: t0,
				LatencyMs: 5, Label: "cat", Confidence: 0.7, HasConfidence: true, Status: events.StatusOK,
				Probabilities: events.Float64Map{Keys: []string{"cat", "dog", "bird"}, Values: []float64{0.7, 0.2, 0.1}}},
		},
		{
			name: "error without outputs",
			give: base + `,"status":"error","error":"upstream timeout","score":null}`,
			want: events.PredictionLog{RequestID: "r1", ModelID: "m", ModelVersion: "v1", EventTime: t0,
				LatencyMs: 5, Status: events.StatusError, Error: "upstream timeout"},
		},
		{
			name: "every field, escapes, unknown fields counted",
			give: ` { "request_id" : "r\u00e9\ud83d\ude00" , "model_id":"m","model_version":"v1","event_time":1764166516123.9,
				"features":{"x\"y":3},"score":0.9,"label":"1","confidence":0.9,"latency_ms":1e1,"status":"ok",
				"metadata":{"tenant":"ac\nme","retries":2,"canary":true,"gone":null},"experiment_id":"exp","variant":"B",
				"contributions":{"x\"y":-0.25},"new_field":{"a":[1,{"b":null}]},"another":"x"} `,
			want: events.PredictionLog{RequestID: "ré😀", ModelID: "m", ModelVersion: "v1", EventTime: t0,
				NumFeatures: events.Float64Map{Keys: []string{`x"y`}, Values: []float64{3}},
				Score:       0.9, HasScore: true, Label: "1", Confidence: 0.9, HasConfidence: true,
				LatencyMs: 10, Status: events.StatusOK,
				Metadata:     events.StringMap{Keys: []string{"tenant", "retries", "canary"}, Values: []string{"ac\nme", "2", "true"}},
				ExperimentID: "exp", Variant: "B",
				Contributions: events.Float64Map{Keys: []string{`x"y`}, Values: []float64{-0.25}}},
			wantUnknown: 2,
		},
		{
			name: "lone surrogate becomes U+FFFD like encoding/json",
			give: base + `,"score":1,"error":"a\ud800b"}`,
			want: events.PredictionLog{RequestID: "r1", ModelID: "m", ModelVersion: "v1", EventTime: t0,
				LatencyMs: 5, Score: 1, HasScore: true, Status: events.StatusOK, Error: "a\uFFFDb"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := events.NewDecoder(events.Options{})
			var got events.PredictionLog
			if err := d.DecodePrediction(&got, []byte(tt.give)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(&got), normalize(&tt.want)) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if n := d.UnknownFields(); n != tt.wantUnknown {
				t.Errorf("UnknownFields() = %d, want %d", n, tt.wantUnknown)
			}
		})
	}
}

// Reusing dst must not leak values from the previous message.
func TestDecodePredictionReuse(t *testing.T) {
	d := events.NewDecoder(events.Options{})
	var reused events.PredictionLog
	g := eventstest.New(7, eventstest.Config{Classes: 4, Contributions: true, SparseRate: 0.3})
	small := []byte(base + `,"score":0.5}`)
	for range 50 {
		for _, msg := range [][]byte{g.AppendPrediction(nil), small} {
			if err := d.DecodePrediction(&reused, msg); err != nil {
				t.Fatal(err)
			}
			var fresh events.PredictionLog
			if err := events.NewDecoder(events.Options{}).DecodePrediction(&fresh, msg); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(reused.Clone()), normalize(&fresh)) {
				t.Fatalf("reused decode differs for %s:\n%+v\n%+v", msg, reused, fresh)
			}
		}
	}
}

// normalize makes empty slices nil so reused and fresh structs compare equal.
func normalize(p *events.PredictionLog) *events.PredictionLog {
	for _, m := range []*events.Float64Map{&p.NumFeatures, &p.Probabilities, &p.Contributions} {
		if len(m.Keys) == 0 {
			*m = events.Float64Map{}
		}
	}
	for _, m := range []*events.StringMap{&p.CatFeatures, &p.Metadata} {
		if len(m.Keys) == 0 {
			*m = events.StringMap{}
		}
	}
	return p
}

type badCase struct {
	name      string
	give      string
	opts      events.Options
	wantCode  events.Code
	wantField string
	wantMsg   string // in the message, if set
}

var predictionBad = []badCase{
	{name: "zero bytes", give: ``, wantCode: events.CodeEmpty},
	{name: "whitespace", give: " \n\t ", wantCode: events.CodeEmpty},
	{name: "oversized", give: base + `,"score":1}`, opts: events.Options{MaxSize: 64}, wantCode: events.CodeOversized},

	{name: "unterminated object", give: base, wantCode: events.CodeInvalidJSON},
	{name: "missing value", give: `{"request_id":}`, wantCode: events.CodeInvalidJSON, wantField: "request_id"},
	{name: "trailing comma", give: base + `,"score":1,}`, wantCode: events.CodeInvalidJSON},
	{name: "data after object", give: base + `,"score":1} x`, wantCode: events.CodeInvalidJSON},
	{name: "two objects", give: base + `,"score":1}{}`, wantCode: events.CodeInvalidJSON},
	{name: "leading zero", give: base + `,"score":01}`, wantCode: events.CodeInvalidJSON},
	{name: "bare dot", give: base + `,"score":1.}`, wantCode: events.CodeInvalidJSON, wantField: "score"},
	{name: "lone minus", give: base + `,"score":-}`, wantCode: events.CodeInvalidJSON, wantField: "score"},
	{name: "bad exponent", give: base + `,"score":1e}`, wantCode: events.CodeInvalidJSON, wantField: "score"},
	{name: "NaN literal", give: base + `,"score":NaN}`, wantCode: events.CodeOutOfRange, wantField: "score"},
	{name: "Infinity literal", give: base + `,"latency_ms":Infinity}`, wantCode: events.CodeOutOfRange, wantField: "latency_ms"},
	{name: "minus Infinity literal", give: base + `,"score":-Infinity}`, wantCode: events.CodeOutOfRange, wantField: "score"},
	{name: "NaN feature", give: base + `,"score":1,"features":{"amount":NaN}}`, wantCode: events.CodeOutOfRange, wantField: "features.amount"},
	{name: "bad number feature", give: base + `,"score":1,"features":{"amount":1.}}`, wantCode: events.CodeInvalidJSON, wantField: "features.amount"},
	{name: "NaN in literal's place", give: base + `,"score":Nope}`, wantCode: events.CodeInvalidJSON, wantField: "score"},
	{name: "NaN prefix of a bad literal", give: base + `,"score":NaNsense}`, wantCode: events.CodeInvalidJSON, wantField: "score"},
	{name: "Infinity prefix of a bad literal", give: base + `,"score":Infinityx}`, wantCode: events.CodeInvalidJSON, wantField: "score"},
	{name: "minus Infinity feature", give: base + `,"score":1,"features":{"amount":-Infinity}}`, wantCode: events.CodeOutOfRange, wantField: "features.amount"},
	{name: "minus Infinity probability", give: base + `,"score":1,"probabilities":{"a":-Infinity}}`, wantCode: events.CodeOutOfRange, wantField: "probabilities.a"},
	{name: "NaN probability", give: base + `,"score":1,"probabilities":{"a":NaN}}`, wantCode: events.CodeOutOfRange, wantField: "probabilities.a"},
	{name: "minus Infinity label", give: base + `,"score":1,"label":-Infinity}`, wantCode: events.CodeOutOfRange, wantField: "label"},
	{name: "minus Infinity time", give: `{"request_id":"r","model_id":"m","model_version":"v","latency_ms":1,"event_time":-Infinity}`, wantCode: events.CodeOutOfRange, wantField: "event_time"},
	{name: "NaN metadata", give: base + `,"score":1,"metadata":{"tenant":NaN}}`, wantCode: events.CodeOutOfRange, wantField: "metadata.tenant"},
	{name: "bad escape in metadata", give: base + `,"score":1,"metadata":{"tenant":"\q"}}`, wantCode: events.CodeInvalidJSON, wantField: "metadata.tenant"},
	{name: "bad number in probabilities", give: base + `,"score":1,"probabilities":{"a":1e}}`, wantCode: events.CodeInvalidJSON, wantField: "probabilities.a"},
	{name: "bad escape", give: base + `,"score":1,"error":"\x"}`, wantCode: events.CodeInvalidJSON, wantField: "error"},
	{name: "short unicode escape", give: base + `,"score":1,"error":"\u12"}`, wantCode: events.CodeInvalidJSON, wantField: "error"},
	{name: "raw newline in string", give: base + ",\"score\":1,\"error\":\"a\nb\"}", wantCode: events.CodeInvalidJSON, wantField: "error"},
	{name: "single quotes", give: `{'request_id':'r1'}`, wantCode: events.CodeInvalidJSON},
	{name: "bad literal", give: base + `,"score":nul}`, wantCode: events.CodeInvalidJSON},
	{name: "missing colon", give: `{"request_id" "r1"}`, wantCode: events.CodeInvalidJSON},
	{name: "unterminated string", give: `{"request_id":"r1`, wantCode: events.CodeInvalidJSON, wantField: "request_id"},
	{name: "deep unknown", give: base + `,"score":1,"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, wantCode: events.CodeInvalidJSON},
	{name: "malformed inside wrong type", give: base + `,"score":"1}`, wantCode: events.CodeInvalidJSON, wantField: "score"},

	{name: "invalid utf8 in value", give: `{"request_id":"r` + "\xff" + `"}`, wantCode: events.CodeInvalidUTF8, wantField: "request_id"},
	{name: "invalid utf8 in key", give: base + `,"score":1,"` + "\xc3\x28" + `":1}`, wantCode: events.CodeInvalidUTF8},
	{name: "invalid utf8 in unknown field", give: base + `,"score":1,"x":["` + "\xed\xa0\x80" + `"]}`, wantCode: events.CodeInvalidUTF8},

	{name: "no request_id", give: `{"model_id":"m","model_version":"v1","event_time":1764166516123,"latency_ms":5,"score":1}`, wantCode: events.CodeMissingField, wantField: "request_id"},
	{name: "empty request_id", give: `{"request_id":"","model_id":"m","model_version":"v1","event_time":1764166516123,"latency_ms":5,"score":1}`, wantCode: events.CodeMissingField, wantField: "request_id"},
	{name: "null model_id", give: `{"request_id":"r","model_id":null,"model_version":"v1","event_time":1764166516123,"latency_ms":5,"score":1}`, wantCode: events.CodeMissingField, wantField: "model_id"},
	{name: "model id with a tab", give: `{"request_id":"r","model_id":"a\tb","model_version":"v1","event_time":1764166516123,"latency_ms":5,"score":1}`, wantCode: events.CodeInvalidValue, wantField: "model_id"},
	{name: "model id too long", give: `{"request_id":"r","model_id":"` + strings.Repeat("m", 257) + `","model_version":"v1","event_time":1764166516123,"latency_ms":5,"score":1}`, wantCode: events.CodeInvalidValue, wantField: "model_id"},
	{name: "version too long", give: `{"request_id":"r","model_id":"m","model_version":"` + strings.Repeat("ü", 129) + `","event_time":1764166516123,"latency_ms":5,"score":1}`, wantCode: events.CodeInvalidValue, wantField: "model_version"},
	{name: "experiment id with a newline", give: `{"request_id":"r","model_id":"m","model_version":"v1","event_time":1764166516123,"latency_ms":5,"score":1,"experiment_id":"e\n"}`, wantCode: events.CodeInvalidValue, wantField: "experiment_id"},
	{name: "variant with a newline", give: `{"request_id":"r","model_id":"m","model_version":"v1","event_time":1764166516123,"latency_ms":5,"score":1,"experiment_id":"e","variant":"B\n"}`, wantCode: events.CodeInvalidValue, wantField: "variant"},
	{name: "feature name with a newline", give: base + `,"score":1,"features":{"a\nb":1}}`, wantCode: events.CodeInvalidValue, wantField: "features", wantMsg: `name "a\nb" contains a control character`},
	{name: "categorical feature name with a tab", give: base + `,"score":1,"features":{"ok":1,"a\tb":"x"}}`, wantCode: events.CodeInvalidValue, wantField: "features", wantMsg: "control character"},
	{name: "feature name with a C1 control", give: base + `,"score":1,"features":{"a\u0085":1}}`, wantCode: events.CodeInvalidValue, wantField: "features", wantMsg: "control character"},
	{name: "feature name with a DEL", give: base + `,"score":1,"features":{"abcdefghij` + "\x7f" + `":1}}`, wantCode: events.CodeInvalidValue, wantField: "features", wantMsg: "control character"},
	{name: "metadata key with a DEL", give: base + `,"score":1,"metadata":{"` + "\x7f" + `":"x"}}`, wantCode: events.CodeInvalidValue, wantField: "metadata", wantMsg: "control character"},
	{name: "long feature name with a tab far in", give: base + `,"score":1,"features":{"` + strings.Repeat("f", 99) + `\tx":1}}`, wantCode: events.CodeInvalidValue, wantField: "features", wantMsg: "contains a control character at character 100"},
	{name: "feature name too long", give: base + `,"score":1,"features":{"` + strings.Repeat("f", 257) + `":1}}`, wantCode: events.CodeInvalidValue, wantField: "features", wantMsg: "longer than 256 characters"},
	{name: "metadata key with a NUL", give: base + `,"score":1,"metadata":{"ten\u0000ant":"acme"}}`, wantCode: events.CodeInvalidValue, wantField: "metadata", wantMsg: "control character"},
	{name: "contribution name with a newline", give: base + `,"score":1,"contributions":{"a\n":0.1}}`, wantCode: events.CodeInvalidValue, wantField: "contributions", wantMsg: "control character"},
	{name: "request id with a NUL", give: `{"request_id":"r\u0000","model_id":"m","model_version":"v1","event_time":1764166516123,"latency_ms":5,"score":1}`, wantCode: events.CodeInvalidValue, wantField: "request_id"},
	{name: "version *", give: `{"request_id":"r","model_id":"m","model_version":"*","event_time":1764166516123,"latency_ms":5,"score":1}`, wantCode: events.CodeInvalidValue, wantField: "model_version"},
	{name: "no model_version", give: `{"request_id":"r","model_id":"m","event_time":1764166516123,"latency_ms":5,"score":1}`, wantCode: events.CodeMissingField, wantField: "model_version"},
	{name: "no event_time", give: `{"request_id":"r","model_id":"m","model_version":"v1","latency_ms":5,"score":1}`, wantCode: events.CodeMissingField, wantField: "event_time"},
	{name: "no latency", give: `{"request_id":"r","model_id":"m","model_version":"v1","event_time":1764166516123,"score":1}`, wantCode: events.CodeMissingField, wantField: "latency_ms"},
	{name: "ok without outputs", give: base + `}`, wantCode: events.CodeMissingField, wantField: "score"},

	{name: "top-level array", give: `[1,2]`, wantCode: events.CodeWrongType, wantMsg: "send one event per message"},
	{name: "top-level null", give: `null`, wantCode: events.CodeWrongType},
	{name: "request_id number", give: `{"request_id":12}`, wantCode: events.CodeWrongType, wantField: "request_id"},
	{name: "features array", give: base + `,"features":[1,2]}`, wantCode: events.CodeWrongType, wantField: "features"},
	{name: "feature object", give: base + `,"features":{"a":{"b":1}}}`, wantCode: events.CodeWrongType, wantField: "features.a"},
	{name: "score string", give: base + `,"score":"0.5"}`, wantCode: events.CodeWrongType, wantField: "score"},
	{name: "latency string", give: `{"latency_ms":"5"}`, wantCode: events.CodeWrongType, wantField: "latency_ms"},
	{name: "metadata value object", give: base + `,"score":1,"metadata":{"a":{}}}`, wantCode: events.CodeWrongType, wantField: "metadata.a"},
	{name: "probability string", give: base + `,"probabilities":{"a":"0.5"}}`, wantCode: events.CodeWrongType, wantField: "probabilities.a"},
	{name: "status number", give: base + `,"status":1}`, wantCode: events.CodeWrongType, wantField: "status"},
	{name: "event_time bool", give: `{"event_time":true}`, wantCode: events.CodeWrongType, wantField: "event_time"},

	{name: "score overflows to Inf", give: base + `,"score":1e999}`, wantCode: events.CodeOutOfRange, wantField: "score"},
	{name: "value -Inf", give: base + `,"value":-1e400}`, wantCode: events.CodeOutOfRange, wantField: "value"},
	{name: "latency above a day", give: `{"request_id":"r1","model_id":"m","model_version":"v1","event_time":1764166516123,"latency_ms":1e300,"score":1}`, wantCode: events.CodeOutOfRange, wantField: "latency_ms"},
	{name: "negative latency", give: `{"request_id":"r1","model_id":"m","model_version":"v1","event_time":1764166516123,"latency_ms":-1,"score":1}`, wantCode: events.CodeOutOfRange, wantField: "latency_ms"},
	{name: "confidence above 1", give: base + `,"score":1,"confidence":1.5}`, wantCode: events.CodeOutOfRange, wantField: "confidence"},
	{name: "probability above 1", give: base + `,"probabilities":{"a":1.2}}`, wantCode: events.CodeOutOfRange, wantField: "probabilities.a"},
	{name: "negative probability", give: base + `,"probabilities":{"a":-0.1}}`, wantCode: events.CodeOutOfRange, wantField: "probabilities.a"},
	{name: "probabilities summing above 1", give: base + `,"probabilities":{"a":0.9,"b":0.9}}`, wantCode: events.CodeOutOfRange, wantField: "probabilities", wantMsg: "sum to 1.8, above the 1.1 allowed"},
	{name: "feature Inf", give: base + `,"score":1,"features":{"a":1e400}}`, wantCode: events.CodeOutOfRange, wantField: "features.a"},
	{name: "feature named __score__", give: base + `,"score":1,"features":{"a":1,"__score__":2}}`, wantCode: events.CodeInvalidValue, wantField: "features.__score__"},
	{name: "feature named __value__", give: base + `,"value":1,"features":{"__value__":"x"}}`, wantCode: events.CodeInvalidValue, wantField: "features.__value__"},
	{name: "categorical feature named __label__", give: base + `,"score":1,"features":{"__label__":"x"}}`, wantCode: events.CodeInvalidValue, wantField: "features.__label__"},
	{name: "empty feature name", give: base + `,"score":1,"features":{"":1}}`, wantCode: events.CodeInvalidValue, wantField: "features."},
	{name: "contribution Inf", give: base + `,"score":1,"contributions":{"a":-1e400}}`, wantCode: events.CodeOutOfRange, wantField: "contributions.a"},
	{name: "empty metadata key", give: base + `,"score":1,"metadata":{"tenant":"a","":"x"}}`, wantCode: events.CodeInvalidValue, wantField: "metadata."},
	{name: "empty metadata key, number", give: base + `,"score":1,"metadata":{"":5}}`, wantCode: events.CodeInvalidValue, wantField: "metadata."},
	{name: "empty class", give: base + `,"probabilities":{"a":0.5,"":0.5}}`, wantCode: events.CodeInvalidValue, wantField: "probabilities."},
	{name: "empty contribution name", give: base + `,"score":1,"contributions":{"":0.1}}`, wantCode: events.CodeInvalidValue, wantField: "contributions."},

	{name: "bad month", give: `{"event_time":"2025-13-01T00:00:00Z"}`, wantCode: events.CodeInvalidTime, wantField: "event_time"},
	{name: "prose time", give: `{"event_time":"yesterday"}`, wantCode: events.CodeInvalidTime, wantField: "event_time"},
	{name: "no zone", give: `{"event_time":"2025-11-26T14:15:16"}`, wantCode: events.CodeInvalidTime, wantField: "event_time"},
	{name: "not a leap year", give: `{"event_time":"2025-02-29T00:00:00Z"}`, wantCode: events.CodeInvalidTime, wantField: "event_time"},
	{name: "epoch seconds", give: `{"event_time":1764166516}`, wantCode: events.CodeInvalidTime, wantField: "event_time"},
	{name: "epoch micros", give: `{"event_time":1764166516123000}`, wantCode: events.CodeInvalidTime, wantField: "event_time"},
	{name: "before 2000", give: `{"event_time":"1999-12-31T23:59:59Z"}`, wantCode: events.CodeInvalidTime, wantField: "event_time"},

	{name: "status upper case", give: base + `,"status":"OK"}`, wantCode: events.CodeInvalidValue, wantField: "status"},

	{name: "unknown model", give: base + `,"score":1}`, opts: events.Options{KnownModel: func(id string) bool { return id == "other" }}, wantCode: events.CodeUnknownModel, wantField: "model_id"},
}

func TestDecodePredictionBad(t *testing.T) {
	seen := map[events.Code]bool{}
	for _, tt := range predictionBad {
		t.Run(tt.name, func(t *testing.T) {
			d := events.NewDecoder(tt.opts)
			var p events.PredictionLog
			err := d.DecodePrediction(&p, []byte(tt.give))
			checkBad(t, err, tt)
			seen[tt.wantCode] = true
		})
	}
	for _, c := range events.Codes {
		// wrong_topic is an outcome's (a prediction on the outcomes
		// topic), tested with them.
		if !seen[c] && c != events.CodeWrongTopic {
			t.Errorf("no bad-input case for code %q", c)
		}
	}
}

func checkBad(t *testing.T, err error, tt badCase) {
	t.Helper()
	var ve *events.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v (%T), want *ValidationError", err, err)
	}
	if ve.Code != tt.wantCode || ve.Field != tt.wantField {
		t.Fatalf("got code %q field %q (%v), want code %q field %q", ve.Code, ve.Field, err, tt.wantCode, tt.wantField)
	}
	if events.CodeOf(err) != tt.wantCode {
		t.Errorf("CodeOf = %q", events.CodeOf(err))
	}
	if !strings.Contains(ve.Msg, tt.wantMsg) {
		t.Errorf("message %q, want it to say %q", ve.Msg, tt.wantMsg)
	}
	sentinel := &events.ValidationError{Code: tt.wantCode}
	if !errors.Is(err, sentinel) {
		t.Errorf("errors.Is(err, sentinel %q) = false", tt.wantCode)
	}
}

func TestErrorSentinels(t *testing.T) {
	err := error(&events.ValidationError{Code: events.CodeOutOfRange, Field: "score", Msg: "not finite"})
	if !errors.Is(err, events.ErrOutOfRange) || errors.Is(err, events.ErrInvalidJSON) {
		t.Error("errors.Is does not match by code")
	}
	if got, want := err.Error(), `events: out_of_range "score": not finite`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if events.CodeOf(errors.New("boom")) != "" {
		t.Error("CodeOf(non-validation error) != \"\"")
	}
}

// A message missing several required fields names them all, so that a
// producer fixes them in one go (the DLQ reason is the error's text).
func TestMissingFieldsNamedTogether(t *testing.T) {
	tests := []struct {
		name, give, wantField, wantMsg string
	}{
		{"version and latency", `{"request_id":"r","model_id":"m","event_time":1764166516123,"score":1}`,
			"model_version", "also missing: latency_ms"},
		{"ids and time", `{"latency_ms":5,"score":1}`, "request_id", "also missing: model_id, model_version, event_time"},
		// An outcome sent to the predictions topic: said so, since adding
		// the fields named is not the fix.
		{"an outcome", `{"request_id":"r","model_id":"m","event_time":1764166516123,"label":"1"}`, "model_version",
			"also missing: latency_ms; it looks like an outcome (label or value, no model_version, latency_ms or other prediction output): " +
				"outcomes belong on the outcomes topic (predlog.outcomes by default)"},
		{"a regression outcome without its model", `{"request_id":"r","event_time":1764166516123,"value":3}`, "model_id",
			"also missing: model_version, latency_ms; it looks like an outcome (label or value, no model_version, latency_ms or other prediction output): " +
				"outcomes belong on the outcomes topic (predlog.outcomes by default)"},
		// A prediction output or input says it is no outcome.
		{"label and features", `{"request_id":"r","model_id":"m","event_time":1764166516123,"label":"1","features":{"a":1}}`,
			"model_version", "also missing: latency_ms"},
		{"model_version present", `{"request_id":"r","model_id":"m","model_version":"v","event_time":1764166516123,"label":"1"}`,
			"latency_ms", ""},
		{"latency alone", `{"request_id":"r","model_id":"m","model_version":"v1","event_time":1764166516123,"score":1}`, "latency_ms", ""},
		// Missing fields come before any other problem.
		{"latency and a bad confidence", `{"request_id":"r","model_id":"m","model_version":"v1","event_time":1764166516123,"score":1,"confidence":2}`,
			"latency_ms", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p events.PredictionLog
			err := events.NewDecoder(events.Options{}).DecodePrediction(&p, []byte(tt.give))
			var ve *events.ValidationError
			if !errors.As(err, &ve) || ve.Code != events.CodeMissingField || ve.Field != tt.wantField || ve.Msg != tt.wantMsg {
				t.Fatalf("error %v, want missing_field %q with %q", err, tt.wantField, tt.wantMsg)
			}
		})
	}
}

// TestIDsAtTheLimit: ids as long as the query API accepts decode, counted
// in characters, not bytes.
func TestIDsAtTheLimit(t *testing.T) {
	id, version := strings.Repeat("é", events.MaxIDChars), strings.Repeat("ü", events.MaxVersionChars)
	msg := `{"request_id":"r","model_id":"` + id + `","model_version":"` + version +
		`","event_time":1764166516123,"latency_ms":5,"score":1,"experiment_id":"` + id + `"}`
	var p events.PredictionLog
	if err := events.NewDecoder(events.Options{}).DecodePrediction(&p, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if p.ModelID != id || p.ModelVersion != version {
		t.Errorf("ids changed: %d, %d characters", len([]rune(p.ModelID)), len([]rune(p.ModelVersion)))
	}
	// Names follow the same rules: 256 characters (512 bytes here), and
	// values of any kind (a newline in a metadata value is data).
	msg = `{"request_id":"r","model_id":"m","model_version":"v1","event_time":1764166516123,"latency_ms":5,"score":1,` +
		`"features":{"` + id + `":1,"größe":"m"},"metadata":{"` + id + `":"a\nb"},"contributions":{"` + id + `":0.5}}`
	if err := events.NewDecoder(events.Options{}).DecodePrediction(&p, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if p.NumFeatures.Keys[0] != id || p.CatFeatures.Keys[0] != "größe" || p.Metadata.Values[0] != "a\nb" {
		t.Errorf("names or values changed: %q, %q, %q", p.NumFeatures.Keys, p.CatFeatures.Keys, p.Metadata.Values)
	}
}

// TestEpochUnitNamed: an epoch time in seconds (or micro-, nanoseconds)
// is refused, and the DLQ reason says which unit it reads as, rather than
// only that milliseconds are out of range.
func TestEpochUnitNamed(t *testing.T) {
	const pre = `{"request_id":"r1","model_id":"m","model_version":"v1","latency_ms":1,"score":1,"event_time":`
	for give, want := range map[string]string{
		"1764166516":              "reads as epoch seconds: send milliseconds",
		"1764166516.5":            "reads as epoch seconds: send milliseconds",
		"1764166516123000":        "reads as epoch microseconds: send milliseconds",
		"1764166516123000000":     "reads as epoch nanoseconds: send milliseconds",
		"5":                       "",
		`"1764166516123"`:         "an epoch time in a string: send epoch milliseconds as a JSON number",
		`"1764166516"`:            "in a string: send epoch milliseconds as a JSON number, or RFC 3339; it reads as epoch seconds",
		`"yesterday"`:             "want RFC 3339 or epoch milliseconds",
		`"2026-11-28T16:00:00"`:   "no time zone: add Z for UTC",
		`"2026-11-28T16:00:00.5"`: "no time zone: add Z for UTC",
		`"2026-11-28 16:00:00"`:   "no time zone: add Z for UTC",
		`"2026-11-28T16:00:00+1"`: "want RFC 3339 or epoch milliseconds",
	} {
		var p events.PredictionLog
		err := events.NewDecoder(events.Options{}).DecodePrediction(&p, []byte(pre+give+"}"))
		if events.CodeOf(err) != events.CodeInvalidTime {
			t.Fatalf("%s: %v, want invalid_time", give, err)
		}
		msg := err.Error()
		if want == "" && strings.Contains(msg, "reads as") || want != "" && !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want it to say %q", give, msg, want)
		}
	}
}
