package aggregate

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"
)

// labelState is what the label check remembers of a binary model: the
// label values other than its positive class seen since its last
// positive-class label (at most maxOtherLabels), and whether it is flagged
// (with a gauge series, or beyond metrics.label_cap without).
type labelState struct {
	others          map[string]bool
	flagged, gauged bool
}

const maxOtherLabels = 3

// A producer can send outcomes for any number of model ids: the check
// names at most maxLabelWarnings newly flagged models a cycle (the rest in
// one summary line) and remembers at most maxLabelModels models (those
// beyond are checked again once some recover). 20,000 such ids logged
// 20,000 lines in one cycle and grew the state without bound.
const (
	maxLabelWarnings = 10
	maxLabelModels   = 10_000
)

// checkLabels looks at the labels of the outcomes ingested in (since,
// until] of each binary model. Two or more distinct values that are not
// its positive class, with no positive-class label since the first of
// them, mean that every window counts no positive and that precision and
// recall read 0 or null, silently: labels "true"/"false" against
// positive_class "1", or a multiclass model registered as binary or not
// registered at all. (One value is the negative class; a model whose
// positives are rare is told apart by its second value.) The check warns
// when a model starts to show this, says when a positive-class label
// arrives after, and keeps predlog_aggregator_model_unmatched_labels set
// meanwhile. Best effort: a failure is logged and the cycle goes on.
func (a *Aggregator) checkLabels(ctx context.Context, params clickhouse.Parameters) {
	if err := a.readLabels(ctx, params); err != nil {
		a.log.Warn("check outcome labels", zap.Error(err))
	}
}

func (a *Aggregator) readLabels(ctx context.Context, params clickhouse.Parameters) error {
	type model struct {
		id                string
		classes, examples []string
		matched, labels   uint64
	}
	var models []model
	rows, err := a.query(ctx, "labels_unmatched", clickhouse.Parameters{"since": params["since"], "until": params["until"]})
	if err != nil {
		return err
	}
	for rows.Next() {
		var m model
		if err := rows.Scan(&m.id, &m.classes, &m.matched, &m.examples, &m.labels); err != nil {
			rows.Close()
			return fmt.Errorf("labels_unmatched: %w", err)
		}
		if len(m.classes) == 0 {
			m.classes = []string{"1"}
		}
		models = append(models, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("labels_unmatched: %w", err)
	}
	// Recoveries first: the series they free count for the label cap.
	for _, m := range models {
		st := a.labels[m.id]
		if m.matched == 0 || st == nil {
			continue
		}
		if st.flagged {
			a.log.Info("binary labels match the positive class again", zap.String("model", m.id), zap.Strings("positive_class", m.classes))
			if st.gauged {
				a.m.unmatched.DeleteLabelValues(m.id)
			}
		}
		delete(a.labels, m.id)
	}
	if len(a.labels) < a.labelModels {
		a.labelsFull = false // said again when reached again
	}
	gauged := a.gaugedUnmatched()
	warned := 0 // newly flagged this cycle; past maxLabelWarnings not named
	for _, m := range models {
		if m.matched > 0 {
			continue
		}
		st := a.labels[m.id]
		if st == nil {
			if len(a.labels) >= a.labelModels {
				if !a.labelsFull {
					a.labelsFull = true
					a.log.Warn("label check: remembering the first models only; others are checked once some recover",
						zap.Int("models", a.labelModels))
				}
				continue
			}
			st = &labelState{others: map[string]bool{}}
			a.labels[m.id] = st
		}
		for _, l := range m.examples {
			if len(st.others) < maxOtherLabels {
				st.others[l] = true
			}
		}
		if len(st.others) < 2 {
			continue
		}
		if !st.flagged {
			st.flagged = true
			st.gauged = gauged < a.m.labelCap
			if st.gauged {
				gauged++
			}
			if warned++; warned > maxLabelWarnings {
				continue
			}
			a.log.Warn("binary labels do not match the positive class: no window of this model counts a positive; "+
				"set positive_class (and problem_type) in the model's metadata to what the outcomes send",
				zap.String("model", m.id), zap.Strings("positive_class", m.classes), zap.Strings("labels", slices.Sorted(maps.Keys(st.others))))
		}
		if st.gauged {
			a.m.unmatched.WithLabelValues(m.id).Set(float64(len(st.others)))
		}
	}
	if warned > maxLabelWarnings {
		a.log.Warn("more binary models whose labels do not match the positive class (not named: too many this cycle)",
			zap.Int("models", warned-maxLabelWarnings))
	}
	return nil
}

// gaugedUnmatched counts the models with a model_unmatched_labels series:
// at most metrics.label_cap.
func (a *Aggregator) gaugedUnmatched() int {
	n := 0
	for _, st := range a.labels {
		if st.gauged {
			n++
		}
	}
	return n
}
