package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCoarseGranularityWithoutDays: the aggregator accepts window sizes up
// to 366 days; a request naming such a granularity without days must
// not be refused (maxDays overflowed int64 for sizes of 11 days and more
// at the default MaxWindows, giving a negative "most days").
func TestCoarseGranularityWithoutDays(t *testing.T) {
	store := &fakeStore{modelVersions: known("m")}
	h := newTestHandler(t, store, func(o *Options) { o.Granularities = []string{"1m", "1h", "1d", "14d", "30d"} })
	for _, path := range []string{
		"/v1/models/m/performance?granularity=14d",
		"/v1/models/m/drift?granularity=14d",
		"/v1/models/m/performance?granularity=30d",
	} {
		code, body := serve(t, h, http.MethodGet, path)
		require.Equal(t, http.StatusOK, code, "%s: %v", path, body)
	}
}

// TestCoarseDefaultGranularity: with no size fitting the default period
// (1m and 14d served), the default request gets the coarsest, not a 400.
func TestCoarseDefaultGranularity(t *testing.T) {
	store := &fakeStore{modelVersions: known("m")}
	h := newTestHandler(t, store, func(o *Options) { o.Granularities = []string{"1m", "14d"} })
	for _, path := range []string{"/v1/models/m/performance", "/v1/models/m/drift"} {
		code, body := serve(t, h, http.MethodGet, path)
		require.Equal(t, http.StatusOK, code, "%s: %v", path, body)
	}
}
