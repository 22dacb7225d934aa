package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
	"github.com/predlog/predlog/pkg/events/eventstest"
)

// fuzzDecode checks the properties every decoder must have on any input:
// no panic; the error is nil or a *ValidationError; an accepted message is
// valid JSON (encoding/json agrees), and well-formed JSON is never called
// invalid_json unless it nests deeper than we allow.
func fuzzDecode(t *testing.T, kind string, data []byte) {
	d := events.NewDecoder(events.Options{MaxSize: 64 << 10})
	_, err := decodeAny(d, kind, data)
	if err != nil {
		var ve *events.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("error is %T, not *ValidationError: %v", err, err)
		}
		if ve.Code == events.CodeInvalidJSON && json.Valid(data) && !deep(data) {
			t.Fatalf("invalid_json for JSON that encoding/json accepts: %v", err)
		}
		return
	}
	if !json.Valid(data) {
		t.Fatalf("accepted input that encoding/json rejects")
	}
	// Decoding again with a warm Decoder and reused destination gives the
	// same result.
	if kind == "prediction" {
		var a, b events.PredictionLog
		if err := d.DecodePrediction(&a, data); err != nil {
			t.Fatalf("second decode failed: %v", err)
		}
		first := a.Clone()
		if err := d.DecodePrediction(&b, data); err != nil {
			t.Fatal(err)
		}
		if !equalJSON(first, b.Clone()) {
			t.Fatalf("decode is not repeatable")
		}
		// Every name it kept can be named in a query.
		for _, keys := range [][]string{a.NumFeatures.Keys, a.CatFeatures.Keys, a.Metadata.Keys, a.Contributions.Keys} {
			for _, k := range keys {
				if p := events.IDProblem(k, events.MaxIDChars); p != "" {
					t.Fatalf("accepted the name %q: %s", k, p)
				}
			}
		}
	}
}

func deep(data []byte) bool {
	return bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > 64
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func addSeeds(f *testing.F, kind string) {
	ex := docExamples(f)
	f.Add(ex[kind])
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"model_id":"m","x":[1,{"y":null}],"event_time":"2025-11-26T14:15:16.123+01:00"}`))
	f.Add([]byte(`{"request_id":"\ud83d\ude00\u00e9","features":{"a":1e400,"b":"\xff"}}`))
	for _, tt := range predictionBad {
		f.Add([]byte(tt.give))
	}
}

func FuzzDecodePrediction(f *testing.F) {
	addSeeds(f, "prediction")
	for i, cfg := range []eventstest.Config{{}, {Classes: 4, EpochMillis: true, Contributions: true}, {ErrorRate: 1, SparseRate: 0.5}} {
		f.Add(eventstest.New(uint64(i), cfg).AppendPrediction(nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, "prediction", data) })
}

func FuzzDecodeOutcome(f *testing.F) {
	addSeeds(f, "outcome")
	f.Add(docExamples(f)["prediction"]) // on the wrong topic
	g := eventstest.New(1, eventstest.Config{})
	g.AppendPrediction(nil)
	f.Add(g.AppendOutcome(nil, time.Hour))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, "outcome", data) })
}

func FuzzDecodeModel(f *testing.F) {
	addSeeds(f, "model")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, "model", data) })
}

func FuzzDecodeTrainingJob(f *testing.F) {
	addSeeds(f, "training_job")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, "training_job", data) })
}

func FuzzDecodeFeatureImportance(f *testing.F) {
	addSeeds(f, "feature_importance")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, "feature_importance", data) })
}

func FuzzDecodeFeatureBaseline(f *testing.F) {
	addSeeds(f, "feature_baseline")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, "feature_baseline", data) })
}
