package chquery

import (
	"context"
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
	// A URL that does not parse: its error quoted it, password and all.
	if _, err := (Target{URL: "http://bob:top?secret9@127.0.0.1:8123"}).Run(context.Background(), "SELECT 1", nil); err == nil ||
		strings.Contains(err.Error(), "secret9") || strings.Contains(err.Error(), "top") {
		t.Fatalf("error %v, want one that quotes no part of the URL", err)
	}
}
