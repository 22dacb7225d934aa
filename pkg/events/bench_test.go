package events_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/predlog/predlog/pkg/events"
	"github.com/predlog/predlog/pkg/events/eventstest"
)

// Results, go1.26.8 linux/amd64, Intel Xeon, 2 vCPUs shared with other builds
// (load average ~2, so absolute numbers are pessimistic; ratios hold):
//
//	go test -run='^$' -bench=. -benchmem ./pkg/events/
//
//	DecodePrediction/824B_20features/predlog               1651-2227 ns/op  370-499 MB/s      0 B/op     0 allocs/op
//	DecodePrediction/824B_20features/encoding_json_struct  25-34 µs/op       24-33 MB/s    4400 B/op   118 allocs/op
//	DecodePrediction/824B_20features/encoding_json_map     14-19 µs/op       43-58 MB/s    5040 B/op   134 allocs/op
//	DecodePrediction/200features/predlog                   29923 ns/op        236 MB/s        1 B/op     0 allocs/op
//	DecodePrediction/200features/encoding_json_struct     193772 ns/op         36 MB/s    47072 B/op  1177 allocs/op
//	DecodePrediction/multiclass_10/predlog                  3572 ns/op        283 MB/s        0 B/op     0 allocs/op
//	DecodePrediction/multiclass_10/encoding_json_struct    39260 ns/op         26 MB/s     5352 B/op   144 allocs/op
//	DecodePredictionParallel (2 goroutines)                 4009 ns/op        206 MB/s        0 B/op     0 allocs/op
//	DecodeOutcome                                          291.3 ns/op        419 MB/s        0 B/op     0 allocs/op
//	DecodeOutcomeUnknownMembers                         354-664 ns/op    315-590 MB/s      0 B/op     0 allocs/op
//
// Profile of the 824-byte case: string scanning ~27% (hence the 8-byte SWAR
// loop in rawString), number parsing ~16% (Clinger fast path, strconv only for
// long or extreme numbers), copying strings into the arena ~10%. Copying is
// kept on purpose: aliasing the caller's buffer instead would save ~10% but
// tie every string's lifetime to the Kafka client's buffers.
//
// The hand-written decoder is what the ingester uses; encoding/json is kept
// here as the baseline it has to beat. encoding/json into a struct still needs
// map[string]any for mixed-type features and a second pass for the time
// field, and allocates every key and value.

// jsonPrediction is what a straightforward encoding/json consumer would
// decode into.
type jsonPrediction struct {
	RequestID     string             `json:"request_id"`
	ModelID       string             `json:"model_id"`
	ModelVersion  string             `json:"model_version"`
	EventTime     json.RawMessage    `json:"event_time"`
	Features      map[string]any     `json:"features"`
	Score         *float64           `json:"score"`
	Value         *float64           `json:"value"`
	Label         string             `json:"label"`
	Probabilities map[string]float64 `json:"probabilities"`
	Confidence    *float64           `json:"confidence"`
	LatencyMs     *float64           `json:"latency_ms"`
	Status        string             `json:"status"`
	Error         string             `json:"error"`
	Metadata      map[string]string  `json:"metadata"`
	ExperimentID  string             `json:"experiment_id"`
	Variant       string             `json:"variant"`
	Contributions map[string]float64 `json:"contributions"`
}

func (p *jsonPrediction) eventTime() (int64, error) {
	if len(p.EventTime) > 0 && p.EventTime[0] == '"' {
		var s string
		if err := json.Unmarshal(p.EventTime, &s); err != nil {
			return 0, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t.UnixMilli(), err
	}
	f, err := strconv.ParseFloat(string(p.EventTime), 64)
	return int64(f), err
}

func BenchmarkDecodePrediction(b *testing.B) {
	msgs := []struct {
		name string
		data []byte
	}{
		{"824B_20features", eventstest.Prediction()},
		{"200features", eventstest.New(1, eventstest.Config{NumFeatures: 160, CatFeatures: 40, Contributions: true}).AppendPrediction(nil)},
		{"multiclass_10", eventstest.New(1, eventstest.Config{Classes: 10}).AppendPrediction(nil)},
	}
	for _, m := range msgs {
		b.Run(m.name+"/predlog", func(b *testing.B) {
			d := events.NewDecoder(events.Options{})
			var p events.PredictionLog
			b.ReportAllocs()
			b.SetBytes(int64(len(m.data)))
			for b.Loop() {
				if err := d.DecodePrediction(&p, m.data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(m.name+"/encoding_json_struct", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(m.data)))
			for b.Loop() {
				var p jsonPrediction
				if err := json.Unmarshal(m.data, &p); err != nil {
					b.Fatal(err)
				}
				if _, err := p.eventTime(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(m.name+"/encoding_json_map", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(m.data)))
			for b.Loop() {
				var p map[string]any
				if err := json.Unmarshal(m.data, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodePredictionParallel shows per-core scaling with one Decoder
// per goroutine, as the ingester runs it.
func BenchmarkDecodePredictionParallel(b *testing.B) {
	data := eventstest.Prediction()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.RunParallel(func(pb *testing.PB) {
		d := events.NewDecoder(events.Options{})
		var p events.PredictionLog
		for pb.Next() {
			if err := d.DecodePrediction(&p, data); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkDecodeOutcome(b *testing.B) {
	g := eventstest.New(1, eventstest.Config{})
	g.AppendPrediction(nil)
	benchDecodeOutcome(b, g.AppendOutcome(nil, 90*time.Minute))
}

// BenchmarkDecodeOutcomeUnknownMembers: members outside the outcome
// contract are checked against the prediction-only names (wrong_topic)
// before they are skipped; that check must not allocate either.
func BenchmarkDecodeOutcomeUnknownMembers(b *testing.B) {
	data := []byte(`{"request_id":"7f3c9a2e-5b1d-4c8e-9a6f-1e2d3c4b5a69","model_id":"fraud-detector","event_time":1764253000000,` +
		`"label":"1","model_version":"v4.1.0","metadata":{"tenant":"acme"},"source":"chargeback","score":null}`)
	benchDecodeOutcome(b, data)
}

func benchDecodeOutcome(b *testing.B, data []byte) {
	d := events.NewDecoder(events.Options{})
	var o events.Outcome
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := d.DecodeOutcome(&o, data); err != nil {
			b.Fatal(err)
		}
	}
}
