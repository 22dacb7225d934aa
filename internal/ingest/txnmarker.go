package ingest

import (
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Transactional producers (Kafka Streams, Flink's exactly-once sink, any
// producer with a transactional.id) end each transaction with a control
// record, a marker, at an offset of its own. kafka-go's Reader does not
// filter control batches: it hands each marker over as a message, which
// would reach the DLQ as invalid JSON once per transaction. Nor does it
// filter the records of aborted transactions, with either isolation level
// (segmentio/kafka-go#1332): they are read like committed ones, and it
// keeps no producer id that could tell them apart. So the ingester skips
// markers (counted per type), and an abort is warned about: the aborted
// transaction's records were ingested.

// txnMarker is the type of a transaction marker.
type txnMarker uint8

const (
	markerAbort  txnMarker = 0
	markerCommit txnMarker = 1
)

func (t txnMarker) String() string {
	if t == markerAbort {
		return "abort"
	}
	return "commit"
}

// markerOf reports whether m is a transaction marker, and its type. A
// marker's key is its version (int16, 0) and type (int16: 0 abort, 1
// commit), its value its version (int16, 0) and the coordinator's epoch
// (int32), big-endian, without headers. No event of the contract can
// look like it: a value of six bytes beginning with two zero bytes is not
// JSON (it would go to the DLQ as invalid_json). kafka-go does not pass on
// the control bit of the record batch, so a message of exactly that shape
// that is not a marker is skipped and counted as one too, where it would
// have been dead-lettered: no data is lost, since it could hold no event.
func markerOf(m *kafka.Message) (txnMarker, bool) {
	k, v := m.Key, m.Value
	if len(k) != 4 || len(v) != 6 || len(m.Headers) != 0 || k[0]|k[1]|k[2] != 0 || k[3] > 1 || v[0]|v[1] != 0 {
		return 0, false
	}
	return txnMarker(k[3]), true
}

// countMarkers counts the markers of b, a committed batch, and warns of
// aborts (the 1st, 2nd, 4th, 8th... of the partition's assignment: a
// producer that aborts often would otherwise fill the log). The warning
// names the batch holding the marker: the aborted records came before it,
// among other producers' records, and nothing tells which they are.
func (pt *partition) countMarkers(b *batch) {
	for t, n := range b.markers {
		if n > 0 {
			pt.p.m.txnMarkers.WithLabelValues(pt.k.topic, txnMarker(t).String()).Add(float64(n))
		}
	}
	if n := b.markers[markerAbort]; n > 0 {
		before := pt.aborts
		pt.aborts += n
		if crossedPowerOfTwo(before, pt.aborts) {
			pt.log.Warn("a producer aborted a transaction: its records, at offsets before the abort marker, were ingested like committed ones, as the Kafka client cannot tell them apart; produce prediction logs without transactions, or never abort one",
				zap.Int64("marker_batch_first_offset", b.span.first), zap.Int64("marker_batch_last_offset", b.span.last), zap.Int("aborts", pt.aborts))
		}
	}
}
