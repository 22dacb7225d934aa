package api

import (
	"context"
	"time"
)

// notReadyKey carries a request's readiness error in its context.
type notReadyKey struct{}

// gatedStore refuses every query of a request whose context carries a
// readiness error, so that a handler still checks its parameters (a
// malformed request is a 400 whether or not the aggregator is ready) but
// never queries ClickHouse before its schema was checked (a 503).
type gatedStore struct{ s Store }

// gated runs query unless ctx carries a readiness error, which it returns.
func gated[T any](ctx context.Context, query func() (T, error)) (T, error) {
	if err, ok := ctx.Value(notReadyKey{}).(error); ok {
		var zero T
		return zero, err
	}
	return query()
}

func (g gatedStore) Experiments(ctx context.Context, limit int) ([]ExperimentSummary, error) {
	return gated(ctx, func() ([]ExperimentSummary, error) { return g.s.Experiments(ctx, limit) })
}

func (g gatedStore) Models(ctx context.Context, limit int) ([]ModelSummary, error) {
	return gated(ctx, func() ([]ModelSummary, error) { return g.s.Models(ctx, limit) })
}

func (g gatedStore) Volumes(ctx context.Context, since time.Time, limit int) (map[string]Volume, error) {
	return gated(ctx, func() (map[string]Volume, error) { return g.s.Volumes(ctx, since, limit) })
}

func (g gatedStore) ModelVersions(ctx context.Context, modelID string, limit int) ([]ModelVersion, error) {
	return gated(ctx, func() ([]ModelVersion, error) { return g.s.ModelVersions(ctx, modelID, limit) })
}

func (g gatedStore) ServedVersions(ctx context.Context, modelID string, limit int) ([]string, error) {
	return gated(ctx, func() ([]string, error) { return g.s.ServedVersions(ctx, modelID, limit) })
}

func (g gatedStore) TrainingJobs(ctx context.Context, modelID string, limit int) ([]TrainingJob, error) {
	return gated(ctx, func() ([]TrainingJob, error) { return g.s.TrainingJobs(ctx, modelID, limit) })
}

func (g gatedStore) FeatureImportance(ctx context.Context, modelID string, limit int) ([]FeatureImportance, error) {
	return gated(ctx, func() ([]FeatureImportance, error) { return g.s.FeatureImportance(ctx, modelID, limit) })
}

func (g gatedStore) Baselines(ctx context.Context, modelID string, limit int) ([]Baseline, error) {
	return gated(ctx, func() ([]Baseline, error) { return g.s.Baselines(ctx, modelID, limit) })
}

func (g gatedStore) PerformanceWindows(ctx context.Context, q WindowQuery, limit int) ([]PerformanceWindow, error) {
	return gated(ctx, func() ([]PerformanceWindow, error) { return g.s.PerformanceWindows(ctx, q, limit) })
}

func (g gatedStore) RecentPredictions(ctx context.Context, q WindowQuery, limit int) ([]Prediction, error) {
	return gated(ctx, func() ([]Prediction, error) { return g.s.RecentPredictions(ctx, q, limit) })
}

func (g gatedStore) DriftWindows(ctx context.Context, q WindowQuery, feature string, limit int) ([]DriftWindow, error) {
	return gated(ctx, func() ([]DriftWindow, error) { return g.s.DriftWindows(ctx, q, feature, limit) })
}

func (g gatedStore) DriftFeatures(ctx context.Context, q WindowQuery, limit int) ([]string, error) {
	return gated(ctx, func() ([]string, error) { return g.s.DriftFeatures(ctx, q, limit) })
}

func (g gatedStore) ExperimentWindows(ctx context.Context, experimentID string) ([]ExperimentWindow, error) {
	return gated(ctx, func() ([]ExperimentWindow, error) { return g.s.ExperimentWindows(ctx, experimentID) })
}

func (g gatedStore) ABResults(ctx context.Context, experimentID string, w ExperimentWindow, limit int) ([]ABResult, error) {
	return gated(ctx, func() ([]ABResult, error) { return g.s.ABResults(ctx, experimentID, w, limit) })
}
