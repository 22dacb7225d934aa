package aggregate

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"
)

// checkLabels looks at the labels of the outcomes ingested in (since,
// until] of a binary model: with two or more distinct values none of which
// is the positive class, every window counts no positive and precision and
// recall read 0 or null, silently (labels "true"/"false" against
// positive_class "1", or a multiclass model registered as binary or not
// registered at all). It warns once when a model starts to show this,
// again when it recovers, and keeps predlog_aggregator_model_unmatched_labels
// set for it meanwhile. A model without labelled outcomes in the span
// keeps its state. Best effort: a failure is logged and the cycle goes on.
func (a *Aggregator) checkLabels(ctx context.Context, params clickhouse.Parameters) {
	if err := a.readLabels(ctx, params); err != nil {
		a.log.Warn("check outcome labels", zap.Error(err))
	}
}

func (a *Aggregator) readLabels(ctx context.Context, params clickhouse.Parameters) error {
	type model struct {
		id                string
		classes, examples []string
		unmatched, labels uint64
	}
	var models []model
	rows, err := a.query(ctx, "labels_unmatched", clickhouse.Parameters{"since": params["since"], "until": params["until"]})
	if err != nil {
		return err
	}
	for rows.Next() {
		var m model
		if err := rows.Scan(&m.id, &m.classes, &m.unmatched, &m.examples, &m.labels); err != nil {
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
		if gauged, flagged := a.unmatched[m.id]; flagged && m.unmatched < 2 {
			a.log.Info("binary labels match the positive class again", zap.String("model", m.id), zap.Strings("positive_class", m.classes))
			delete(a.unmatched, m.id)
			if gauged {
				a.m.unmatched.DeleteLabelValues(m.id)
			}
		}
	}
	for _, m := range models {
		if m.unmatched < 2 {
			continue
		}
		gauged, flagged := a.unmatched[m.id]
		if !flagged {
			a.log.Warn("binary labels do not match the positive class: no window of this model counts a positive; "+
				"set positive_class (and problem_type) in the model's metadata to what the outcomes send",
				zap.String("model", m.id), zap.Strings("positive_class", m.classes), zap.Strings("labels", m.examples),
				zap.Uint64("distinct_other_labels", m.unmatched), zap.Uint64("outcomes", m.labels))
			gauged = a.gaugedUnmatched() < a.m.labelCap
			a.unmatched[m.id] = gauged
		}
		if gauged {
			a.m.unmatched.WithLabelValues(m.id).Set(float64(m.unmatched))
		}
	}
	return nil
}

// gaugedUnmatched counts the models with a model_unmatched_labels series:
// at most metrics.label_cap.
func (a *Aggregator) gaugedUnmatched() int {
	n := 0
	for _, gauged := range a.unmatched {
		if gauged {
			n++
		}
	}
	return n
}
