package events

// Default Kafka topics, one per event kind. Daemons take the actual names from
// their config; these are the defaults the docs and the dev stack use.
const (
	TopicPredictions       = "predlog.predictions"
	TopicOutcomes          = "predlog.outcomes"
	TopicModels            = "predlog.models"
	TopicTrainingJobs      = "predlog.training-jobs"
	TopicFeatureImportance = "predlog.feature-importance"
	TopicFeatureBaselines  = "predlog.feature-baselines"
	TopicDLQ               = "predlog.dlq"
)

// Times are Unix milliseconds (UTC) everywhere: that is what DateTime64(3)
// columns take, and an int64 costs nothing to copy. 0 means "absent" for
// optional times; valid times are in [MinTimeMs, MaxTimeMs).
const (
	MinTimeMs int64 = 946684800000  // 2000-01-01T00:00:00Z
	MaxTimeMs int64 = 4102444800000 // 2100-01-01T00:00:00Z
)

// Float64Map is a JSON object of numbers kept as parallel key/value slices, the
// shape the ClickHouse Map column writer wants. Keys are unique (the last
// duplicate wins) and in input order.
type Float64Map struct {
	Keys   []string
	Values []float64
}

// Len returns the number of entries.
func (m *Float64Map) Len() int { return len(m.Keys) }

// Get returns the value for key k. It is a linear scan: meant for tests and
// low-volume code, not for the ingester's hot loop.
func (m *Float64Map) Get(k string) (float64, bool) {
	for i, key := range m.Keys {
		if key == k {
			return m.Values[i], true
		}
	}
	return 0, false
}

// Reset truncates the map, keeping its capacity.
func (m *Float64Map) Reset() {
	m.Keys = m.Keys[:0]
	m.Values = m.Values[:0]
}

func (m *Float64Map) add(k string, v float64) {
	m.Keys = append(m.Keys, k)
	m.Values = append(m.Values, v)
}

func (m *Float64Map) removeAt(i int) {
	m.Keys = append(m.Keys[:i], m.Keys[i+1:]...)
	m.Values = append(m.Values[:i], m.Values[i+1:]...)
}

// StringMap is a JSON object of strings kept as parallel key/value slices; see
// Float64Map.
type StringMap struct {
	Keys   []string
	Values []string
}

// Len returns the number of entries.
func (m *StringMap) Len() int { return len(m.Keys) }

// Get returns the value for key k (linear scan, see Float64Map.Get).
func (m *StringMap) Get(k string) (string, bool) {
	for i, key := range m.Keys {
		if key == k {
			return m.Values[i], true
		}
	}
	return "", false
}

// Reset truncates the map, keeping its capacity.
func (m *StringMap) Reset() {
	m.Keys = m.Keys[:0]
	m.Values = m.Values[:0]
}

func (m *StringMap) add(k, v string) {
	m.Keys = append(m.Keys, k)
	m.Values = append(m.Values, v)
}

func (m *StringMap) removeAt(i int) {
	m.Keys = append(m.Keys[:i], m.Keys[i+1:]...)
	m.Values = append(m.Values[:i], m.Values[i+1:]...)
}

// Status is the outcome of serving a prediction. Values match the ClickHouse
// Enum8('ok' = 1, 'error' = 2).
type Status uint8

const (
	StatusOK    Status = 1
	StatusError Status = 2
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusError:
		return "error"
	}
	return ""
}

// Provenance says where the ingester read a message. It is never part of the
// JSON; the ingester fills it before writing the row.
type Provenance struct {
	Topic      string
	Partition  int32
	Offset     int64
	IngestTime int64 // Unix ms
}

// PredictionLog is one served prediction (topic predlog.predictions; table
// prediction_logs). It is decoded into and reused across messages, so every
// slice is truncated, not reallocated, by Reset.
type PredictionLog struct {
	RequestID    string
	ModelID      string
	ModelVersion string
	EventTime    int64 // Unix ms

	// Features split by JSON type: numbers (and booleans as 1/0) go to
	// NumFeatures, strings to CatFeatures; null means "not present" and is
	// dropped, which is what sparse features are.
	NumFeatures Float64Map
	CatFeatures StringMap

	Score         float64 // score of the positive class, or a raw score
	HasScore      bool
	Value         float64 // regression output
	HasValue      bool
	Label         string     // predicted label/class, "" if none
	Probabilities Float64Map // per-class probabilities (multiclass)
	Confidence    float64
	HasConfidence bool

	LatencyMs float64
	Status    Status // StatusOK if the field is absent
	Error     string

	Metadata      StringMap // user, tenant, endpoint, anything
	ExperimentID  string
	Variant       string
	Contributions Float64Map // local feature importance for this request

	Provenance Provenance
}

// Reset clears p for reuse, keeping slice capacity.
func (p *PredictionLog) Reset() {
	p.RequestID, p.ModelID, p.ModelVersion = "", "", ""
	p.EventTime = 0
	p.NumFeatures.Reset()
	p.CatFeatures.Reset()
	p.Score, p.HasScore = 0, false
	p.Value, p.HasValue = 0, false
	p.Label = ""
	p.Probabilities.Reset()
	p.Confidence, p.HasConfidence = 0, false
	p.LatencyMs = 0
	p.Status = 0
	p.Error = ""
	p.Metadata.Reset()
	p.ExperimentID, p.Variant = "", ""
	p.Contributions.Reset()
	p.Provenance = Provenance{}
}

// Outcome is the ground truth for an earlier prediction (topic
// predlog.outcomes; table outcomes). At least one of Label or Value is set.
type Outcome struct {
	RequestID string
	ModelID   string
	EventTime int64 // Unix ms, when the truth became known
	Label     string
	HasLabel  bool
	Value     float64
	HasValue  bool

	Provenance Provenance
}

// Reset clears o for reuse.
func (o *Outcome) Reset() { *o = Outcome{} }

// Stage is a model version's deployment status (ClickHouse Enum8 values).
type Stage uint8

const (
	StageRegistered Stage = 1
	StageStaging    Stage = 2
	StageProduction Stage = 3
	StageArchived   Stage = 4
)

var stageNames = [...]string{"", "registered", "staging", "production", "archived"}

func (s Stage) String() string {
	if int(s) < len(stageNames) {
		return stageNames[s]
	}
	return ""
}

// ProblemType decides which quality metrics the aggregator computes.
type ProblemType uint8

const (
	ProblemBinary     ProblemType = 1
	ProblemMulticlass ProblemType = 2
	ProblemRegression ProblemType = 3
)

var problemNames = [...]string{"", "binary", "multiclass", "regression"}

func (p ProblemType) String() string {
	if int(p) < len(problemNames) {
		return problemNames[p]
	}
	return ""
}

// Model is the metadata of one model version (topic predlog.models; table
// models, a ReplacingMergeTree on UpdatedAt, so the latest message wins).
type Model struct {
	ModelID      string
	ModelVersion string
	Name         string
	Architecture string // e.g. "gradient_boosted_trees", "transformer"
	Framework    string // e.g. "xgboost 2.1", "pytorch 2.5"
	Parameters   string // raw JSON object text, "" if absent
	Datasets     []string
	ArtifactURI  string
	Stage        Stage // StageRegistered if absent
	Aliases      []string
	Tags         StringMap
	ProblemType  ProblemType

	DecisionThreshold    float64 // binary only; 0.5 if absent
	HasDecisionThreshold bool
	PositiveClass        string // binary only; "1" if absent

	CreatedAt int64
	CreatedBy string
	UpdatedAt int64 // version of the row
	UpdatedBy string

	Provenance Provenance
}

// Reset clears m for reuse, keeping slice capacity.
func (m *Model) Reset() {
	datasets, aliases, tags := m.Datasets[:0], m.Aliases[:0], m.Tags
	tags.Reset()
	*m = Model{Datasets: datasets, Aliases: aliases, Tags: tags}
}

// JobStatus is a training job's state (ClickHouse Enum8 values).
type JobStatus uint8

const (
	JobQueued    JobStatus = 1
	JobRunning   JobStatus = 2
	JobSucceeded JobStatus = 3
	JobFailed    JobStatus = 4
	JobCancelled JobStatus = 5
)

var jobStatusNames = [...]string{"", "queued", "running", "succeeded", "failed", "cancelled"}

func (s JobStatus) String() string {
	if int(s) < len(jobStatusNames) {
		return jobStatusNames[s]
	}
	return ""
}

// StatusChange is one entry of a training job's status history.
type StatusChange struct {
	Status  JobStatus
	At      int64 // Unix ms
	Message string
}

// Resources are what a training job used. Zero means unknown.
type Resources struct {
	CPUCores        float64
	GPUCount        int64
	GPUType         string
	MemoryBytes     int64
	NodeCount       int64
	DurationSeconds float64
	Cost            float64
	HasCost         bool
	CostCurrency    string // ISO 4217, "USD" if absent and Cost is set
}

// TrainingJob is the state of a training run (topic predlog.training-jobs;
// table training_jobs, latest UpdatedAt wins).
type TrainingJob struct {
	JobID           string
	ModelID         string
	ModelVersion    string // may be "" until the job produced a version
	Status          JobStatus
	StatusHistory   []StatusChange
	Hyperparameters string // raw JSON object text
	DatasetName     string
	DatasetVersion  string
	DatasetDigest   string // e.g. "sha256:..."
	Resources       Resources
	TrainMetrics    Float64Map
	ValidMetrics    Float64Map
	StartedAt       int64 // 0 if not started
	FinishedAt      int64 // 0 if not finished
	UpdatedAt       int64 // version of the row

	Provenance Provenance
}

// Reset clears j for reuse, keeping slice capacity.
func (j *TrainingJob) Reset() {
	hist, tm, vm := j.StatusHistory[:0], j.TrainMetrics, j.ValidMetrics
	tm.Reset()
	vm.Reset()
	*j = TrainingJob{StatusHistory: hist, TrainMetrics: tm, ValidMetrics: vm}
}

// Scope says whether importances describe the model as a whole or are
// aggregates of per-request (local) attributions.
type Scope uint8

const (
	ScopeGlobal Scope = 1
	ScopeLocal  Scope = 2
)

func (s Scope) String() string {
	switch s {
	case ScopeGlobal:
		return "global"
	case ScopeLocal:
		return "local"
	}
	return ""
}

// FeatureImportance carries one computation of importances for a model
// version (topic predlog.feature-importance; table feature_importance, one row
// per feature). Per-request contributions travel in PredictionLog instead.
type FeatureImportance struct {
	ModelID      string
	ModelVersion string
	Method       string // "shap", "gain", "split", "permutation", ...
	Scope        Scope  // ScopeGlobal if absent
	ComputedAt   int64
	Importances  Float64Map // feature -> score

	Provenance Provenance
}

// Reset clears f for reuse, keeping slice capacity.
func (f *FeatureImportance) Reset() {
	imp := f.Importances
	imp.Reset()
	*f = FeatureImportance{Importances: imp}
}

// FeatureType is numeric or categorical.
type FeatureType uint8

const (
	FeatureNumeric     FeatureType = 1
	FeatureCategorical FeatureType = 2
)

func (t FeatureType) String() string {
	switch t {
	case FeatureNumeric:
		return "numeric"
	case FeatureCategorical:
		return "categorical"
	}
	return ""
}

// BaselineSource says where a reference distribution was taken from.
type BaselineSource uint8

const (
	SourceTraining        BaselineSource = 1 // the training set
	SourceReferenceWindow BaselineSource = 2 // a window of production traffic
)

func (s BaselineSource) String() string {
	switch s {
	case SourceTraining:
		return "training"
	case SourceReferenceWindow:
		return "reference_window"
	}
	return ""
}

// FeatureDistribution is the frozen reference distribution of one feature.
//
// Numeric: BinEdges e[0] < ... < e[k-1] cut the line into k+1 bins
// (-inf, e0), [e0, e1), ..., [e[k-1], +inf) and BinProportions has k+1 entries
// summing to 1; a value x falls in bin arrayCount(e -> e <= x, edges), so
// production values outside the training range still land in a bin.
// Categorical: Categories maps value -> proportion; OtherProportion is the
// share of values not listed (top-k baselines); together they sum to 1.
// Proportions are over non-null values; NullRate is the share of nulls.
type FeatureDistribution struct {
	Feature         string
	Type            FeatureType
	Count           int64 // non-null + null values seen
	NullRate        float64
	BinEdges        []float64
	BinProportions  []float64
	Categories      Float64Map
	OtherProportion float64
}

// FeatureBaseline carries the reference distributions of a model version's
// features (topic predlog.feature-baselines; table feature_baselines, one row
// per feature, latest ComputedAt wins).
type FeatureBaseline struct {
	ModelID      string
	ModelVersion string
	Source       BaselineSource
	DatasetRef   string // "name@version" of the training set, for SourceTraining
	WindowStart  int64  // for SourceReferenceWindow
	WindowEnd    int64
	ComputedAt   int64
	Features     []FeatureDistribution

	Provenance Provenance
}

// Reset clears b for reuse; Features keeps its elements' inner slices.
func (b *FeatureBaseline) Reset() {
	feats := b.Features[:0]
	*b = FeatureBaseline{Features: feats}
}
