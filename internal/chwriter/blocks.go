package chwriter

import (
	"fmt"
	"strings"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/predlog/predlog/pkg/events"
)

// Block accumulates rows of one table as columns. Append copies everything it
// keeps, so callers may pass borrowed data (a Decoder's strings).
type Block interface {
	Table() string
	Input() proto.Input // columns in insert order
	Rows() int
	Reset()
}

// EncodeNative appends b as one Native-format block (protocol revision 0, what
// the HTTP interface reads) to dst.
func EncodeNative(dst []byte, b Block) ([]byte, error) {
	return encodeNative(dst, b.Input(), b.Rows(), b.Table())
}

func encodeNative(dst []byte, in proto.Input, rows int, table string) ([]byte, error) {
	buf := proto.Buffer{Buf: dst}
	if err := (proto.Block{Columns: len(in), Rows: rows}).EncodeRawBlock(&buf, 0, in); err != nil {
		return dst, fmt.Errorf("encode %s: %w", table, err)
	}
	return buf.Buf, nil
}

// NativeInsert returns the insert of b's columns; the sink encodes them
// (HTTP) or sends them as a data block (native protocol). b must not change
// until the insert returns.
func NativeInsert(b Block) Insert {
	return Insert{Table: b.Table(), Columns: ColumnList(b.Input()), Format: "Native", Input: b.Input(), Rows: b.Rows()}
}

// ColumnList returns "(a, b, c)" for an INSERT statement.
func ColumnList(in proto.Input) string {
	var sb strings.Builder
	sb.WriteByte('(')
	for i, c := range in {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(c.Name)
	}
	sb.WriteByte(')')
	return sb.String()
}

// PredictionBlock holds rows of table prediction_logs.
type PredictionBlock struct {
	requestID     proto.ColStr
	modelID       lcString
	modelVersion  lcString
	eventTime     *proto.ColDateTime64
	featuresNum   *mapCol[float64]
	featuresCat   *mapCol[string]
	score         nullFloat
	value         nullFloat
	label         lcString
	probabilities *mapCol[float64]
	confidence    nullFloat
	latency       proto.ColFloat64
	status        proto.ColInt8
	errorMessage  proto.ColStr
	metadata      *mapCol[string]
	experimentID  lcString
	variant       lcString
	contributions *mapCol[float64]
	prov          provenance

	input proto.Input
}

// NewPredictionBlock returns an empty block.
func NewPredictionBlock() *PredictionBlock {
	b := &PredictionBlock{
		eventTime:     ms(),
		featuresNum:   newFloatMap(),
		featuresCat:   newStringMap(),
		probabilities: newFloatMap(),
		metadata:      newStringMap(),
		contributions: newFloatMap(),
		prov:          newProvenance(),
	}
	b.input = proto.Input{
		{Name: "request_id", Data: &b.requestID},
		{Name: "model_id", Data: &b.modelID},
		{Name: "model_version", Data: &b.modelVersion},
		{Name: "event_time", Data: typed{b.eventTime, dateTime64UTC}},
		{Name: "features_num", Data: b.featuresNum},
		{Name: "features_cat", Data: b.featuresCat},
		{Name: "score", Data: &b.score},
		{Name: "value", Data: &b.value},
		{Name: "predicted_label", Data: &b.label},
		{Name: "probabilities", Data: b.probabilities},
		{Name: "confidence", Data: &b.confidence},
		{Name: "latency_ms", Data: &b.latency},
		{Name: "status", Data: typed{&b.status, "Enum8('ok' = 1, 'error' = 2)"}},
		{Name: "error_message", Data: &b.errorMessage},
		{Name: "metadata", Data: b.metadata},
		{Name: "experiment_id", Data: &b.experimentID},
		{Name: "variant", Data: &b.variant},
		{Name: "contributions", Data: b.contributions},
	}
	b.input = append(b.input, b.prov.input()...)
	return b
}

// Table implements Block.
func (b *PredictionBlock) Table() string { return "prediction_logs" }

// Input implements Block.
func (b *PredictionBlock) Input() proto.Input { return b.input }

// Rows implements Block.
func (b *PredictionBlock) Rows() int { return b.requestID.Rows() }

// Append adds p as one row; its Provenance says where it was read.
func (b *PredictionBlock) Append(p *events.PredictionLog) {
	b.requestID.Append(p.RequestID)
	b.modelID.AppendLC(p.ModelID)
	b.modelVersion.AppendLC(p.ModelVersion)
	b.eventTime.AppendRaw(proto.DateTime64(p.EventTime))
	b.featuresNum.Append(p.NumFeatures.Keys, p.NumFeatures.Values)
	b.featuresCat.Append(p.CatFeatures.Keys, p.CatFeatures.Values)
	b.score.Append(p.Score, p.HasScore)
	b.value.Append(p.Value, p.HasValue)
	b.label.AppendLC(p.Label)
	b.probabilities.Append(p.Probabilities.Keys, p.Probabilities.Values)
	b.confidence.Append(p.Confidence, p.HasConfidence)
	b.latency.Append(p.LatencyMs)
	status := p.Status
	if status == 0 {
		status = events.StatusOK
	}
	b.status.Append(int8(status))
	b.errorMessage.Append(p.Error)
	b.metadata.Append(p.Metadata.Keys, p.Metadata.Values)
	b.experimentID.AppendLC(p.ExperimentID)
	b.variant.AppendLC(p.Variant)
	b.contributions.Append(p.Contributions.Keys, p.Contributions.Values)
	b.prov.append(p.Provenance)
}

// Reset implements Block.
// StampIngestTime sets every row's ingest_time to ms (Unix milliseconds).
// The ingester stamps each insert attempt rather than keeping the time its
// batch started, so that rows become visible soon after their ingest_time
// even when ClickHouse was down for a while: the aggregator finds late rows
// by scanning ingest_time up to a fixed delay behind now. Deduplication is
// by token, so a retry with other stamps is still dropped if the first
// attempt landed.
func (b *PredictionBlock) StampIngestTime(ms int64) { b.prov.stamp(ms) }

func (b *PredictionBlock) Reset() {
	b.requestID.Reset()
	b.modelID.Reset()
	b.modelVersion.Reset()
	b.eventTime.Reset()
	b.featuresNum.Reset()
	b.featuresCat.Reset()
	b.score.Reset()
	b.value.Reset()
	b.label.Reset()
	b.probabilities.Reset()
	b.confidence.Reset()
	b.latency.Reset()
	b.status.Reset()
	b.errorMessage.Reset()
	b.metadata.Reset()
	b.experimentID.Reset()
	b.variant.Reset()
	b.contributions.Reset()
	b.prov.reset()
}

// OutcomeBlock holds rows of table outcomes.
type OutcomeBlock struct {
	requestID proto.ColStr
	modelID   lcString
	eventTime *proto.ColDateTime64
	label     nullString
	value     nullFloat
	prov      provenance
	input     proto.Input
}

// NewOutcomeBlock returns an empty block.
func NewOutcomeBlock() *OutcomeBlock {
	b := &OutcomeBlock{eventTime: ms(), prov: newProvenance()}
	b.input = proto.Input{
		{Name: "request_id", Data: &b.requestID},
		{Name: "model_id", Data: &b.modelID},
		{Name: "event_time", Data: typed{b.eventTime, dateTime64UTC}},
		{Name: "label", Data: &b.label},
		{Name: "value", Data: &b.value},
	}
	b.input = append(b.input, b.prov.input()...)
	return b
}

// Table implements Block.
func (b *OutcomeBlock) Table() string { return "outcomes" }

// Input implements Block.
func (b *OutcomeBlock) Input() proto.Input { return b.input }

// Rows implements Block.
func (b *OutcomeBlock) Rows() int { return b.requestID.Rows() }

// Append adds o as one row.
func (b *OutcomeBlock) Append(o *events.Outcome) {
	b.requestID.Append(o.RequestID)
	b.modelID.AppendLC(o.ModelID)
	b.eventTime.AppendRaw(proto.DateTime64(o.EventTime))
	b.label.Append(o.Label, o.HasLabel)
	b.value.Append(o.Value, o.HasValue)
	b.prov.append(o.Provenance)
}

// Reset implements Block.
// StampIngestTime sets every row's ingest_time to ms (Unix milliseconds).
// The ingester stamps each insert attempt: see PredictionBlock.StampIngestTime.
func (b *OutcomeBlock) StampIngestTime(ms int64) { b.prov.stamp(ms) }

func (b *OutcomeBlock) Reset() {
	b.requestID.Reset()
	b.modelID.Reset()
	b.eventTime.Reset()
	b.label.Reset()
	b.value.Reset()
	b.prov.reset()
}

// provenance are the columns every fact table ends with.
type provenance struct {
	topic      lcString
	partition  proto.ColInt32
	offset     proto.ColInt64
	ingestTime *proto.ColDateTime64
}

func newProvenance() provenance { return provenance{ingestTime: ms()} }

func (p *provenance) input() proto.Input {
	return proto.Input{
		{Name: "kafka_topic", Data: &p.topic},
		{Name: "kafka_partition", Data: &p.partition},
		{Name: "kafka_offset", Data: &p.offset},
		{Name: "ingest_time", Data: typed{p.ingestTime, dateTime64UTC}},
	}
}

func (p *provenance) append(v events.Provenance) {
	p.topic.AppendLC(v.Topic)
	p.partition.Append(v.Partition)
	p.offset.Append(v.Offset)
	p.ingestTime.AppendRaw(proto.DateTime64(v.IngestTime))
}

// stamp sets every row's ingest_time to ms.
func (p *provenance) stamp(ms int64) {
	for i := range p.ingestTime.Data {
		p.ingestTime.Data[i] = proto.DateTime64(ms)
	}
}

func (p *provenance) reset() {
	p.topic.Reset()
	p.partition.Reset()
	p.offset.Reset()
	p.ingestTime.Reset()
}
