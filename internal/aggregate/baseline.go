package aggregate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/predlog/predlog/internal/chquery"
)

// ErrNoPredictions: a baseline was asked for a model version that has no
// ok predictions in the window.
var ErrNoPredictions = errors.New("no predictions")

// ErrTooFewPredictions: a baseline was asked for a window with fewer ok
// predictions than FreezeOptions.MinPredictions (drift.min_samples for
// automatic ones).
var ErrTooFewPredictions = errors.New("too few predictions")

// ErrTrainingBaseline: a baseline was asked for a version whose baseline
// came with its training (FreezeOptions.Replace not set).
var ErrTrainingBaseline = errors.New("the version has a training baseline")

// FreezeOptions are FreezeBaseline's checks.
type FreezeOptions struct {
	// MinPredictions refuses windows with fewer ok predictions of the
	// version (ErrTooFewPredictions): deciles of a few dozen values make a
	// reference every later window differs from by chance. 0 is 1.
	MinPredictions uint64
	// Replace freezes over a training baseline (refused otherwise with
	// ErrTrainingBaseline): the version's every window is then measured
	// against production instead.
	Replace bool
}

// baselineTopN is how many values of a categorical feature a frozen
// baseline lists (the rest is other_proportion): as many as the drift
// states keep per window without a baseline.
const baselineTopN = 100

// BaselineFeature is one row of a frozen baseline.
type BaselineFeature struct {
	Feature    string
	Type       string // numeric or categorical
	NullRate   float64
	Bins       int // numeric: bins (edges + 1)
	Categories int // categorical: values listed
	Other      float64
}

// Baseline is what FreezeBaseline wrote.
type Baseline struct {
	ModelID, ModelVersion string
	From, To, ComputedAt  time.Time
	Predictions           uint64 // ok predictions in [From, To)
	Features              []BaselineFeature
}

// FreezeBaseline writes the distribution of every feature (and of the
// score, predicted value and predicted label) of one model version over
// the production window [from, to) as that version's baseline, source
// reference_window (clickhouse/queries/baseline_freeze.sql): windows
// computed from then on measure drift against it, and the next cycle
// recomputes the version's windows inside the label horizon whose drift
// states were computed against another reference (dirty_baselines.sql).
// Without ok predictions of the
// version in the window it writes nothing and returns ErrNoPredictions,
// naming the versions that have some. The window must have closed (end +
// allowed lateness before now).
func (a *Aggregator) FreezeBaseline(ctx context.Context, model, version string, from, to time.Time, opts FreezeOptions) (Baseline, error) {
	return a.freezeBaseline(ctx, model, version, from, to, opts, time.Now())
}

// freezeBaseline is FreezeBaseline as of now.
func (a *Aggregator) freezeBaseline(ctx context.Context, model, version string, from, to time.Time, opts FreezeOptions, now time.Time) (Baseline, error) {
	out := Baseline{ModelID: model, ModelVersion: version, From: from.UTC(), To: to.UTC()}
	switch {
	case model == "" || version == "":
		return out, errors.New("freeze baseline: model id and version must be set")
	case !to.After(from):
		return out, fmt.Errorf("freeze baseline: empty window [%v, %v)", from, to)
	case to.Add(a.cfg.AllowedLateness).After(now):
		// Its predictions are still arriving: the statement reads them
		// more than once and would count different sets.
		return out, fmt.Errorf("freeze baseline: the window ending %s has not closed yet (end + windows.allowed_lateness %v): pick an earlier --to",
			to.UTC().Format(time.RFC3339), a.cfg.AllowedLateness)
	}
	params := clickhouse.Parameters{
		"model_id":      chquery.Param(model),
		"model_version": chquery.Param(version),
		"from":          chTime64(from),
		"to":            chTime64(to),
	}
	var have []string // the versions with ok predictions, for the error
	rows, err := a.query(ctx, "baseline_versions", params)
	if err != nil {
		return out, fmt.Errorf("freeze baseline: %w", err)
	}
	for rows.Next() {
		var v string
		var n uint64
		if err := rows.Scan(&v, &n); err != nil {
			rows.Close()
			return out, fmt.Errorf("freeze baseline: %w", err)
		}
		if v == version {
			out.Predictions = n
		}
		have = append(have, fmt.Sprintf("%q (%d)", v, n))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("freeze baseline: %w", err)
	}
	if out.Predictions == 0 {
		if len(have) == 0 {
			return out, fmt.Errorf("freeze baseline: %w of model %q in [%s, %s)", ErrNoPredictions, model,
				from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
		}
		return out, fmt.Errorf("freeze baseline: %w of model %q version %q in [%s, %s); versions with ok predictions there: %s",
			ErrNoPredictions, model, version, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), strings.Join(have, ", "))
	}
	if out.Predictions < max(opts.MinPredictions, 1) {
		return out, fmt.Errorf("freeze baseline: %w: %d ok predictions of model %q version %q in [%s, %s), want %d", ErrTooFewPredictions,
			out.Predictions, model, version, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), opts.MinPredictions)
	}
	if !opts.Replace {
		n, err := a.queryCount(ctx, "baseline_training", params)
		if err != nil {
			return out, fmt.Errorf("freeze baseline: %w", err)
		}
		if n > 0 {
			return out, fmt.Errorf("freeze baseline: model %q version %q: %w", model, version, ErrTrainingBaseline)
		}
	}
	// Millisecond precision, as stored: the rows are read back by it.
	out.ComputedAt = time.Now().UTC().Truncate(time.Millisecond)
	params["computed_at"] = chTime64(out.ComputedAt)
	params["total"] = fmt.Sprint(out.Predictions)
	params["top_n"], params["candidates"] = fmt.Sprint(baselineTopN), fmt.Sprint(10*baselineTopN)
	if err := a.exec(ctx, "baseline_freeze", params); err != nil {
		return out, fmt.Errorf("freeze baseline: %w", err)
	}
	rows, err = a.query(ctx, "baseline_frozen", params)
	if err != nil {
		return out, fmt.Errorf("freeze baseline: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f BaselineFeature
		var bins, cats uint64
		if err := rows.Scan(&f.Feature, &f.Type, &f.NullRate, &bins, &cats, &f.Other); err != nil {
			return out, fmt.Errorf("freeze baseline: %w", err)
		}
		f.Bins, f.Categories = int(bins), int(cats)
		out.Features = append(out.Features, f)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("freeze baseline: %w", err)
	}
	return out, nil
}
