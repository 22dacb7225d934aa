package daemon

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/predlog/predlog/internal/config"
)

// TestOpsDrainsForShutdownTimeout: a request in flight when the ops server
// stops finishes if it takes less than shutdown.timeout (the API's own
// deadline is 10 s; the server's default drain of 5 s cut such requests
// off with no answer).
func TestOpsDrainsForShutdownTimeout(t *testing.T) {
	cfg := config.DefaultAggregator()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.ClickHouse.DSN = "http://127.0.0.1:1" // never dialled here
	cfg.Log.Level = "error"
	cfg.Shutdown.Timeout = 10 * time.Second
	b, err := NewBase("aggregator", "test", Common{ClickHouse: cfg.ClickHouse, HTTP: cfg.HTTP, Log: cfg.Log, Shutdown: cfg.Shutdown}, nil,
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	started := make(chan struct{})
	b.Ops.Handle("/slow", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		time.Sleep(6 * time.Second)
		_, _ = io.WriteString(w, "done")
	}))
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- b.Ops.Run(ctx) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + b.Ops.Addr().String() + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		got <- string(body)
	}()
	<-started
	cancel()
	if body := <-got; body != "done" {
		t.Errorf("request in flight at shutdown got %q, want done", body)
	}
	if err := <-ran; err != nil {
		t.Errorf("ops server: %v", err)
	}
}
