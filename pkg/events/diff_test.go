package events_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
	"github.com/predlog/predlog/pkg/events/eventstest"
)

// view is a decoder-independent picture of a prediction log, built both from
// our struct and from encoding/json's map[string]any.
type view struct {
	RequestID, ModelID, ModelVersion string
	EventTime                        int64
	Num                              map[string]float64
	Cat                              map[string]string
	Score, Value, Confidence         *float64
	Label                            string
	Probabilities                    map[string]float64
	LatencyMs                        float64
	Status, Error                    string
	Metadata                         map[string]string
	ExperimentID, Variant            string
	Contributions                    map[string]float64
}

func viewOf(p *events.PredictionLog) view {
	v := view{RequestID: p.RequestID, ModelID: p.ModelID, ModelVersion: p.ModelVersion, EventTime: p.EventTime,
		Num: map[string]float64{}, Cat: map[string]string{}, Label: p.Label, Probabilities: map[string]float64{},
		LatencyMs: p.LatencyMs, Status: p.Status.String(), Error: p.Error, Metadata: map[string]string{},
		ExperimentID: p.ExperimentID, Variant: p.Variant, Contributions: map[string]float64{}}
	opt := func(f float64, ok bool) *float64 {
		if !ok {
			return nil
		}
		return &f
	}
	v.Score, v.Value, v.Confidence = opt(p.Score, p.HasScore), opt(p.Value, p.HasValue), opt(p.Confidence, p.HasConfidence)
	for i, k := range p.NumFeatures.Keys {
		v.Num[k] = p.NumFeatures.Values[i]
	}
	for i, k := range p.CatFeatures.Keys {
		v.Cat[k] = p.CatFeatures.Values[i]
	}
	for i, k := range p.Probabilities.Keys {
		v.Probabilities[k] = p.Probabilities.Values[i]
	}
	for i, k := range p.Metadata.Keys {
		v.Metadata[k] = p.Metadata.Values[i]
	}
	for i, k := range p.Contributions.Keys {
		v.Contributions[k] = p.Contributions.Values[i]
	}
	return v
}

func viewFromJSON(t *testing.T, data []byte) view {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep number text so labels and versions keep their spelling
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	f64 := func(x any) float64 {
		f, err := x.(json.Number).Float64()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	str := func(x any) string {
		switch x := x.(type) {
		case nil:
			return ""
		case string:
			return x
		case json.Number:
			return string(x)
		case bool:
			return strconv.FormatBool(x)
		}
		t.Fatalf("unexpected %T", x)
		return ""
	}
	optF := func(x any) *float64 {
		if x == nil {
			return nil
		}
		f := f64(x)
		return &f
	}
	fmap := func(x any) map[string]float64 {
		out := map[string]float64{}
		obj, _ := x.(map[string]any)
		for k, v := range obj {
			if v != nil {
				out[k] = f64(v)
			}
		}
		return out
	}
	smap := func(x any) map[string]string {
		out := map[string]string{}
		obj, _ := x.(map[string]any)
		for k, v := range obj {
			if v != nil {
				out[k] = str(v)
			}
		}
		return out
	}
	v := view{RequestID: str(m["request_id"]), ModelID: str(m["model_id"]), ModelVersion: str(m["model_version"]),
		Num: map[string]float64{}, Cat: map[string]string{}, Score: optF(m["score"]), Value: optF(m["value"]),
		Confidence: optF(m["confidence"]), Label: str(m["label"]), Probabilities: fmap(m["probabilities"]),
		LatencyMs: f64(m["latency_ms"]), Status: str(m["status"]), Error: str(m["error"]),
		Metadata: smap(m["metadata"]), ExperimentID: str(m["experiment_id"]), Variant: str(m["variant"]),
		Contributions: fmap(m["contributions"])}
	if v.Status == "" {
		v.Status = "ok"
	}
	switch et := m["event_time"].(type) {
	case string:
		tm, err := time.Parse(time.RFC3339Nano, et)
		if err != nil {
			t.Fatal(err)
		}
		v.EventTime = tm.UnixMilli()
	case json.Number:
		v.EventTime = int64(f64(et))
	}
	feats, _ := m["features"].(map[string]any)
	for k, x := range feats {
		switch x := x.(type) {
		case string:
			v.Cat[k] = x
		case json.Number:
			v.Num[k] = f64(x)
		case bool:
			v.Num[k] = map[bool]float64{false: 0, true: 1}[x]
		}
	}
	return v
}

// TestDecodePredictionMatchesEncodingJSON decodes generated messages of every
// shape with both decoders and compares the results.
func TestDecodePredictionMatchesEncodingJSON(t *testing.T) {
	configs := []eventstest.Config{
		{},
		{EpochMillis: true, Contributions: true},
		{Classes: 5, SparseRate: 0.4, MetadataKeys: 6},
		{ErrorRate: 0.3, NoExperiment: true},
		{NumFeatures: 150, CatFeatures: 50, Contributions: true, SparseRate: 0.1},
		{Classes: 40, Models: 50},
	}
	d := events.NewDecoder(events.Options{})
	var p events.PredictionLog
	var buf []byte
	for ci, cfg := range configs {
		g := eventstest.New(uint64(ci+1), cfg)
		for range 300 {
			buf = g.AppendPrediction(buf[:0])
			if err := d.DecodePrediction(&p, buf); err != nil {
				t.Fatalf("config %d: %v\n%s", ci, err, buf)
			}
			got, want := viewOf(&p), viewFromJSON(t, buf)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("config %d: decoders disagree on\n%s\nours: %+v\njson: %+v", ci, buf, got, want)
			}
		}
	}
}

func TestGeneratorOutcome(t *testing.T) {
	g := eventstest.New(3, eventstest.Config{})
	d := events.NewDecoder(events.Options{})
	var p events.PredictionLog
	var o events.Outcome
	for range 100 {
		if err := d.DecodePrediction(&p, g.AppendPrediction(nil)); err != nil {
			t.Fatal(err)
		}
		reqID, pt := p.RequestID, p.EventTime
		reqID = string(append([]byte(nil), reqID...)) // p's strings die at the next decode
		if err := d.DecodeOutcome(&o, g.AppendOutcome(nil, time.Hour)); err != nil {
			t.Fatal(err)
		}
		if o.RequestID != reqID || o.EventTime != pt+time.Hour.Milliseconds() || !o.HasLabel {
			t.Fatalf("outcome %+v does not match prediction %s", o, reqID)
		}
	}
}
