package chquery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sql, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		switch {
		case r.Header.Get("X-ClickHouse-User") != "u" || r.Header.Get("X-ClickHouse-Key") != "p":
			w.WriteHeader(http.StatusUnauthorized)
		case string(sql) == "SELEC 1":
			w.Header().Set("X-ClickHouse-Exception-Code", "62")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "Code: 62. DB::Exception: Syntax error\n")
		default:
			_, _ = io.WriteString(w, q.Get("database")+"|"+q.Get("param_x")+"|"+string(sql))
		}
	}))
	defer srv.Close()
	tg := Target{URL: srv.URL + "/", Database: "db", User: "u", Password: "p"}
	got, err := tg.Run(context.Background(), "SELECT {x:String}", url.Values{"param_x": {"it's"}})
	if err != nil || got != "db|it's|SELECT {x:String}" {
		t.Fatalf("Run = %q, %v", got, err)
	}
	if _, err := tg.Run(context.Background(), "SELEC 1", nil); err == nil || !strings.Contains(err.Error(), "Code: 62") {
		t.Fatalf("error %v, want the server's exception", err)
	}
	if _, err := (Target{URL: srv.URL}).Run(context.Background(), "SELECT 1", nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("error %v, want HTTP 401", err)
	}
	// URLs whose password holds an unencoded '?', '#' or '/': whether
	// they parse or not, their errors quoted them, password and all.
	for _, u := range []string{"http://bob:top?secret9@127.0.0.1:8123", "http://bob:12?secret9@127.0.0.1:1", "http://bob:12#secret9@127.0.0.1:1",
		"http://bob:12/secret9@127.0.0.1:1", "http://bob:p@ss#secret9@127.0.0.1:1", "http://bob:p@ss?x=secret9@127.0.0.1:1",
		"http:bob:secret9@127.0.0.1:1", "bob:secret9@127.0.0.1:1"} {
		if _, err := (Target{URL: u}).Run(context.Background(), "SELECT 1", nil); err == nil || strings.Contains(err.Error(), "secret9") {
			t.Errorf("%s: error %v, want one that quotes no part of the URL", u, err)
		}
	}
	// Nor does a refused connection's error.
	if _, err := (Target{URL: "http://bob:secret9@127.0.0.1:1"}).Run(context.Background(), "SELECT 1", nil); err == nil || strings.Contains(err.Error(), "secret9") {
		t.Errorf("error %v, want one without the password", err)
	}
}

func TestParam(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Param(in); got != want {
			t.Errorf("Param(%q) = %q, want %q", in, got, want)
		}
	}
	f("plain", "plain")
	f(`it's; {x:String}`, `it's; {x:String}`)
	f(`a\b`, `a\\b`)
	f(`\'`, `\\'`)
	f("a\tb\nc\rd", `a\tb\nc\rd`)
	f("nul\x00", `nul\x00`)
	f("é", "é")
}

func TestShortURLError(t *testing.T) {
	inner := &url.Error{Op: "Post", URL: "http://ch:8123/?database=p&param_windows=%5B%272026-11-27%27%5D&param_model=secret", Err: context.Canceled}
	err := ShortURLError(fmt.Errorf("perf_states: %w", inner))
	if got, want := err.Error(), `perf_states: Post "http://ch:8123/?…": context canceled`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(err, context.Canceled) {
		t.Error("the cause is lost")
	}
	if ShortURLError(nil) != nil {
		t.Error("nil is not nil")
	}
}
