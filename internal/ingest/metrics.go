package ingest

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/predlog/predlog/internal/chwriter"
)

// metrics are the pipeline's Prometheus metrics. Label sets are bounded:
// topics and tables come from the configuration, partitions from the topics,
// error kinds and codes from fixed lists.
type metrics struct {
	consumedMessages *prometheus.CounterVec // topic
	consumedBytes    *prometheus.CounterVec // topic
	unknownFields    *prometheus.CounterVec // topic
	rejected         *prometheus.CounterVec // topic, code
	insertedRows     *prometheus.CounterVec // table
	batchRows        prometheus.Histogram
	batchBytes       prometheus.Histogram
	insertDuration   *prometheus.HistogramVec // table
	insertErrors     *prometheus.CounterVec   // table, kind
	retries          *prometheus.CounterVec   // op
	lag              *prometheus.GaugeVec     // topic, partition
	buffered         prometheus.Gauge
	rebalances       prometheus.Counter
	assigned         prometheus.Gauge
	freshness        prometheus.Histogram
	futureEvents     *prometheus.CounterVec
	replayed         prometheus.Counter
	ledgerMismatches prometheus.Counter
	bisected         prometheus.Counter
	commits          prometheus.Counter
	commitAge        *prometheus.GaugeVec   // topic, partition
	refusedBatches   *prometheus.CounterVec // topic
	offsetResets     *prometheus.CounterVec // topic
	txnMarkers       *prometheus.CounterVec // topic, type
	// refusedPartitions: partitions whose insert ClickHouse refuses for
	// the table or the credentials (partition.whileRefused).
	refusedPartitions *prometheus.GaugeVec // table
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns = "predlog_ingester_"
	m := &metrics{
		consumedMessages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "consumed_messages_total", Help: "Kafka messages fetched, per topic."}, []string{"topic"}),
		consumedBytes:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "consumed_bytes_total", Help: "Bytes of Kafka message values fetched, per topic."}, []string{"topic"}),
		unknownFields:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "unknown_fields_total", Help: "Fields outside the event contract, ignored, per topic."}, []string{"topic"}),
		rejected:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "rejected_messages_total", Help: "Messages rejected to the DLQ, per topic and error code (counted when the batch is committed)."}, []string{"topic", "code"}),
		insertedRows:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "inserted_rows_total", Help: "Rows inserted into ClickHouse, per table (retries dropped by deduplication included)."}, []string{"table"}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "batch_rows", Help: "Messages per batch (transaction markers not counted).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		batchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "batch_bytes", Help: "Message bytes per batch.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10)}),
		insertDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "insert_duration_seconds", Help: "Duration of one successful ClickHouse insert, per table.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"table"}),
		insertErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "insert_errors_total", Help: "Failed ClickHouse inserts, per table and kind (transient, content, schema)."}, []string{"table", "kind"}),
		retries:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "retries_total", Help: "Retried operations, per operation (join, insert, ledger, lease, dlq, commit, fetch; refused: an insert ClickHouse refuses for the table or the credentials)."}, []string{"op"}),
		lag:          prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "consumer_lag_messages", Help: "Messages between the committed offset and the partition's high watermark, per assigned partition."}, []string{"topic", "partition"}),
		buffered:     prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "buffered_bytes", Help: "Bytes held by batches not yet committed (bounded by batch.max_buffered_bytes)."}),
		rebalances:   prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "rebalances_total", Help: "Consumer group generations joined."}),
		assigned:     prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "assigned_partitions", Help: "Partitions assigned to this instance."}),
		freshness: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "freshness_seconds", Help: "From a prediction's or outcome's event time to its batch being committed; 0 for an event time in the future.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600}}),
		futureEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "future_events_total",
			Help: "Predictions and outcomes whose event time was more than a minute ahead of the ingester's clock when committed (a producer clock ahead, local times sent as UTC), per topic; ingested."}, []string{"topic"}),
		replayed:         prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "replayed_batches_total", Help: "Batches re-cut on boundaries recorded by an earlier run (after a crash or rebalance)."}),
		ledgerMismatches: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "ledger_mismatches_total", Help: "Recorded batches not replayed because their first offset now holds another message (the partition started again: topic created again, broker log lost)."}),
		bisected:         prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "bisected_batches_total", Help: "Batches ClickHouse rejected for their content and that were bisected."}),
		commits:          prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "commits_total", Help: "Offset commits."}),
		commitAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "partition_commit_age_seconds",
			Help: "Seconds since the partition's last commit (or its assignment), per assigned partition; with lag, a wedged partition."}, []string{"topic", "partition"}),
		refusedBatches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "refused_batches_total",
			Help: "Compressed record batches refused for decompressing past the limit, per topic: each stops its partition until skipped (see the error log)."}, []string{"topic"}),
		offsetResets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "offset_resets_total",
			Help: "Partitions read again from their earliest offset because the offset to read was past the end of their log (topic deleted and created again, log lost), per topic."}, []string{"topic"}),
		txnMarkers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "transaction_markers_total",
			Help: "Transaction markers of transactional producers, skipped (the Kafka client hands them over as messages), per topic and type (commit, abort). Each abort's records were ingested: the client cannot tell them from committed ones."}, []string{"topic", "type"}),
		refusedPartitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "schema_blocked_partitions",
			Help: "Partitions holding a batch that ClickHouse refuses for the table or the credentials (table dropped or renamed, column missing, grant revoked, password changed), per table: nothing is committed, the insert is retried until it is fixed."}, []string{"table"}),
	}
	if reg != nil {
		reg.MustRegister(m.consumedMessages, m.consumedBytes, m.unknownFields, m.rejected, m.insertedRows, m.batchRows, m.batchBytes,
			m.insertDuration, m.insertErrors, m.retries, m.lag, m.buffered, m.rebalances, m.assigned, m.freshness, m.futureEvents, m.replayed, m.ledgerMismatches, m.bisected, m.commits, m.commitAge, m.refusedBatches, m.offsetResets, m.txnMarkers, m.refusedPartitions)
	}
	return m
}

// retryOps are the operations retries counts (its help text lists them).
var retryOps = []string{"join", "insert", "ledger", "lease", "dlq", "commit", "fetch", "refused"}

// start exports at 0 the series whose label values the configuration
// fixes, before their first event: increase() and rate() have nothing to
// compare a series' first sample with, so alerts on a counter's first
// increase (a transaction abort, events from the future, an offset reset,
// an insert error) would miss it on a series that appears at 1.
func (m *metrics) start(topics map[string]Kind) {
	tables := []string{ledgerTable}
	for t, k := range topics {
		for _, c := range []*prometheus.CounterVec{m.consumedMessages, m.consumedBytes, m.unknownFields, m.refusedBatches, m.offsetResets, m.futureEvents} {
			c.WithLabelValues(t)
		}
		for _, typ := range []txnMarker{markerCommit, markerAbort} {
			m.txnMarkers.WithLabelValues(t, typ.String())
		}
		if !slices.Contains(tables, k.Table()) {
			tables = append(tables, k.Table())
		}
	}
	for _, table := range tables {
		m.refusedPartitions.WithLabelValues(table)
		if table == ledgerTable { // its failures are counted as retries
			continue
		}
		for _, kind := range []chwriter.Kind{chwriter.KindTransient, chwriter.KindContent, chwriter.KindSchema} {
			m.insertErrors.WithLabelValues(table, kind.String())
		}
		m.insertedRows.WithLabelValues(table)
	}
	for _, op := range retryOps {
		m.retries.WithLabelValues(op)
	}
}
