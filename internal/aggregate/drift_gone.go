package aggregate

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// A feature without a baseline is compared with the previous window, so
// the window after the last one with its values gets its missing row
// (null rate 1) from driftStats; the windows after that would have no
// reference at all, and the feature a producer stopped sending would be
// flagged for one window, its alert resolved while it is still missing.
// Its missing row is therefore carried from window to window while the
// version has successful predictions and the feature no values: same
// reference window (the last with values) and reference null rate. A
// window without successful predictions of the version (no traffic, or an
// outage) ends the chain: the windows after it compare with it, where the
// feature has no values either, so it is no longer flagged.

// goneRef is the reference of a missing row: the last window with the
// feature's values and that window's null rate.
type goneRef struct {
	typ      string
	ref      time.Time
	baseNull float64
}

// readGone returns the missing rows without a baseline of granularity g in
// the windows wins, per model version's window and feature.
func (a *Aggregator) readGone(ctx context.Context, g gran, wins []time.Time) (map[mvw]map[string]goneRef, error) {
	out := map[mvw]map[string]goneRef{}
	if len(wins) == 0 {
		return out, nil
	}
	rows, err := a.query(ctx, "drift_gone", clickhouse.Parameters{"granularity": g.name, "windows": chTimes(wins)})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type key struct {
		mvw
		feature string
	}
	type version struct {
		goneRef
		gone bool
		at   time.Time
	}
	newest := map[key]version{}
	for rows.Next() {
		var k key
		var v version
		var ref *time.Time
		var nullRate float64
		if err := rows.Scan(&k.model, &k.version, &k.feature, &v.typ, &k.ws, &ref, &nullRate, &v.baseNull, &v.at); err != nil {
			return nil, fmt.Errorf("drift_gone: %w", err)
		}
		k.ws = k.ws.UTC()
		if old, ok := newest[k]; ok && !v.at.After(old.at) {
			continue
		}
		if v.gone = nullRate == 1 && ref != nil; v.gone {
			v.ref = ref.UTC()
		}
		newest[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("drift_gone: %w", err)
	}
	for k, v := range newest {
		if v.gone {
			addGone(out, k.mvw, k.feature, v.goneRef)
		}
	}
	return out, nil
}

func addGone(gone map[mvw]map[string]goneRef, k mvw, feature string, r goneRef) {
	if gone[k] == nil {
		gone[k] = map[string]goneRef{}
	}
	gone[k][feature] = r
}

// carryGone appends to rows, the drift rows of grp (n predictions, the
// features in have), a missing row for each feature missing without a
// baseline in the window d before it.
func carryGone(rows []DriftRow, grp mvw, n uint64, d time.Duration, have map[string]bool, gone map[mvw]map[string]goneRef) []DriftRow {
	if n == 0 {
		return rows
	}
	for feature, r := range gone[mvw{grp.model, grp.version, grp.ws.Add(-d)}] {
		if have[feature] {
			continue
		}
		ref := r.ref
		rows = append(rows, DriftRow{ModelID: grp.model, ModelVersion: grp.version, Feature: feature, FeatureType: r.typ,
			WindowStart: grp.ws, ReferenceStart: &ref, SampleCount: n, NullRate: 1, BaselineNullRate: r.baseNull,
			pValue: math.NaN()})
	}
	return rows
}

// recordGone notes the missing rows without a baseline among rows (of
// grp), for the window after it.
func recordGone(gone map[mvw]map[string]goneRef, grp mvw, rows []DriftRow) {
	for _, r := range rows {
		if r.NullRate == 1 && r.ReferenceStart != nil {
			addGone(gone, grp, r.Feature, goneRef{typ: r.FeatureType, ref: *r.ReferenceStart, baseNull: r.BaselineNullRate})
		}
	}
}
