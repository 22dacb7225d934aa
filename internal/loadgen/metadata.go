package loadgen

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Metadata kinds, one topic each.
const (
	KindModel             = "model"
	KindTrainingJob       = "training_job"
	KindFeatureImportance = "feature_importance"
	KindFeatureBaseline   = "feature_baseline"
)

// MetadataEvent is one low-volume message published at start.
type MetadataEvent struct {
	Kind  string // one of the Kind constants
	Key   string // model_id/model_version
	Value []byte
}

type modelEvent struct {
	ModelID           string            `json:"model_id"`
	ModelVersion      string            `json:"model_version"`
	Name              string            `json:"name"`
	Architecture      string            `json:"architecture"`
	Framework         string            `json:"framework"`
	Parameters        map[string]any    `json:"parameters"`
	TrainingDatasets  []string          `json:"training_datasets"`
	ArtifactURI       string            `json:"artifact_uri"`
	Stage             string            `json:"stage"`
	Aliases           []string          `json:"aliases"`
	Tags              map[string]string `json:"tags"`
	ProblemType       ProblemType       `json:"problem_type"`
	DecisionThreshold *float64          `json:"decision_threshold,omitempty"`
	PositiveClass     string            `json:"positive_class,omitempty"`
	CreatedAt         string            `json:"created_at"`
	CreatedBy         string            `json:"created_by"`
	UpdatedAt         string            `json:"updated_at"`
	UpdatedBy         string            `json:"updated_by"`
}

type statusEntry struct {
	Status  string `json:"status"`
	At      string `json:"at"`
	Message string `json:"message,omitempty"`
}

type trainingJobEvent struct {
	JobID             string             `json:"job_id"`
	ModelID           string             `json:"model_id"`
	ModelVersion      string             `json:"model_version"`
	Status            string             `json:"status"`
	StatusHistory     []statusEntry      `json:"status_history"`
	Hyperparameters   map[string]any     `json:"hyperparameters"`
	DatasetName       string             `json:"dataset_name"`
	DatasetVersion    string             `json:"dataset_version"`
	DatasetDigest     string             `json:"dataset_digest"`
	Resources         map[string]any     `json:"resources"`
	TrainMetrics      map[string]float64 `json:"train_metrics"`
	ValidationMetrics map[string]float64 `json:"validation_metrics"`
	StartedAt         string             `json:"started_at"`
	FinishedAt        string             `json:"finished_at"`
	UpdatedAt         string             `json:"updated_at"`
}

type featureImportanceEvent struct {
	ModelID      string             `json:"model_id"`
	ModelVersion string             `json:"model_version"`
	Method       string             `json:"method"`
	Scope        string             `json:"scope"`
	ComputedAt   string             `json:"computed_at"`
	Importances  map[string]float64 `json:"importances"`
}

type baselineFeature struct {
	Feature         string             `json:"feature"`
	Type            string             `json:"type"`
	Count           int64              `json:"count"`
	NullRate        float64            `json:"null_rate"`
	BinEdges        []float64          `json:"bin_edges,omitempty"`
	BinProportions  []float64          `json:"bin_proportions,omitempty"`
	Categories      map[string]float64 `json:"categories,omitempty"`
	OtherProportion *float64           `json:"other_proportion,omitempty"`
}

type featureBaselineEvent struct {
	ModelID      string            `json:"model_id"`
	ModelVersion string            `json:"model_version"`
	Source       string            `json:"source"`
	DatasetRef   string            `json:"dataset_ref"`
	ComputedAt   string            `json:"computed_at"`
	Features     []baselineFeature `json:"features"`
}

// baselineBins is the number of equal-probability bins of a numeric baseline.
const baselineBins = 10

// Metadata returns the events that describe the simulated models, in the
// order to publish them: per model version its registration, the training
// job that produced it, its feature importance and its feature baseline. Times
// lie days before Config.Start. Baselines describe the pre-drift
// distributions: numeric features as deciles (equal proportions between
// the bin edges), categorical ones as their value frequencies.
func (g *Generator) Metadata() ([]MetadataEvent, error) {
	var evs []MetadataEvent
	add := func(kind, key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		evs = append(evs, MetadataEvent{Kind: kind, Key: key, Value: b})
		return nil
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	start := g.cfg.Start.Truncate(time.Hour)
	for mi, m := range g.models {
		for vi, v := range m.versions {
			key := m.id + "/" + v.name
			trained := start.Add(-time.Duration(72-24*vi) * time.Hour)
			trainStart := trained.Add(-3*time.Hour - time.Duration(mi)*17*time.Minute)
			registered := trained.Add(30 * time.Minute)
			dataset := "dataset-" + m.id + "@" + trained.Add(-7*24*time.Hour).Format("2006-01-02")

			me := modelEvent{
				ModelID: m.id, ModelVersion: v.name, Name: modelTitle(m),
				Architecture: architecture[m.problem], Framework: "xgboost 2.1.3",
				Parameters:       map[string]any{"max_depth": 6 + vi*2, "n_estimators": 400 + 200*vi, "objective": objective[m.problem]},
				TrainingDatasets: []string{dataset},
				ArtifactURI:      "s3://models/" + m.id + "/" + v.name + "/model.ubj",
				Stage:            "production", Aliases: []string{"champion"},
				Tags:        map[string]string{"team": teams[mi%len(teams)], "simulated": "true"},
				ProblemType: m.problem,
				CreatedAt:   ts(registered), CreatedBy: "ci@loadgen", UpdatedAt: ts(registered), UpdatedBy: "loadgen",
			}
			if v.variant == "B" {
				me.Stage, me.Aliases = "staging", []string{"challenger"}
			}
			if m.problem == Binary {
				th := m.threshold
				me.DecisionThreshold, me.PositiveClass = &th, "1"
			}
			if err := add(KindModel, key, me); err != nil {
				return nil, err
			}

			quality := 1 - v.noise/2 // better versions validate better
			job := trainingJobEvent{
				JobID: "train-" + m.id + "-" + v.name, ModelID: m.id, ModelVersion: v.name, Status: "succeeded",
				StatusHistory: []statusEntry{
					{Status: "queued", At: ts(trainStart.Add(-4 * time.Minute))},
					{Status: "running", At: ts(trainStart)},
					{Status: "succeeded", At: ts(trained), Message: "early stopping"},
				},
				Hyperparameters: map[string]any{"learning_rate": 0.05, "max_depth": 6 + vi*2, "subsample": 0.8},
				DatasetName:     "dataset-" + m.id, DatasetVersion: trained.Add(-7 * 24 * time.Hour).Format("2006-01-02"),
				DatasetDigest: "sha256:" + strconv.FormatUint(g.cfg.Seed*7919+uint64(mi*10+vi), 16),
				Resources: map[string]any{"cpu_cores": 16, "gpu_count": 1, "gpu_type": "A10G", "memory_bytes": 64 << 30,
					"node_count": 1, "duration_seconds": trained.Sub(trainStart).Seconds(), "cost": round(3*trained.Sub(trainStart).Hours()*1.2, 2), "cost_currency": "USD"},
				TrainMetrics:      trainMetrics(m.problem, quality+0.03),
				ValidationMetrics: trainMetrics(m.problem, quality),
				StartedAt:         ts(trainStart), FinishedAt: ts(trained), UpdatedAt: ts(trained),
			}
			if err := add(KindTrainingJob, key, job); err != nil {
				return nil, err
			}

			if err := add(KindFeatureImportance, key, featureImportanceEvent{
				ModelID: m.id, ModelVersion: v.name, Method: "shap", Scope: "global",
				ComputedAt: ts(trained.Add(15 * time.Minute)), Importances: importances(m),
			}); err != nil {
				return nil, err
			}

			if err := add(KindFeatureBaseline, key, featureBaselineEvent{
				ModelID: m.id, ModelVersion: v.name, Source: "training", DatasetRef: dataset,
				ComputedAt: ts(trained.Add(15 * time.Minute)), Features: baseline(m),
			}); err != nil {
				return nil, err
			}
		}
	}
	return evs, nil
}

var (
	architecture = map[ProblemType]string{Binary: "gradient_boosted_trees", Multiclass: "gradient_boosted_trees", Regression: "gradient_boosted_trees"}
	objective    = map[ProblemType]string{Binary: "binary:logistic", Multiclass: "multi:softprob", Regression: "reg:squarederror"}
	teams        = []string{"risk", "support", "logistics", "growth"}
)

func modelTitle(m *model) string {
	return m.id + " (" + string(m.problem) + ")"
}

func trainMetrics(p ProblemType, q float64) map[string]float64 {
	switch p {
	case Binary:
		return map[string]float64{"auc": round(0.6+0.35*q, 4), "logloss": round(0.6-0.4*q, 4)}
	case Multiclass:
		return map[string]float64{"accuracy": round(0.4+0.5*q, 4), "mlogloss": round(1.2-0.8*q, 4)}
	default:
		return map[string]float64{"rmse": round(12-8*q, 3), "mae": round(9-6*q, 3)}
	}
}

// importances are each feature's share of the absolute weights (numeric
// features scaled by their unit standard deviation, categorical ones summed
// over their values).
func importances(m *model) map[string]float64 {
	imp := map[string]float64{}
	var total float64
	for _, w := range m.weights {
		for i, f := range m.numeric {
			imp[f.name] += math.Abs(w[i])
		}
		for ci, f := range m.cats {
			for j := range f.values {
				imp[f.name] += math.Abs(w[m.catOffset[ci]+j]) * f.probs[j]
			}
		}
	}
	for _, v := range imp {
		total += v
	}
	for k, v := range imp {
		imp[k] = round(v/total, 4)
	}
	return imp
}

// baseline describes the pre-drift feature distributions of m as if
// computed over its training set.
func baseline(m *model) []baselineFeature {
	const count = 1_000_000
	var fs []baselineFeature
	for _, f := range m.numeric {
		edges := make([]float64, 0, baselineBins-1)
		for i := 1; i < baselineBins; i++ {
			e := round(f.quantile(float64(i)/baselineBins), 2)
			if len(edges) > 0 && e <= edges[len(edges)-1] {
				e = edges[len(edges)-1] + 0.01 // keep them strictly increasing after rounding
			}
			edges = append(edges, e)
		}
		props := make([]float64, baselineBins)
		for i := range props {
			props[i] = 1.0 / baselineBins
		}
		fs = append(fs, baselineFeature{Feature: f.name, Type: "numeric", Count: count, NullRate: f.nullRate,
			BinEdges: edges, BinProportions: props})
	}
	zero := 0.0
	for _, f := range m.cats {
		cats := make(map[string]float64, len(f.values))
		for i, v := range f.values {
			cats[v] = f.probs[i]
		}
		fs = append(fs, baselineFeature{Feature: f.name, Type: "categorical", Count: count,
			Categories: cats, OtherProportion: &zero})
	}
	return fs
}
