package report

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/predlog/predlog/internal/api"
)

// dotStore serves the model ids "." and ".." (legal: the ingester takes
// any printable id) and "b", each with one version and one window.
type dotStore struct{ api.Store }

func (dotStore) Models(context.Context, int) ([]api.ModelSummary, error) {
	return []api.ModelSummary{{ModelID: "."}, {ModelID: ".."}, {ModelID: "b"}}, nil
}
func (dotStore) Volumes(context.Context, time.Time, int) (map[string]api.Volume, error) {
	return nil, nil
}
func (dotStore) ModelVersions(_ context.Context, id string, _ int) ([]api.ModelVersion, error) {
	return []api.ModelVersion{{ModelID: id, ModelVersion: "1"}}, nil
}
func (dotStore) ServedVersions(context.Context, string, int) ([]string, error) { return nil, nil }
func (dotStore) PerformanceWindows(_ context.Context, q api.WindowQuery, _ int) ([]api.PerformanceWindow, error) {
	return []api.PerformanceWindow{{WindowStart: q.From, PredictionCount: 7}}, nil
}
func (dotStore) RecentPredictions(context.Context, api.WindowQuery, int) ([]api.Prediction, error) {
	return nil, nil
}
func (dotStore) DriftWindows(context.Context, api.WindowQuery, string, int) ([]api.DriftWindow, error) {
	return nil, nil
}
func (dotStore) DriftFeatures(context.Context, api.WindowQuery, int) ([]string, error) {
	return nil, nil
}
func (dotStore) Experiments(context.Context, int) ([]api.ExperimentSummary, error) { return nil, nil }

// TestWriteDotModelIDs: a model named "." or ".." must not abort the
// report (url.PathEscape leaves dots alone, and the API refuses a path
// with a "." or ".." segment).
func TestWriteDotModelIDs(t *testing.T) {
	h, err := api.New(api.Options{Store: dotStore{}})
	if err != nil {
		t.Fatal(err)
	}
	apiSrv := httptest.NewServer(h)
	defer apiSrv.Close()
	ch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("1 2 3 4\n"))
	}))
	defer ch.Close()
	var out bytes.Buffer
	err = Write(context.Background(), Config{API: apiSrv.URL, ClickHouse: ch.URL, Database: "predlog", Days: 1}, &out)
	if err != nil {
		t.Fatalf("report failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{"== . (", "== .. (", "== b ("} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestLatencyNoPredictions: ClickHouse answers "nan nan nan nan" for a
// model without predictions in the period (merging no t-digest state);
// the report must say n/a, not print NaN.
func TestLatencyNoPredictions(t *testing.T) {
	ch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("nan nan nan nan\n"))
	}))
	defer ch.Close()
	p50, p99, err := latency(context.Background(), Config{ClickHouse: ch.URL, Database: "predlog", Days: 1, Client: http.DefaultClient}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if got := num(p50) + " " + num(p99); got != "n/a n/a" {
		t.Errorf("latency of a model without predictions: %s, want n/a n/a", got)
	}
}
