package events

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// maxProbabilitySum bounds the sum of a prediction's class probabilities.
const maxProbabilitySum = 1.1

// DecodePrediction decodes and validates one prediction log message into dst,
// which is reset first and whose slices are reused. On error dst holds
// whatever was decoded so far and must not be written. Strings in dst borrow
// the Decoder's arena (see Decoder).
func (d *Decoder) DecodePrediction(dst *PredictionLog, data []byte) error {
	dst.Reset()
	if err := d.begin(data, false); err != nil {
		return err
	}
	hasLatency := false
	for first := true; ; first = false {
		key, more, err := d.nextKey(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		var ok bool
		switch string(key) {
		case "request_id":
			dst.RequestID, err = d.str("request_id")
		case "model_id":
			dst.ModelID, err = d.str("model_id")
		case "model_version":
			dst.ModelVersion, _, err = d.label("model_version")
		case "event_time":
			dst.EventTime, err = d.timestamp("event_time")
		case "features":
			err = d.features(dst)
		case "score":
			dst.Score, dst.HasScore, err = d.num("score")
		case "value":
			dst.Value, dst.HasValue, err = d.num("value")
		case "label":
			dst.Label, _, err = d.label("label")
		case "probabilities":
			err = d.float64Map(&dst.Probabilities, "probabilities", false)
		case "confidence":
			dst.Confidence, dst.HasConfidence, err = d.num("confidence")
		case "latency_ms":
			dst.LatencyMs, ok, err = d.num("latency_ms")
			hasLatency = hasLatency || ok
		case "status":
			dst.Status, err = d.status()
		case "error":
			dst.Error, err = d.str("error")
		case "metadata":
			err = d.stringMap(&dst.Metadata, "metadata", true)
		case "experiment_id":
			dst.ExperimentID, err = d.str("experiment_id")
		case "variant":
			dst.Variant, _, err = d.label("variant")
		case "contributions":
			err = d.float64Map(&dst.Contributions, "contributions", true)
		default:
			err = d.skipUnknown()
		}
		if err != nil {
			return err
		}
	}
	if err := d.finish(); err != nil {
		return err
	}
	if dst.Status == 0 {
		dst.Status = StatusOK
	}
	if err := dst.validate(hasLatency); err != nil {
		return err
	}
	return d.checkModel(dst.ModelID)
}

func (d *Decoder) status() (Status, error) {
	if d.data[d.pos] == 'n' {
		return 0, d.lit("null")
	}
	if d.data[d.pos] != '"' {
		return 0, d.wrongType("status", `"ok" or "error"`)
	}
	b, err := d.rawString()
	if err != nil {
		return 0, err
	}
	switch string(b) {
	case "ok":
		return StatusOK, nil
	case "error":
		return StatusError, nil
	}
	return 0, newErr(CodeInvalidValue, "status", `want "ok" or "error"`)
}

// features reads the features object: numbers and booleans into
// NumFeatures, strings into CatFeatures, null drops the feature. A name that
// appears twice keeps its last value, even if the type changed.
func (d *Decoder) features(p *PredictionLog) error {
	num, cat := &p.NumFeatures, &p.CatFeatures
	num.Reset()
	cat.Reset()
	if ok, err := d.openObject("features"); !ok {
		return err
	}
	d.ixA.reset()
	d.ixB.reset()
	for first := true; ; first = false {
		kb, more, err := d.nextKey(first)
		if err != nil || !more {
			return err
		}
		if err := d.checkName("features", kb); err != nil {
			return err
		}
		k := d.keep(kb)
		s := keySig(k)
		var f float64
		switch c := d.data[d.pos]; {
		case c == '"':
			vb, err := d.rawString()
			if err != nil {
				return inField(err, "features."+k)
			}
			v := d.keep(vb)
			if i := d.ixB.find(cat.Keys, k, s); i >= 0 {
				cat.Values[i] = v
				continue
			}
			if i := d.ixA.find(num.Keys, k, s); i >= 0 {
				num.removeAt(i)
				d.ixA.removed(num.Keys, i)
			}
			cat.add(k, v)
			d.ixB.added(cat.Keys, s)
			continue
		case isNumStart(c):
			if f, err = d.readNumber(); err != nil {
				return inField(err, "features."+k)
			}
		case c == 't':
			f, err = 1, d.lit("true")
		case c == 'f':
			f, err = 0, d.lit("false")
		case c == 'n':
			if err := d.lit("null"); err != nil {
				return err
			}
			if i := d.ixA.find(num.Keys, k, s); i >= 0 {
				num.removeAt(i)
				d.ixA.removed(num.Keys, i)
			}
			if i := d.ixB.find(cat.Keys, k, s); i >= 0 {
				cat.removeAt(i)
				d.ixB.removed(cat.Keys, i)
			}
			continue
		default:
			return d.wrongType("features."+k, "number, string, boolean or null")
		}
		if err != nil {
			return err
		}
		if i := d.ixA.find(num.Keys, k, s); i >= 0 {
			num.Values[i] = f
			continue
		}
		if i := d.ixB.find(cat.Keys, k, s); i >= 0 {
			cat.removeAt(i)
			d.ixB.removed(cat.Keys, i)
		}
		num.add(k, f)
		d.ixA.added(num.Keys, s)
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// finiteValues rejects the first NaN or ±Inf value of m, naming field.key.
func finiteValues(m *Float64Map, field string) error {
	for i, v := range m.Values {
		if !finite(v) {
			return newErr(CodeOutOfRange, field+"."+m.Keys[i], "not finite")
		}
	}
	return nil
}

func unit(f float64) bool { return f >= 0 && f <= 1 } // false for NaN

// Validate checks required fields and value ranges; producers can call it
// before sending. The decoder also requires latency_ms to be present, which
// the struct cannot express (0 is a valid latency).
func (p *PredictionLog) Validate() error { return p.validate(true) }

// validate is Validate for a decoded message, which may lack latency_ms:
// every missing required field is named before any other problem.
func (p *PredictionLog) validate(hasLatency bool) error {
	if err := missingFields([]bool{p.RequestID == "", p.ModelID == "", p.ModelVersion == "", p.EventTime == 0, !hasLatency},
		"request_id", "model_id", "model_version", "event_time", "latency_ms"); err != nil {
		if p.ModelVersion == "" && !hasLatency && p.looksLikeOutcome() {
			// Still missing_field, which it is: an outcome has no member
			// of its own that would prove it one. The hint saves the
			// producer from adding fields to what belongs elsewhere.
			ve := err.(*ValidationError)
			ve.Msg += "; it looks like an outcome (label or value, no model_version, latency_ms or other prediction output): " +
				"outcomes belong on the outcomes topic (" + TopicOutcomes + " by default)"
		}
		return err
	}
	if err := checkModelIDs(p.ModelID, p.ModelVersion, true); err != nil {
		return err
	}
	if err := checkID("request_id", p.RequestID, MaxRequestIDChars); err != nil {
		return err
	}
	if err := checkID("experiment_id", p.ExperimentID, MaxIDChars); err != nil {
		return err
	}
	if err := checkID("variant", p.Variant, MaxIDChars); err != nil {
		return err
	}
	switch {
	case p.EventTime < MinTimeMs || p.EventTime >= MaxTimeMs:
		return newErr(CodeInvalidTime, "event_time", "outside [2000, 2100)")
	case p.Status != StatusOK && p.Status != StatusError:
		return newErr(CodeInvalidValue, "status", `want "ok" or "error"`)
	case p.Status == StatusOK && !p.HasScore && !p.HasValue && p.Label == "" && p.Probabilities.Len() == 0:
		return newErr(CodeMissingField, "score", "an ok prediction needs score, value, label or probabilities")
	case p.HasScore && !finite(p.Score):
		return newErr(CodeOutOfRange, "score", "not finite")
	case p.HasValue && !finite(p.Value):
		return newErr(CodeOutOfRange, "value", "not finite")
	case p.HasConfidence && !unit(p.Confidence):
		return newErr(CodeOutOfRange, "confidence", "outside [0, 1]")
	case !(p.LatencyMs >= 0) || math.IsInf(p.LatencyMs, 1):
		return newErr(CodeOutOfRange, "latency_ms", "negative or not finite")
	case p.LatencyMs > MaxLatencyMs:
		// Squared in the latency sums: 1e300 would make every mean and
		// variance of its window infinite.
		return newErr(CodeOutOfRange, "latency_ms", "above a day (86400000)")
	}
	sum := 0.0
	for i, v := range p.Probabilities.Values {
		if !unit(v) {
			return newErr(CodeOutOfRange, "probabilities."+p.Probabilities.Keys[i], "outside [0, 1]")
		}
		sum += v
	}
	// Fewer classes than the model has (a top k) may sum to less than 1;
	// well above 1 is no distribution over classes (log loss would read it
	// as one). The slack is wide: producers round, e.g. ten classes printed
	// with two decimals can sum to 1.05.
	if sum > maxProbabilitySum {
		return newErr(CodeOutOfRange, "probabilities", "sum to "+strconv.FormatFloat(sum, 'g', 4, 64)+", above the "+
			strconv.FormatFloat(maxProbabilitySum, 'g', -1, 64)+" allowed for rounding")
	}
	if err := emptyKey(p.Probabilities.Keys, "probabilities", "class name (\"\" is no label, so it could never be the true one)"); err != nil {
		return err
	}
	if err := emptyKey(p.Metadata.Keys, "metadata", "key"); err != nil {
		return err
	}
	if err := emptyKey(p.Contributions.Keys, "contributions", "feature name"); err != nil {
		return err
	}
	if err := finiteValues(&p.NumFeatures, "features"); err != nil {
		return err
	}
	if err := finiteValues(&p.Contributions, "contributions"); err != nil {
		return err
	}
	for _, keys := range [][]string{p.NumFeatures.Keys, p.CatFeatures.Keys} {
		for _, k := range keys {
			if reservedFeature(k) {
				return newErr(CodeInvalidValue, "features."+k, "empty or reserved feature name (__score__, __value__ and __label__ are the output's drift)")
			}
		}
	}
	return nil
}

// looksLikeOutcome reports whether p, which lacks model_version and
// latency_ms, holds no more than an outcome does: ids, a time, a label or
// a value.
func (p *PredictionLog) looksLikeOutcome() bool {
	return (p.Label != "" || p.HasValue) && !p.HasScore && !p.HasConfidence && p.Probabilities.Len() == 0 &&
		p.NumFeatures.Len() == 0 && p.CatFeatures.Len() == 0 && p.Contributions.Len() == 0
}

// emptyKey rejects an empty name among the keys of the map field; what
// says what the keys name. No query, slice or report could name "" (a
// metadata key, a class, a feature, a metric), as none could an empty id.
func emptyKey(keys []string, field, what string) error {
	if slices.Contains(keys, "") {
		return newErr(CodeInvalidValue, field+".", "empty "+what)
	}
	return nil
}

// reservedFeature reports whether a feature may not be called k: drift
// reports the prediction score, value and label as features __score__,
// __value__ and __label__, so a feature of that name would be merged into
// them.
func reservedFeature(k string) bool {
	return k == "" || (len(k) > 4 && k[0] == '_' && (k == "__score__" || k == "__value__" || k == "__label__"))
}

// Clone returns a deep copy of p whose strings do not borrow a Decoder's
// arena, for the rare caller that keeps a decoded message.
func (p *PredictionLog) Clone() *PredictionLog {
	c := &PredictionLog{
		RequestID:     strings.Clone(p.RequestID),
		ModelID:       strings.Clone(p.ModelID),
		ModelVersion:  strings.Clone(p.ModelVersion),
		EventTime:     p.EventTime,
		NumFeatures:   cloneF64Map(p.NumFeatures),
		CatFeatures:   cloneStrMap(p.CatFeatures),
		Score:         p.Score,
		HasScore:      p.HasScore,
		Value:         p.Value,
		HasValue:      p.HasValue,
		Label:         strings.Clone(p.Label),
		Probabilities: cloneF64Map(p.Probabilities),
		Confidence:    p.Confidence,
		HasConfidence: p.HasConfidence,
		LatencyMs:     p.LatencyMs,
		Status:        p.Status,
		Error:         strings.Clone(p.Error),
		Metadata:      cloneStrMap(p.Metadata),
		ExperimentID:  strings.Clone(p.ExperimentID),
		Variant:       strings.Clone(p.Variant),
		Contributions: cloneF64Map(p.Contributions),
		Provenance:    p.Provenance,
	}
	c.Provenance.Topic = strings.Clone(p.Provenance.Topic)
	return c
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	c := make([]string, len(s))
	for i, v := range s {
		c[i] = strings.Clone(v)
	}
	return c
}

func cloneF64Map(m Float64Map) Float64Map {
	return Float64Map{Keys: cloneStrings(m.Keys), Values: append([]float64(nil), m.Values...)}
}

func cloneStrMap(m StringMap) StringMap {
	return StringMap{Keys: cloneStrings(m.Keys), Values: cloneStrings(m.Values)}
}

// DecodeOutcome decodes and validates one outcome message into dst. Strings
// borrow the Decoder's arena, as for DecodePrediction.
func (d *Decoder) DecodeOutcome(dst *Outcome, data []byte) error {
	dst.Reset()
	if err := d.begin(data, false); err != nil {
		return err
	}
	var predictionMembers uint8 // bit i: predictionOnly[i] was sent, not null
	for first := true; ; first = false {
		key, more, err := d.nextKey(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch string(key) {
		case "request_id":
			dst.RequestID, err = d.str("request_id")
		case "model_id":
			dst.ModelID, err = d.str("model_id")
		case "event_time":
			dst.EventTime, err = d.timestamp("event_time")
		case "label":
			dst.Label, dst.HasLabel, err = d.label("label")
			// "" is no label, as for a prediction's (docs/events.md):
			// stored, it would count as a class of its own.
			dst.HasLabel = dst.HasLabel && dst.Label != ""
		case "value":
			dst.Value, dst.HasValue, err = d.num("value")
		default:
			if d.data[d.pos] != 'n' { // null is absent
				predictionMembers |= predictionMember(key)
			}
			err = d.skipUnknown()
		}
		if err != nil {
			return err
		}
	}
	if err := d.finish(); err != nil {
		return err
	}
	if predictionMembers != 0 {
		return wrongTopicErr(predictionMembers)
	}
	if err := dst.Validate(); err != nil {
		return err
	}
	return d.checkModel(dst.ModelID)
}

// predictionOnly lists the prediction members that name a model output
// or input, which no outcome has: one of them on the outcomes topic means
// a prediction was sent there, and its label would be taken for the
// truth. Every prediction has latency_ms (required), so every misrouted
// one is caught. Generic names that an outcome producer may add, and may
// be adding today (model_version, metadata, status, error,
// experiment_id, variant, and score or confidence: a labeller's), stay
// unknown members, skipped.
var predictionOnly = [...]string{"latency_ms", "probabilities", "features", "contributions"}

// The bits of predictionOnly fit a uint8.
var _ [8 - len(predictionOnly)]struct{}

// predictionMember returns the bit of key in predictionOnly, 0 if absent.
func predictionMember(key []byte) uint8 {
	for i, name := range predictionOnly {
		if string(key) == name {
			return 1 << i
		}
	}
	return 0
}

// wrongTopicErr names the prediction members an outcome carried (bits of
// predictionOnly), the first as the field.
func wrongTopicErr(members uint8) error {
	var names []string
	for i, name := range predictionOnly {
		if members&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return newErr(CodeWrongTopic, names[0], "an outcome with "+strings.Join(names, ", ")+
		" looks like a prediction: predictions belong on the predictions topic ("+TopicPredictions+" by default), not the outcomes topic")
}

// Validate checks required fields and ranges.
func (o *Outcome) Validate() error {
	if err := missingFields([]bool{o.RequestID == "", o.ModelID == "", o.EventTime == 0},
		"request_id", "model_id", "event_time"); err != nil {
		return err
	}
	if err := checkModelIDs(o.ModelID, "", false); err != nil {
		return err
	}
	if err := checkID("request_id", o.RequestID, MaxRequestIDChars); err != nil {
		return err
	}
	switch {
	case o.EventTime < MinTimeMs || o.EventTime >= MaxTimeMs:
		return newErr(CodeInvalidTime, "event_time", "outside [2000, 2100)")
	case (!o.HasLabel || o.Label == "") && !o.HasValue:
		return newErr(CodeMissingField, "label", "an outcome needs label or value")
	case o.HasValue && !finite(o.Value):
		return newErr(CodeOutOfRange, "value", "not finite")
	}
	return nil
}

// Clone returns a copy of o whose strings do not borrow a Decoder's arena.
func (o *Outcome) Clone() *Outcome {
	c := *o
	c.RequestID = strings.Clone(o.RequestID)
	c.ModelID = strings.Clone(o.ModelID)
	c.Label = strings.Clone(o.Label)
	c.Provenance.Topic = strings.Clone(o.Provenance.Topic)
	return &c
}
