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

func gate(ctx context.Context) error {
	if err, ok := ctx.Value(notReadyKey{}).(error); ok {
		return err
	}
	return nil
}

func (g gatedStore) Models(ctx context.Context, limit int) ([]ModelSummary, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.Models(ctx, limit)
}

func (g gatedStore) Volumes(ctx context.Context, since time.Time, limit int) (map[string]uint64, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.Volumes(ctx, since, limit)
}

func (g gatedStore) ModelVersions(ctx context.Context, modelID string, limit int) ([]ModelVersion, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.ModelVersions(ctx, modelID, limit)
}

func (g gatedStore) ServedVersions(ctx context.Context, modelID string, limit int) ([]string, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.ServedVersions(ctx, modelID, limit)
}

func (g gatedStore) TrainingJobs(ctx context.Context, modelID string, limit int) ([]TrainingJob, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.TrainingJobs(ctx, modelID, limit)
}

func (g gatedStore) FeatureImportance(ctx context.Context, modelID string, limit int) ([]FeatureImportance, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.FeatureImportance(ctx, modelID, limit)
}

func (g gatedStore) PerformanceWindows(ctx context.Context, q WindowQuery, limit int) ([]PerformanceWindow, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.PerformanceWindows(ctx, q, limit)
}

func (g gatedStore) RecentPredictions(ctx context.Context, q WindowQuery, limit int) ([]Prediction, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.RecentPredictions(ctx, q, limit)
}

func (g gatedStore) DriftWindows(ctx context.Context, q WindowQuery, feature string, limit int) ([]DriftWindow, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.DriftWindows(ctx, q, feature, limit)
}

func (g gatedStore) DriftFeatures(ctx context.Context, q WindowQuery, limit int) ([]string, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.DriftFeatures(ctx, q, limit)
}

func (g gatedStore) ExperimentWindows(ctx context.Context, experimentID string) ([]ExperimentWindow, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.ExperimentWindows(ctx, experimentID)
}

func (g gatedStore) ABResults(ctx context.Context, experimentID string, w ExperimentWindow, limit int) ([]ABResult, error) {
	if err := gate(ctx); err != nil {
		return nil, err
	}
	return g.s.ABResults(ctx, experimentID, w, limit)
}
