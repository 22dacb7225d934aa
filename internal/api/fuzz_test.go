package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// recordingStore answers for model "m", experiment "e" and drift feature
// "f", and fails the fuzz run when a value that the handler should have
// rejected reaches it.
type recordingStore struct {
	fakeStore
	mu  sync.Mutex
	bad []string
}

func (s *recordingStore) check(what, v string, maxChars int, mayBeEmpty bool) {
	ok := (v != "" || mayBeEmpty) && utf8.RuneCountInString(v) <= maxChars && utf8.ValidString(v) && !strings.ContainsFunc(v, unicode.IsControl)
	if !ok {
		s.mu.Lock()
		s.bad = append(s.bad, fmt.Sprintf("%s %q", what, v))
		s.mu.Unlock()
	}
}

func (s *recordingStore) checkWindow(q WindowQuery) {
	s.check("model", q.ModelID, MaxIDChars, false)
	s.check("version", q.Version, MaxVersionChars, true)
	s.check("slice key", q.SliceKey, MaxIDChars, true)
	s.check("slice value", q.SliceValue, MaxSliceValueChars, true)
	if _, ok := granularityDuration(q.Granularity); !ok {
		s.check("granularity", "\x00"+q.Granularity, 0, false)
	}
	if !q.From.Before(q.To) || q.To.Sub(q.From) > MaxDays*24*time.Hour+24*time.Hour {
		s.check("period", q.From.String()+" to "+q.To.String(), 0, false)
	}
}

func newRecordingStore() *recordingStore {
	s := &recordingStore{}
	s.modelVersions = func(_ context.Context, id string, _ int) ([]ModelVersion, error) {
		s.check("model", id, MaxIDChars, false)
		if id != "m" {
			return nil, nil
		}
		return []ModelVersion{{ModelID: id, ModelVersion: "2"}, {ModelID: id, ModelVersion: "1"}}, nil
	}
	s.servedVersions = func(_ context.Context, id string, _ int) ([]string, error) {
		s.check("model", id, MaxIDChars, false)
		if id != "m" {
			return nil, nil
		}
		return []string{"1", "2"}, nil
	}
	s.performance = func(_ context.Context, q WindowQuery, _ int) ([]PerformanceWindow, error) {
		s.checkWindow(q)
		return []PerformanceWindow{{WindowStart: q.From, WindowEnd: q.From.Add(time.Hour), PredictionCount: 10, F1: f64(0.5)}}, nil
	}
	s.predictions = func(_ context.Context, q WindowQuery, _ int) ([]Prediction, error) {
		s.checkWindow(q)
		return nil, nil
	}
	s.driftFeatures = func(_ context.Context, q WindowQuery, _ int) ([]string, error) {
		s.checkWindow(q)
		return []string{"f"}, nil
	}
	s.drift = func(_ context.Context, q WindowQuery, feature string, _ int) ([]DriftWindow, error) {
		s.checkWindow(q)
		s.check("feature", feature, MaxIDChars, true)
		if feature != "" && feature != "f" {
			return nil, nil
		}
		return []DriftWindow{{Feature: "f", WindowStart: q.From, WindowEnd: q.From.Add(time.Hour), PSI: f64(0.1)}}, nil
	}
	s.experimentWindows = func(_ context.Context, id string) ([]ExperimentWindow, error) {
		s.check("experiment", id, MaxIDChars, false)
		if id != "e" {
			return nil, nil
		}
		return []ExperimentWindow{{Granularity: "1h", WindowStart: testNow.Truncate(time.Hour)}}, nil
	}
	s.abResults = func(_ context.Context, id string, _ ExperimentWindow, _ int) ([]ABResult, error) {
		s.check("experiment", id, MaxIDChars, false)
		return nil, nil
	}
	return s
}

// FuzzHandler sends arbitrary paths and query strings under /v1/: every
// answer is JSON with a status the API documents, a 400 names the
// parameter, and nothing the handler should reject reaches the store.
//
//	go test -run '^$' -fuzz FuzzHandler -fuzztime 30s ./internal/api/
func FuzzHandler(f *testing.F) {
	for _, seed := range []struct{ path, query string }{
		{"models", ""},
		{"models/m", ""},
		{"models/m/performance", "days=30&granularity=1h&version=1"},
		{"models/m/performance", "days=0"},
		{"models/m/drift", "feature=f&days=2&granularity=1m"},
		{"models/m/drift", "feature=x%27%3B%7B"},
		{"models/m/slices", "slice_key=country"},
		{"models/m/performance", "=x"},
		{"models/m%00", ""},
		{"models/m/slices", "slice_key=%01"},
		{"experiments/e", ""},
		{"experiments/e%22;DROP", "x=1&x=2"},
		{"experiments/e%7F", ""},
		{"models/%ff", "days=%zz"},
	} {
		f.Add(seed.path, seed.query)
	}
	store := newRecordingStore()
	h, err := New(Options{Store: store, Now: func() time.Time { return testNow }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, rawQuery string) {
		u := &url.URL{Path: "/v1/" + path, RawQuery: rawQuery}
		if p, err := url.PathUnescape(path); err == nil {
			u.Path, u.RawPath = "/v1/"+p, "/v1/"+path
		}
		req := httptest.NewRequest(http.MethodGet, "/v1/", nil)
		req.URL, req.RequestURI = u, u.RequestURI()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect:
		default:
			t.Fatalf("GET %s: status %d: %s", u.RequestURI(), rec.Code, rec.Body)
		}
		if rec.Code/100 == 3 { // ServeMux cleaning the path (".." or "//")
			return
		}
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("GET %s: %d with a body that is not JSON: %v: %q", u.RequestURI(), rec.Code, err, rec.Body)
		}
		if rec.Code == http.StatusBadRequest {
			param, _ := body["parameter"].(string)
			msg, _ := body["message"].(string)
			if body["code"] != errCodeInvalidParameter || param == "" || msg == "" {
				t.Fatalf("GET %s: 400 without code, parameter and message: %v", u.RequestURI(), body)
			}
		}
		store.mu.Lock()
		bad := store.bad
		store.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("GET %s (%d): the store got %s", u.RequestURI(), rec.Code, strings.Join(bad, ", "))
		}
	})
}
