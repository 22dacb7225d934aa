package events

import (
	"math"
	"strconv"
)

// The decoders in this file handle low-volume topics (a few messages per model
// version), so they favour plain code over speed, and each call gets a fresh
// arena: the strings they return stay valid after later calls.

// enum reads a string that must be one of names (index = value, names[0] is
// unused); null gives 0.
func (d *Decoder) enum(field string, names []string) (uint8, error) {
	switch d.data[d.pos] {
	case 'n':
		return 0, d.lit("null")
	case '"':
	default:
		return 0, d.wrongType(field, "string")
	}
	b, err := d.rawString()
	if err != nil {
		return 0, err
	}
	for i := 1; i < len(names); i++ {
		if string(b) == names[i] {
			return uint8(i), nil
		}
	}
	return 0, newErr(CodeInvalidValue, field, "want one of "+joinQuoted(names[1:]))
}

func joinQuoted(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += strconv.Quote(n)
	}
	return s
}

var (
	scopeNames  = []string{"", "global", "local"}
	ftypeNames  = []string{"", "numeric", "categorical"}
	sourceNames = []string{"", "training", "reference_window"}
)

// DecodeModel decodes and validates one model metadata message into dst.
func (d *Decoder) DecodeModel(dst *Model, data []byte) error {
	dst.Reset()
	if err := d.begin(data, true); err != nil {
		return err
	}
	if err := d.members(func(key []byte) (err error) {
		var v uint8
		switch string(key) {
		case "model_id":
			dst.ModelID, err = d.str("model_id")
		case "model_version":
			dst.ModelVersion, _, err = d.label("model_version")
		case "name":
			dst.Name, err = d.str("name")
		case "architecture":
			dst.Architecture, err = d.str("architecture")
		case "framework":
			dst.Framework, err = d.str("framework")
		case "parameters":
			dst.Parameters, err = d.rawObject("parameters")
		case "training_datasets":
			dst.Datasets, err = d.stringArray(dst.Datasets[:0], "training_datasets")
		case "artifact_uri":
			dst.ArtifactURI, err = d.str("artifact_uri")
		case "stage":
			v, err = d.enum("stage", stageNames[:])
			dst.Stage = Stage(v)
		case "aliases":
			dst.Aliases, err = d.stringArray(dst.Aliases[:0], "aliases")
		case "tags":
			err = d.stringMap(&dst.Tags, "tags", false)
		case "problem_type":
			v, err = d.enum("problem_type", problemNames[:])
			dst.ProblemType = ProblemType(v)
		case "decision_threshold":
			dst.DecisionThreshold, dst.HasDecisionThreshold, err = d.num("decision_threshold")
		case "positive_class":
			dst.PositiveClass, _, err = d.label("positive_class")
		case "created_at":
			dst.CreatedAt, err = d.timestamp("created_at")
		case "created_by":
			dst.CreatedBy, err = d.str("created_by")
		case "updated_at":
			dst.UpdatedAt, err = d.timestamp("updated_at")
		case "updated_by":
			dst.UpdatedBy, err = d.str("updated_by")
		default:
			err = d.skipUnknown()
		}
		return err
	}); err != nil {
		return err
	}
	if err := d.finish(); err != nil {
		return err
	}
	if dst.Stage == 0 {
		dst.Stage = StageRegistered
	}
	if dst.ProblemType == ProblemBinary {
		if !dst.HasDecisionThreshold {
			dst.DecisionThreshold = 0.5
		}
		if dst.PositiveClass == "" {
			dst.PositiveClass = "1"
		}
	}
	if err := dst.Validate(); err != nil {
		return err
	}
	return d.checkModel(dst.ModelID)
}

// Validate checks required fields and ranges.
func (m *Model) Validate() error {
	if err := checkModelIDs(m.ModelID, m.ModelVersion, true); err != nil {
		return err
	}
	switch {
	case m.ModelID == "":
		return newErr(CodeMissingField, "model_id", "")
	case m.ModelVersion == "":
		return newErr(CodeMissingField, "model_version", "")
	case m.ProblemType == 0:
		return newErr(CodeMissingField, "problem_type", "")
	case m.ProblemType > ProblemRegression:
		return newErr(CodeInvalidValue, "problem_type", "")
	case m.Stage == 0 || m.Stage > StageArchived:
		return newErr(CodeInvalidValue, "stage", "")
	case m.UpdatedAt == 0:
		return newErr(CodeMissingField, "updated_at", "the row version; send the time of the change")
	case !validTime(m.UpdatedAt):
		return newErr(CodeInvalidTime, "updated_at", "outside [2000, 2100)")
	case m.CreatedAt != 0 && !validTime(m.CreatedAt):
		return newErr(CodeInvalidTime, "created_at", "outside [2000, 2100)")
	case !finite(m.DecisionThreshold):
		return newErr(CodeOutOfRange, "decision_threshold", "not finite")
	}
	return emptyKey(m.Tags.Keys, "tags", "key")
}

func validTime(ms int64) bool { return ms >= MinTimeMs && ms < MaxTimeMs }

// DecodeTrainingJob decodes and validates one training job message into dst.
func (d *Decoder) DecodeTrainingJob(dst *TrainingJob, data []byte) error {
	dst.Reset()
	if err := d.begin(data, true); err != nil {
		return err
	}
	if err := d.members(func(key []byte) (err error) {
		var v uint8
		switch string(key) {
		case "job_id":
			dst.JobID, err = d.str("job_id")
		case "model_id":
			dst.ModelID, err = d.str("model_id")
		case "model_version":
			dst.ModelVersion, _, err = d.label("model_version")
		case "status":
			v, err = d.enum("status", jobStatusNames[:])
			dst.Status = JobStatus(v)
		case "status_history":
			err = d.statusHistory(dst)
		case "hyperparameters":
			dst.Hyperparameters, err = d.rawObject("hyperparameters")
		case "dataset_name":
			dst.DatasetName, err = d.str("dataset_name")
		case "dataset_version":
			dst.DatasetVersion, _, err = d.label("dataset_version")
		case "dataset_digest":
			dst.DatasetDigest, err = d.str("dataset_digest")
		case "resources":
			err = d.resources(&dst.Resources)
		case "train_metrics":
			err = d.float64Map(&dst.TrainMetrics, "train_metrics", false)
		case "validation_metrics":
			err = d.float64Map(&dst.ValidMetrics, "validation_metrics", false)
		case "started_at":
			dst.StartedAt, err = d.timestamp("started_at")
		case "finished_at":
			dst.FinishedAt, err = d.timestamp("finished_at")
		case "updated_at":
			dst.UpdatedAt, err = d.timestamp("updated_at")
		default:
			err = d.skipUnknown()
		}
		return err
	}); err != nil {
		return err
	}
	if err := d.finish(); err != nil {
		return err
	}
	if dst.Resources.HasCost && dst.Resources.CostCurrency == "" {
		dst.Resources.CostCurrency = "USD"
	}
	if err := dst.Validate(); err != nil {
		return err
	}
	return d.checkModel(dst.ModelID)
}

func (d *Decoder) statusHistory(dst *TrainingJob) error {
	dst.StatusHistory = dst.StatusHistory[:0]
	if ok, err := d.openArray("status_history"); !ok {
		return err
	}
	for first := true; ; first = false {
		more, err := d.nextElem(first)
		if err != nil || !more {
			return err
		}
		field := "status_history[" + strconv.Itoa(len(dst.StatusHistory)) + "]"
		var sc StatusChange
		ok, err := d.openObject(field)
		if err != nil {
			return err
		}
		if !ok {
			return newErr(CodeWrongType, field, "want object")
		}
		if err := d.members(func(key []byte) (err error) {
			var v uint8
			switch string(key) {
			case "status":
				v, err = d.enum(field+".status", jobStatusNames[:])
				sc.Status = JobStatus(v)
			case "at":
				sc.At, err = d.timestamp(field + ".at")
			case "message":
				sc.Message, err = d.str(field + ".message")
			default:
				err = d.skipUnknown()
			}
			return err
		}); err != nil {
			return err
		}
		if sc.Status == 0 {
			return newErr(CodeMissingField, field+".status", "")
		}
		if sc.At == 0 {
			return newErr(CodeMissingField, field+".at", "")
		}
		dst.StatusHistory = append(dst.StatusHistory, sc)
	}
}

func (d *Decoder) resources(r *Resources) error {
	*r = Resources{}
	if ok, err := d.openObject("resources"); !ok {
		return err
	}
	for first := true; ; first = false {
		key, more, err := d.nextKey(first)
		if err != nil || !more {
			return err
		}
		switch string(key) {
		case "cpu_cores":
			r.CPUCores, _, err = d.num("resources.cpu_cores")
		case "gpu_count":
			r.GPUCount, err = d.integer("resources.gpu_count")
		case "gpu_type":
			r.GPUType, err = d.str("resources.gpu_type")
		case "memory_bytes":
			r.MemoryBytes, err = d.integer("resources.memory_bytes")
		case "node_count":
			r.NodeCount, err = d.integer("resources.node_count")
		case "duration_seconds":
			r.DurationSeconds, _, err = d.num("resources.duration_seconds")
		case "cost":
			r.Cost, r.HasCost, err = d.num("resources.cost")
		case "cost_currency":
			r.CostCurrency, err = d.str("resources.cost_currency")
		default:
			err = d.skipUnknown()
		}
		if err != nil {
			return err
		}
	}
}

func nonNeg(f float64) bool { return f >= 0 && !math.IsInf(f, 1) }

// Validate checks required fields and ranges.
func (j *TrainingJob) Validate() error {
	r := &j.Resources
	if err := checkModelIDs(j.ModelID, j.ModelVersion, true); err != nil { // the version may still be ""
		return err
	}
	switch {
	case j.JobID == "":
		return newErr(CodeMissingField, "job_id", "")
	case j.ModelID == "":
		return newErr(CodeMissingField, "model_id", "")
	case j.Status == 0:
		return newErr(CodeMissingField, "status", "")
	case j.Status > JobCancelled:
		return newErr(CodeInvalidValue, "status", "")
	case j.UpdatedAt == 0:
		return newErr(CodeMissingField, "updated_at", "the row version; send the time of the change")
	case !validTime(j.UpdatedAt):
		return newErr(CodeInvalidTime, "updated_at", "outside [2000, 2100)")
	case j.StartedAt != 0 && !validTime(j.StartedAt):
		return newErr(CodeInvalidTime, "started_at", "outside [2000, 2100)")
	case j.FinishedAt != 0 && !validTime(j.FinishedAt):
		return newErr(CodeInvalidTime, "finished_at", "outside [2000, 2100)")
	case j.StartedAt != 0 && j.FinishedAt != 0 && j.FinishedAt < j.StartedAt:
		return newErr(CodeOutOfRange, "finished_at", "before started_at")
	case !nonNeg(r.CPUCores):
		return newErr(CodeOutOfRange, "resources.cpu_cores", "negative or not finite")
	case r.GPUCount < 0:
		return newErr(CodeOutOfRange, "resources.gpu_count", "negative")
	case r.MemoryBytes < 0:
		return newErr(CodeOutOfRange, "resources.memory_bytes", "negative")
	case r.NodeCount < 0:
		return newErr(CodeOutOfRange, "resources.node_count", "negative")
	case !nonNeg(r.DurationSeconds):
		return newErr(CodeOutOfRange, "resources.duration_seconds", "negative or not finite")
	case r.HasCost && !nonNeg(r.Cost):
		return newErr(CodeOutOfRange, "resources.cost", "negative or not finite")
	}
	if err := finiteValues(&j.TrainMetrics, "train_metrics"); err != nil {
		return err
	}
	if err := finiteValues(&j.ValidMetrics, "validation_metrics"); err != nil {
		return err
	}
	if err := emptyKey(j.TrainMetrics.Keys, "train_metrics", "metric name"); err != nil {
		return err
	}
	return emptyKey(j.ValidMetrics.Keys, "validation_metrics", "metric name")
}

// DecodeFeatureImportance decodes and validates one feature importance
// message into dst.
func (d *Decoder) DecodeFeatureImportance(dst *FeatureImportance, data []byte) error {
	dst.Reset()
	if err := d.begin(data, true); err != nil {
		return err
	}
	if err := d.members(func(key []byte) (err error) {
		var v uint8
		switch string(key) {
		case "model_id":
			dst.ModelID, err = d.str("model_id")
		case "model_version":
			dst.ModelVersion, _, err = d.label("model_version")
		case "method":
			dst.Method, err = d.str("method")
		case "scope":
			v, err = d.enum("scope", scopeNames)
			dst.Scope = Scope(v)
		case "computed_at":
			dst.ComputedAt, err = d.timestamp("computed_at")
		case "importances":
			err = d.float64Map(&dst.Importances, "importances", true)
		default:
			err = d.skipUnknown()
		}
		return err
	}); err != nil {
		return err
	}
	if err := d.finish(); err != nil {
		return err
	}
	if dst.Scope == 0 {
		dst.Scope = ScopeGlobal
	}
	if err := dst.Validate(); err != nil {
		return err
	}
	return d.checkModel(dst.ModelID)
}

// Validate checks required fields and ranges.
func (f *FeatureImportance) Validate() error {
	if err := checkModelIDs(f.ModelID, f.ModelVersion, true); err != nil {
		return err
	}
	switch {
	case f.ModelID == "":
		return newErr(CodeMissingField, "model_id", "")
	case f.ModelVersion == "":
		return newErr(CodeMissingField, "model_version", "")
	case f.Method == "":
		return newErr(CodeMissingField, "method", "")
	case f.Scope != ScopeGlobal && f.Scope != ScopeLocal:
		return newErr(CodeInvalidValue, "scope", "")
	case f.ComputedAt == 0:
		return newErr(CodeMissingField, "computed_at", "")
	case !validTime(f.ComputedAt):
		return newErr(CodeInvalidTime, "computed_at", "outside [2000, 2100)")
	case f.Importances.Len() == 0:
		return newErr(CodeMissingField, "importances", "need at least one feature")
	}
	if err := emptyKey(f.Importances.Keys, "importances", "feature name"); err != nil {
		return err
	}
	return finiteValues(&f.Importances, "importances")
}

// DecodeFeatureBaseline decodes and validates one feature baseline message
// into dst.
func (d *Decoder) DecodeFeatureBaseline(dst *FeatureBaseline, data []byte) error {
	dst.Reset()
	if err := d.begin(data, true); err != nil {
		return err
	}
	if err := d.members(func(key []byte) (err error) {
		var v uint8
		switch string(key) {
		case "model_id":
			dst.ModelID, err = d.str("model_id")
		case "model_version":
			dst.ModelVersion, _, err = d.label("model_version")
		case "source":
			v, err = d.enum("source", sourceNames)
			dst.Source = BaselineSource(v)
		case "dataset_ref":
			dst.DatasetRef, err = d.str("dataset_ref")
		case "window_start":
			dst.WindowStart, err = d.timestamp("window_start")
		case "window_end":
			dst.WindowEnd, err = d.timestamp("window_end")
		case "computed_at":
			dst.ComputedAt, err = d.timestamp("computed_at")
		case "features":
			err = d.distributions(dst)
		default:
			err = d.skipUnknown()
		}
		return err
	}); err != nil {
		return err
	}
	if err := d.finish(); err != nil {
		return err
	}
	if dst.Source == 0 {
		dst.Source = SourceTraining
	}
	if err := dst.Validate(); err != nil {
		return err
	}
	return d.checkModel(dst.ModelID)
}

func (d *Decoder) distributions(dst *FeatureBaseline) error {
	dst.Features = dst.Features[:0]
	if ok, err := d.openArray("features"); !ok {
		return err
	}
	for first := true; ; first = false {
		more, err := d.nextElem(first)
		if err != nil || !more {
			return err
		}
		n := len(dst.Features)
		field := "features[" + strconv.Itoa(n) + "]"
		// Reuse the element's inner slices when the backing array has one.
		if n < cap(dst.Features) {
			dst.Features = dst.Features[:n+1]
		} else {
			dst.Features = append(dst.Features, FeatureDistribution{})
		}
		fd := &dst.Features[n]
		edges, props, cats := fd.BinEdges[:0], fd.BinProportions[:0], fd.Categories
		cats.Reset()
		*fd = FeatureDistribution{BinEdges: edges, BinProportions: props, Categories: cats}

		ok, err := d.openObject(field)
		if err != nil {
			return err
		}
		if !ok {
			return newErr(CodeWrongType, field, "want object")
		}
		if err := d.members(func(key []byte) (err error) {
			var v uint8
			switch string(key) {
			case "feature":
				fd.Feature, err = d.str(field + ".feature")
			case "type":
				v, err = d.enum(field+".type", ftypeNames)
				fd.Type = FeatureType(v)
			case "count":
				fd.Count, err = d.integer(field + ".count")
			case "null_rate":
				fd.NullRate, _, err = d.num(field + ".null_rate")
			case "bin_edges":
				fd.BinEdges, err = d.floatArray(fd.BinEdges[:0], field+".bin_edges")
			case "bin_proportions":
				fd.BinProportions, err = d.floatArray(fd.BinProportions[:0], field+".bin_proportions")
			case "categories":
				err = d.float64Map(&fd.Categories, field+".categories", false)
			case "other_proportion":
				fd.OtherProportion, _, err = d.num(field + ".other_proportion")
			default:
				err = d.skipUnknown()
			}
			return err
		}); err != nil {
			return err
		}
	}
}

// proportionSlack absorbs rounding in producers that print proportions with
// few digits.
const proportionSlack = 1e-3

// Validate checks required fields, ranges and the shape of each distribution.
func (b *FeatureBaseline) Validate() error {
	if err := checkModelIDs(b.ModelID, b.ModelVersion, true); err != nil {
		return err
	}
	switch {
	case b.ModelID == "":
		return newErr(CodeMissingField, "model_id", "")
	case b.ModelVersion == "":
		return newErr(CodeMissingField, "model_version", "")
	case b.Source != SourceTraining && b.Source != SourceReferenceWindow:
		return newErr(CodeInvalidValue, "source", "")
	case b.ComputedAt == 0:
		return newErr(CodeMissingField, "computed_at", "")
	case !validTime(b.ComputedAt):
		return newErr(CodeInvalidTime, "computed_at", "outside [2000, 2100)")
	case b.Source == SourceReferenceWindow && b.WindowStart == 0:
		return newErr(CodeMissingField, "window_start", "required for a reference_window baseline")
	case b.Source == SourceReferenceWindow && b.WindowEnd == 0:
		return newErr(CodeMissingField, "window_end", "required for a reference_window baseline")
	case b.WindowStart != 0 && b.WindowEnd != 0 && b.WindowEnd <= b.WindowStart:
		return newErr(CodeOutOfRange, "window_end", "not after window_start")
	case len(b.Features) == 0:
		return newErr(CodeMissingField, "features", "need at least one feature")
	}
	for i := range b.Features {
		if err := b.Features[i].validate("features[" + strconv.Itoa(i) + "]"); err != nil {
			return err
		}
	}
	return nil
}

func (f *FeatureDistribution) validate(field string) error {
	if f.Feature == "" {
		return newErr(CodeMissingField, field+".feature", "")
	}
	if err := nameError(field+".feature", []byte(f.Feature)); err != nil {
		return err
	}
	switch {
	case f.Type == 0:
		return newErr(CodeMissingField, field+".type", "")
	case f.Count < 0:
		return newErr(CodeOutOfRange, field+".count", "negative")
	case !unit(f.NullRate):
		return newErr(CodeOutOfRange, field+".null_rate", "outside [0, 1]")
	case !unit(f.OtherProportion):
		return newErr(CodeOutOfRange, field+".other_proportion", "outside [0, 1]")
	}
	var sum float64
	switch f.Type {
	case FeatureNumeric:
		if len(f.BinEdges) == 0 {
			return newErr(CodeMissingField, field+".bin_edges", "")
		}
		if len(f.BinProportions) != len(f.BinEdges)+1 {
			return newErr(CodeInvalidValue, field+".bin_proportions", "want len(bin_edges)+1 entries")
		}
		for i, e := range f.BinEdges {
			if !finite(e) || (i > 0 && !(e > f.BinEdges[i-1])) {
				return newErr(CodeOutOfRange, field+".bin_edges", "want finite, strictly increasing edges")
			}
		}
		for _, p := range f.BinProportions {
			if !unit(p) {
				return newErr(CodeOutOfRange, field+".bin_proportions", "outside [0, 1]")
			}
			sum += p
		}
	case FeatureCategorical:
		if f.Categories.Len() == 0 && f.OtherProportion == 0 && f.NullRate < 1 {
			return newErr(CodeMissingField, field+".categories", "")
		}
		// "" is a category like any other (a categorical feature may
		// be sent as ""), unlike an empty name in the other maps.
		for i, p := range f.Categories.Values {
			if !unit(p) {
				return newErr(CodeOutOfRange, field+".categories."+f.Categories.Keys[i], "outside [0, 1]")
			}
			sum += p
		}
		sum += f.OtherProportion
	}
	// An all-null feature has no distribution of values.
	if math.Abs(sum-1) > proportionSlack && !(sum == 0 && f.NullRate == 1) {
		return newErr(CodeOutOfRange, field, "proportions do not sum to 1")
	}
	return nil
}
