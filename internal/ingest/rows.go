package ingest

import (
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/predlog/predlog/internal/chwriter"
	"github.com/predlog/predlog/pkg/events"
)

// Kind is the event type a topic carries; each kind feeds one table.
type Kind uint8

const (
	KindPredictions Kind = iota + 1
	KindOutcomes
	KindModels
	KindTrainingJobs
	KindFeatureImportance
	KindFeatureBaselines
)

var kindTables = [...]string{"", "prediction_logs", "outcomes", "models", "training_jobs", "feature_importance", "feature_baselines"}

// Table is the ClickHouse table the kind is written to.
func (k Kind) Table() string {
	if int(k) < len(kindTables) {
		return kindTables[k]
	}
	return ""
}

func (k Kind) String() string { return k.Table() }

// rows builds the insert of one batch from its messages. Decoding and
// appending happen on the partition's fetch goroutine; encoding on its
// flusher. A rows value is reused batch after batch.
type rows interface {
	// add decodes m and appends its row(s). A non-nil error is the
	// message's validation error: nothing was appended. eventMs is the
	// event time of a fact (0 for dimensions), for freshness. Predictions
	// and outcomes outside ttl are rejected: the table's TTL would drop
	// them on insert, unseen.
	add(dec *events.Decoder, m *kafka.Message, ingestMs int64, ttl retention) (eventMs int64, err error)
	count() int
	// insert returns the rows' insert; it borrows the rows, so they must
	// not change until the insert returned.
	insert() chwriter.Insert
	// stamp sets the ingest_time of the fact rows to ingestMs before an
	// insert attempt; dimension rows keep theirs (no scan reads it).
	stamp(ingestMs int64)
	reset()
}

// newRows returns the row builder of kind k.
func newRows(k Kind) rows {
	switch k {
	case KindPredictions:
		return &predictionRows{block: chwriter.NewPredictionBlock()}
	case KindOutcomes:
		return &outcomeRows{block: chwriter.NewOutcomeBlock()}
	default:
		return &dimRows{kind: k, block: chwriter.NewJSONBlock(k.Table())}
	}
}

func provenance(m *kafka.Message, ingestMs int64) events.Provenance {
	return events.Provenance{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset, IngestTime: ingestMs}
}

type predictionRows struct {
	block *chwriter.PredictionBlock
	p     events.PredictionLog
}

func (r *predictionRows) add(dec *events.Decoder, m *kafka.Message, ingestMs int64, ttl retention) (int64, error) {
	if err := dec.DecodePrediction(&r.p, m.Value); err != nil {
		return 0, err
	}
	if err := ttl.check(r.p.EventTime, ingestMs); err != nil {
		return 0, err
	}
	r.p.Provenance = provenance(m, ingestMs)
	r.block.Append(&r.p)
	return r.p.EventTime, nil
}

func (r *predictionRows) count() int { return r.block.Rows() }
func (r *predictionRows) reset()     { r.block.Reset() }

func (r *predictionRows) insert() chwriter.Insert { return chwriter.NativeInsert(r.block) }
func (r *predictionRows) stamp(ingestMs int64)    { r.block.StampIngestTime(ingestMs) }

type outcomeRows struct {
	block *chwriter.OutcomeBlock
	o     events.Outcome
}

func (r *outcomeRows) add(dec *events.Decoder, m *kafka.Message, ingestMs int64, ttl retention) (int64, error) {
	if err := dec.DecodeOutcome(&r.o, m.Value); err != nil {
		return 0, err
	}
	if err := ttl.check(r.o.EventTime, ingestMs); err != nil {
		return 0, err
	}
	r.o.Provenance = provenance(m, ingestMs)
	r.block.Append(&r.o)
	return r.o.EventTime, nil
}

func (r *outcomeRows) count() int { return r.block.Rows() }
func (r *outcomeRows) reset()     { r.block.Reset() }

func (r *outcomeRows) insert() chwriter.Insert { return chwriter.NativeInsert(r.block) }
func (r *outcomeRows) stamp(ingestMs int64)    { r.block.StampIngestTime(ingestMs) }

// dimRows handles the low-volume topics, one JSONEachRow row (or one per
// feature) per message.
type dimRows struct {
	kind  Kind
	block *chwriter.JSONBlock
}

func (r *dimRows) add(dec *events.Decoder, m *kafka.Message, ingestMs int64, _ retention) (int64, error) {
	prov := provenance(m, ingestMs)
	switch r.kind {
	case KindModels:
		var v events.Model
		if err := dec.DecodeModel(&v, m.Value); err != nil {
			return 0, err
		}
		v.Provenance = prov
		return 0, r.block.AppendModel(&v)
	case KindTrainingJobs:
		var v events.TrainingJob
		if err := dec.DecodeTrainingJob(&v, m.Value); err != nil {
			return 0, err
		}
		v.Provenance = prov
		return 0, r.block.AppendTrainingJob(&v)
	case KindFeatureImportance:
		var v events.FeatureImportance
		if err := dec.DecodeFeatureImportance(&v, m.Value); err != nil {
			return 0, err
		}
		v.Provenance = prov
		return 0, r.block.AppendFeatureImportance(&v)
	case KindFeatureBaselines:
		var v events.FeatureBaseline
		if err := dec.DecodeFeatureBaseline(&v, m.Value); err != nil {
			return 0, err
		}
		v.Provenance = prov
		return 0, r.block.AppendFeatureBaseline(&v)
	}
	return 0, fmt.Errorf("unknown kind %d", r.kind)
}

func (r *dimRows) count() int { return r.block.Rows() }
func (r *dimRows) reset()     { r.block.Reset() }

func (r *dimRows) insert() chwriter.Insert {
	return chwriter.Insert{Table: r.block.Table(), Format: "JSONEachRow", Body: r.block.Body()}
}

func (r *dimRows) stamp(int64) {}
