package ingest

import (
	"flag"
	"maps"
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

// TestMetricsStart: the series an alert watches for a first increase exist
// at 0 once the pipeline is built, for every configured topic and its
// table, and no others.
func TestMetricsStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.start(map[string]Kind{"preds": KindPredictions, "outs": KindOutcomes})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = s.GetCounter().GetValue() + s.GetGauge().GetValue()
		}
	}
	for _, want := range []string{
		"predlog_ingester_transaction_markers_total{topic=preds,type=abort}",
		"predlog_ingester_transaction_markers_total{topic=outs,type=commit}",
		"predlog_ingester_future_events_total{topic=outs}",
		"predlog_ingester_offset_resets_total{topic=preds}",
		"predlog_ingester_insert_errors_total{kind=schema,table=outcomes}",
		"predlog_ingester_insert_errors_total{kind=transient,table=prediction_logs}",
		"predlog_ingester_retries_total{op=dlq}",
		"predlog_ingester_schema_blocked_partitions{table=ingest_batches}",
	} {
		if v, ok := got[want]; !ok || v != 0 {
			t.Errorf("%s: %v (present %v), want 0", want, v, ok)
		}
	}
	tables := map[string]bool{}
	for k := range got {
		if _, rest, ok := strings.Cut(k, "table="); ok {
			tables[strings.TrimRight(rest, ",}")] = true
		}
		if strings.HasPrefix(k, "predlog_ingester_insert_errors_total") && strings.Contains(k, "table=ingest_batches") {
			t.Errorf("unexpected series %s: ledger failures are retries", k)
		}
	}
	if want := map[string]bool{"prediction_logs": true, "outcomes": true, "ingest_batches": true}; !maps.Equal(tables, want) {
		t.Errorf("tables %v, want those of the configured topics and the ledger", tables)
	}
}
