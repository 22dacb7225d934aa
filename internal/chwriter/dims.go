package chwriter

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/predlog/predlog/pkg/events"
)

// JSONBlock accumulates JSONEachRow rows of a low-volume table (models,
// training jobs, feature importance, baselines): a few rows per model
// version, where plain encoding/json is simpler than columns and costs
// nothing that matters.
type JSONBlock struct {
	table string
	buf   []byte
	rows  int
}

// NewJSONBlock returns an empty block for table.
func NewJSONBlock(table string) *JSONBlock { return &JSONBlock{table: table} }

// Table returns the table name.
func (b *JSONBlock) Table() string { return b.table }

// Rows returns the number of rows.
func (b *JSONBlock) Rows() int { return b.rows }

// Body returns the JSONEachRow data; valid until the next Append or Reset.
func (b *JSONBlock) Body() []byte { return b.buf }

// Reset empties the block.
func (b *JSONBlock) Reset() { b.buf, b.rows = b.buf[:0], 0 }

func (b *JSONBlock) add(row any) error {
	out, err := json.Marshal(row)
	if err != nil {
		return fmt.Errorf("encode %s row: %w", b.table, err)
	}
	b.buf = append(append(b.buf, out...), '\n')
	b.rows++
	return nil
}

// chTime formats Unix ms the way DateTime64(3) parses it.
type chTime int64

func (t chTime) MarshalJSON() ([]byte, error) {
	return []byte(time.UnixMilli(int64(t)).UTC().Format(`"2006-01-02 15:04:05.000"`)), nil
}

// optTime is a Nullable(DateTime64(3)): 0 is NULL.
func optTime(ms int64) *chTime {
	if ms == 0 {
		return nil
	}
	t := chTime(ms)
	return &t
}

func floatMap(m events.Float64Map) map[string]float64 {
	out := make(map[string]float64, m.Len())
	for i, k := range m.Keys {
		out[k] = m.Values[i]
	}
	return out
}

func stringMap(m events.StringMap) map[string]string {
	out := make(map[string]string, m.Len())
	for i, k := range m.Keys {
		out[k] = m.Values[i]
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// AppendModel adds a row of table models.
func (b *JSONBlock) AppendModel(m *events.Model) error {
	threshold := 0.5
	if m.HasDecisionThreshold {
		threshold = m.DecisionThreshold
	}
	positive := m.PositiveClass
	if positive == "" {
		positive = "1"
	}
	stage := m.Stage
	if stage == 0 {
		stage = events.StageRegistered
	}
	return b.add(struct {
		ModelID           string            `json:"model_id"`
		ModelVersion      string            `json:"model_version"`
		Name              string            `json:"name"`
		Architecture      string            `json:"architecture"`
		Framework         string            `json:"framework"`
		Parameters        string            `json:"parameters"`
		Datasets          []string          `json:"training_datasets"`
		ArtifactURI       string            `json:"artifact_uri"`
		Stage             string            `json:"stage"`
		Aliases           []string          `json:"aliases"`
		Tags              map[string]string `json:"tags"`
		ProblemType       string            `json:"problem_type"`
		DecisionThreshold float64           `json:"decision_threshold"`
		PositiveClass     string            `json:"positive_class"`
		CreatedAt         *chTime           `json:"created_at"`
		CreatedBy         string            `json:"created_by"`
		UpdatedAt         chTime            `json:"updated_at"`
		UpdatedBy         string            `json:"updated_by"`
		IngestTime        chTime            `json:"ingest_time"`
	}{
		m.ModelID, m.ModelVersion, m.Name, m.Architecture, m.Framework, m.Parameters, nonNil(m.Datasets),
		m.ArtifactURI, stage.String(), nonNil(m.Aliases), stringMap(m.Tags), m.ProblemType.String(),
		threshold, positive, optTime(m.CreatedAt), m.CreatedBy, chTime(m.UpdatedAt), m.UpdatedBy,
		chTime(m.Provenance.IngestTime),
	})
}

type statusChange struct {
	Status  string `json:"status"`
	At      chTime `json:"at"`
	Message string `json:"message"`
}

// AppendTrainingJob adds a row of table training_jobs. Resources that do not
// fit their column (ClickHouse silently wraps a UInt16: 70000 is stored as
// 4464; a float above the Float32 range overflows) are rejected with an
// out_of_range *events.ValidationError, so the ingester dead-letters them.
func (b *JSONBlock) AppendTrainingJob(j *events.TrainingJob) error {
	switch r := &j.Resources; {
	case r.GPUCount > math.MaxUint16:
		return &events.ValidationError{Code: events.CodeOutOfRange, Field: "resources.gpu_count", Msg: "above 65535"}
	case r.NodeCount > math.MaxUint16:
		return &events.ValidationError{Code: events.CodeOutOfRange, Field: "resources.node_count", Msg: "above 65535"}
	case r.CPUCores > math.MaxFloat32:
		return &events.ValidationError{Code: events.CodeOutOfRange, Field: "resources.cpu_cores", Msg: "above the Float32 range"}
	}
	hist := make([]statusChange, len(j.StatusHistory))
	for i, h := range j.StatusHistory {
		hist[i] = statusChange{h.Status.String(), chTime(h.At), h.Message}
	}
	var cost *float64
	if j.Resources.HasCost {
		cost = &j.Resources.Cost
	}
	params := j.Hyperparameters
	if params == "" {
		params = "{}"
	}
	return b.add(struct {
		JobID           string             `json:"job_id"`
		ModelID         string             `json:"model_id"`
		ModelVersion    string             `json:"model_version"`
		Status          string             `json:"status"`
		StatusHistory   []statusChange     `json:"status_history"`
		Hyperparameters string             `json:"hyperparameters"`
		DatasetName     string             `json:"dataset_name"`
		DatasetVersion  string             `json:"dataset_version"`
		DatasetDigest   string             `json:"dataset_digest"`
		CPUCores        float64            `json:"cpu_cores"`
		GPUCount        int64              `json:"gpu_count"`
		GPUType         string             `json:"gpu_type"`
		MemoryBytes     int64              `json:"memory_bytes"`
		NodeCount       int64              `json:"node_count"`
		DurationSeconds float64            `json:"duration_seconds"`
		Cost            *float64           `json:"cost"`
		CostCurrency    string             `json:"cost_currency"`
		TrainMetrics    map[string]float64 `json:"train_metrics"`
		ValidMetrics    map[string]float64 `json:"validation_metrics"`
		StartedAt       *chTime            `json:"started_at"`
		FinishedAt      *chTime            `json:"finished_at"`
		UpdatedAt       chTime             `json:"updated_at"`
		IngestTime      chTime             `json:"ingest_time"`
	}{
		j.JobID, j.ModelID, j.ModelVersion, j.Status.String(), hist, params,
		j.DatasetName, j.DatasetVersion, j.DatasetDigest,
		j.Resources.CPUCores, j.Resources.GPUCount, j.Resources.GPUType, j.Resources.MemoryBytes,
		j.Resources.NodeCount, j.Resources.DurationSeconds, cost, j.Resources.CostCurrency,
		floatMap(j.TrainMetrics), floatMap(j.ValidMetrics), optTime(j.StartedAt), optTime(j.FinishedAt),
		chTime(j.UpdatedAt), chTime(j.Provenance.IngestTime),
	})
}

// AppendFeatureImportance adds one row per feature of table feature_importance.
func (b *JSONBlock) AppendFeatureImportance(f *events.FeatureImportance) error {
	scope := f.Scope
	if scope == 0 {
		scope = events.ScopeGlobal
	}
	for i, feature := range f.Importances.Keys {
		err := b.add(struct {
			ModelID      string  `json:"model_id"`
			ModelVersion string  `json:"model_version"`
			Method       string  `json:"method"`
			Scope        string  `json:"scope"`
			Feature      string  `json:"feature"`
			Score        float64 `json:"score"`
			ComputedAt   chTime  `json:"computed_at"`
			IngestTime   chTime  `json:"ingest_time"`
		}{f.ModelID, f.ModelVersion, f.Method, scope.String(), feature, f.Importances.Values[i],
			chTime(f.ComputedAt), chTime(f.Provenance.IngestTime)})
		if err != nil {
			return err
		}
	}
	return nil
}

// AppendFeatureBaseline adds one row per feature of table feature_baselines.
func (b *JSONBlock) AppendFeatureBaseline(fb *events.FeatureBaseline) error {
	for _, d := range fb.Features {
		edges, props := d.BinEdges, d.BinProportions
		if edges == nil {
			edges = []float64{}
		}
		if props == nil {
			props = []float64{}
		}
		err := b.add(struct {
			ModelID         string             `json:"model_id"`
			ModelVersion    string             `json:"model_version"`
			Feature         string             `json:"feature"`
			FeatureType     string             `json:"feature_type"`
			Source          string             `json:"source"`
			DatasetRef      string             `json:"dataset_ref"`
			WindowStart     *chTime            `json:"window_start"`
			WindowEnd       *chTime            `json:"window_end"`
			SampleCount     int64              `json:"sample_count"`
			NullRate        float64            `json:"null_rate"`
			BinEdges        []float64          `json:"bin_edges"`
			BinProportions  []float64          `json:"bin_proportions"`
			Categories      map[string]float64 `json:"categories"`
			OtherProportion float64            `json:"other_proportion"`
			ComputedAt      chTime             `json:"computed_at"`
			IngestTime      chTime             `json:"ingest_time"`
		}{fb.ModelID, fb.ModelVersion, d.Feature, d.Type.String(), fb.Source.String(), fb.DatasetRef,
			optTime(fb.WindowStart), optTime(fb.WindowEnd), d.Count, d.NullRate, edges, props,
			floatMap(d.Categories), d.OtherProportion, chTime(fb.ComputedAt), chTime(fb.Provenance.IngestTime)})
		if err != nil {
			return err
		}
	}
	return nil
}
