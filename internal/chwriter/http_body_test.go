package chwriter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// TestBodyReleasedOnce: a pooled insert body goes back exactly once, after
// the transport is done with it, whether the insert succeeds or times out
// while the server is still reading.
func TestBodyReleasedOnce(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("query") == "slow" {
			<-block
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	defer close(block)

	s, err := NewHTTPSink(HTTPConfig{URL: srv.URL, Database: "db"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name    string
		query   string
		timeout time.Duration
		wantErr bool
	}{
		{"answered", "fast", time.Minute, false},
		{"timed out", "slow", 100 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var released atomic.Int32
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			body := make([]byte, 1<<20)
			_, err := s.do(ctx, url.Values{"query": {tt.query}}, body, func() { released.Add(1) }, "t")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			deadline := time.Now().Add(5 * time.Second)
			for released.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond) // a second release would show up here
			if n := released.Load(); n != 1 {
				t.Errorf("released %d times, want 1", n)
			}
		})
	}
}

// TestFailoverAndSettings: after a connection error the sink sends to the
// next server, and every insert carries the DSN's settings next to its own
// deduplication ones.
func TestFailoverAndSettings(t *testing.T) {
	var got atomic.Pointer[url.Values]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		got.Store(&q)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // refuses connections from now on

	s, err := NewHTTPSink(HTTPConfig{URL: downURL, More: []string{srv.URL}, Database: "db",
		Settings: map[string]string{"insert_quorum": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ins := Insert{Table: "t", Format: "JSONEachRow", Body: []byte("{}\n"), Token: "tok"}
	if err := s.Insert(context.Background(), ins); KindOf(err) != KindTransient {
		t.Fatalf("first server down: err %v, want transient", err)
	}
	if err := s.Insert(context.Background(), ins); err != nil {
		t.Fatalf("retry on the next server: %v", err)
	}
	q := got.Load()
	if q == nil || q.Get("insert_quorum") != "2" || q.Get("insert_deduplication_token") != "tok" {
		t.Errorf("query parameters %v: want insert_quorum=2 and the token", q)
	}
	if err := s.Insert(context.Background(), ins); err != nil {
		t.Errorf("stays on the server that works: %v", err)
	}
}
