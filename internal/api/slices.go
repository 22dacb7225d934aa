package api

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

const (
	// OtherSlice is the slice value the aggregator folds the values beyond
	// slices.top_n into.
	OtherSlice = "other"
	// MaxSliceValueChars bounds ?slice_value= in characters (metadata values
	// are free text).
	MaxSliceValueChars = 4096
	// MaxSliceRows bounds the rows (values × windows) one slices answer reads.
	MaxSliceRows = 50_000
)

// sliceQuery reads slice_key (and, when value is set, slice_value) into the
// window query of p and records them in p. slice_key must be one of the
// aggregator's slice keys; slice_value may be empty (predictions without
// the key) or "other".
func (h *Handler) sliceQuery(q query, p *Period, value bool) (WindowQuery, error) {
	wq := windowQuery(*p)
	key, hasKey := q.get("slice_key")
	v, hasValue := q.get("slice_value")
	switch {
	case !hasKey && hasValue:
		return wq, paramErr("slice_value", "needs slice_key")
	case !hasKey && !value:
		return wq, paramErr("slice_key", "required; %s", h.sliceKeysHint())
	case !hasKey:
		return wq, nil
	case !slices.Contains(h.opts.SliceKeys, key):
		return wq, paramErr("slice_key", "%s is not a slice key; %s", quote(key), h.sliceKeysHint())
	case value && !hasValue:
		return wq, paramErr("slice_value", "required with slice_key (GET /v1/models/{id}/slices?slice_key=%s lists the values)", key)
	case !utf8.ValidString(v):
		return wq, paramErr("slice_value", "not valid UTF-8")
	case utf8.RuneCountInString(v) > MaxSliceValueChars:
		return wq, paramErr("slice_value", "longer than %d characters", MaxSliceValueChars)
	}
	wq.SliceKey, p.SliceKey = key, key
	if value {
		wq.SliceValue, p.SliceValue = v, &v
	} else {
		wq.AnyValue = true
	}
	return wq, nil
}

func (h *Handler) sliceKeysHint() string {
	if len(h.opts.SliceKeys) == 0 {
		return "slicing is off (set slices.metadata_keys in the aggregator's config)"
	}
	return "the aggregator slices by " + strings.Join(h.opts.SliceKeys, ", ") + " (slices.metadata_keys)"
}

// getSlices answers the performance summary of every value of one slice
// key over the period, busiest first.
func (h *Handler) getSlices(r *http.Request) (any, error) {
	q, p, err := h.historyParams(r, DefaultPerformanceDays, "slice_key")
	if err != nil {
		return nil, err
	}
	wq, err := h.sliceQuery(q, &p, false)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	// A model younger than the default granularity: its finer windows, as
	// /performance answers.
	p, windows, _, err := answerFiner(h, q, p, func(p Period) ([]PerformanceWindow, error) {
		return h.opts.Store.PerformanceWindows(ctx, wq.over(p), MaxSliceRows+1)
	})
	if err != nil {
		return nil, err
	}
	out := SliceList{Query: p, Slices: []SliceSummary{}}
	if len(windows) > MaxSliceRows {
		// The newest rows, without the oldest window's, which the cut
		// may have split between values.
		windows, out.Truncated = windows[len(windows)-MaxSliceRows:], true
		oldest := windows[0].WindowStart
		for len(windows) > 0 && windows[0].WindowStart.Equal(oldest) {
			windows = windows[1:]
		}
	}
	if len(windows) == 0 {
		versions, err := h.opts.Store.ModelVersions(ctx, p.ModelID, maxVersions)
		if err != nil {
			return nil, err
		}
		return out, h.checkVersion(ctx, p.ModelID, p.Version, versions)
	}
	byValue := map[string][]PerformanceWindow{}
	for _, w := range windows { // oldest first, as Summarize needs
		byValue[w.SliceValue] = append(byValue[w.SliceValue], w)
	}
	for v, ws := range byValue {
		// A value whose every row was retired into "other" (perf_retire:
		// prediction_count 0) is not a slice of the period.
		if s := Summarize(ws, h.trendRule()); s.TotalPredictions > 0 {
			out.Slices = append(out.Slices, SliceSummary{SliceValue: v, Summary: s})
		}
	}
	slices.SortFunc(out.Slices, func(a, b SliceSummary) int {
		return cmp.Or(cmp.Compare(b.Summary.TotalPredictions, a.Summary.TotalPredictions), strings.Compare(a.SliceValue, b.SliceValue))
	})
	return out, nil
}
