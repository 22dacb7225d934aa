package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/predlog/predlog/pkg/events
BenchmarkDecodePrediction/824B/predlog-2   	  500000	      2400 ns/op	 343.33 MB/s	       0 B/op	       0 allocs/op
    bench_test.go:12: a log line
pkg: github.com/predlog/predlog/internal/chwriter
BenchmarkPredictionBlock/rows=1000-2       	     100	  700000 ns/op	       700.0 ns/row	      12 B/op	       1 allocs/op
PASS
`
	got, err := parseBench(strings.NewReader(out))
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, MicroResult{Package: "github.com/predlog/predlog/pkg/events", Name: "BenchmarkDecodePrediction/824B/predlog", Procs: 2, Iterations: 500000,
		Metrics: map[string]float64{"ns/op": 2400, "MB/s": 343.33, "B/op": 0, "allocs/op": 0}}, got[0])
	assert.Equal(t, "github.com/predlog/predlog/internal/chwriter", got[1].Package)
	assert.Equal(t, 700.0, got[1].Metrics["ns/row"])
}

func TestHistogramQuantile(t *testing.T) {
	text := `# TYPE predlog_ingester_freshness_seconds histogram
predlog_ingester_freshness_seconds_bucket{le="0.5"} 10
predlog_ingester_freshness_seconds_bucket{le="1"} 60
predlog_ingester_freshness_seconds_bucket{le="2"} 100
predlog_ingester_freshness_seconds_bucket{le="+Inf"} 100
predlog_ingester_freshness_seconds_sum 90
predlog_ingester_freshness_seconds_count 100
`
	before := `predlog_ingester_freshness_seconds_bucket{le="0.5"} 10
predlog_ingester_freshness_seconds_bucket{le="1"} 10
predlog_ingester_freshness_seconds_bucket{le="2"} 10
predlog_ingester_freshness_seconds_bucket{le="+Inf"} 10
`
	h := parseHistogram(text, freshnessMetric)
	assert.Equal(t, 100.0, h.count())
	assert.InDelta(t, 0.9, h.quantile(0.5), 1e-9) // rank 50: 40 of the 50 in (0.5, 1]
	assert.InDelta(t, 1.975, h.quantile(0.99), 1e-9)

	d := histogramDelta(parseHistogram(before, freshnessMetric), h)
	assert.Equal(t, 90.0, d.count())
	assert.InDelta(t, 0.5+0.5*45.0/50, d.quantile(0.5), 1e-9)
	assert.Equal(t, 0.0, histogram{}.quantile(0.5))
}

func TestReplaceBetween(t *testing.T) {
	got, err := replaceBetween("a\n"+markerStart+"\nold\n"+markerEnd+"\nz\n", markerStart, markerEnd, "new\n")
	require.NoError(t, err)
	assert.Equal(t, "a\n"+markerStart+"\nnew\n"+markerEnd+"\nz\n", got)
	_, err = replaceBetween("no markers", markerStart, markerEnd, "x")
	assert.Error(t, err)
}

func TestSetEventTime(t *testing.T) {
	msg := []byte(`{"request_id":"x","event_time":1764165600000,"features":{}}`)
	setEventTime(msg, 1800000000123)
	assert.Equal(t, `{"request_id":"x","event_time":1800000000123,"features":{}}`, string(msg))
}

func TestInRoot(t *testing.T) {
	tests := []struct{ give, want string }{
		{"benchmarks/results", "/repo/benchmarks/results"},
		{"/tmp/out", "/tmp/out"},
	}
	for _, tt := range tests {
		if got := inRoot("/repo", tt.give); got != tt.want {
			t.Errorf("inRoot(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
