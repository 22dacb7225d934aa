package ingest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestMetricsGolden pins the names, types, help and labels of the
// ingester's metrics: dashboards and configs/alerts.yml depend on them.
func TestMetricsGolden(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	// Vectors only appear once a child exists.
	m.consumedMessages.WithLabelValues("t")
	m.consumedBytes.WithLabelValues("t")
	m.unknownFields.WithLabelValues("t")
	m.rejected.WithLabelValues("t", "invalid_json")
	m.insertedRows.WithLabelValues("prediction_logs")
	m.insertDuration.WithLabelValues("prediction_logs")
	m.insertErrors.WithLabelValues("prediction_logs", "transient")
	m.retries.WithLabelValues("insert")
	m.lag.WithLabelValues("t", "0")
	m.refusedBatches.WithLabelValues("t")
	m.offsetResets.WithLabelValues("t")
	m.txnMarkers.WithLabelValues("t", "abort")
	m.refusedPartitions.WithLabelValues("prediction_logs")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		var labels []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		b.WriteString(mf.GetName() + " " + mf.GetType().String() + " {" + strings.Join(labels, ",") + "} " + mf.GetHelp() + "\n")
	}
	path := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if b.String() != string(want) {
		t.Fatalf("metrics changed (run with -update if intended):\n%s", b.String())
	}
}
