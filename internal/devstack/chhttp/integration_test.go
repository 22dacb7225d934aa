package chhttp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/predlog/predlog/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// post sends body to the HTTP interface with the given URL parameters and
// returns status, exception-code header and body.
func post(t *testing.T, st *testenv.Stack, params url.Values, body io.Reader, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, st.ClickHouseURL+"/?"+params.Encode(), body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("X-ClickHouse-Exception-Code"), string(b)
}

func TestPlainHTTP(t *testing.T) {
	t.Parallel()
	st := testenv.Get(t)
	db := st.Database(t)
	st.Exec(t, db, "CREATE TABLE t (a UInt32, s String) ENGINE = MergeTree ORDER BY a")
	code, _, body := post(t, st, url.Values{"database": {db}, "query": {"INSERT INTO t FORMAT TabSeparated"}}, strings.NewReader("1\tx\n2\ty\n"), nil)
	if code != 200 {
		t.Fatalf("insert: %d %s", code, body)
	}
	st.Exec(t, db, "INSERT INTO t VALUES (3, 'it''s'), (4, 'w')")
	if got, want := st.Exec(t, db, "SELECT a, s FROM t ORDER BY a"), "1\tx\n2\ty\n3\tit\\'s\n4\tw\n"; got != want {
		t.Fatalf("select = %q, want %q", got, want)
	}
	// GET with the query in the URL, as `curl 'http://…/?query=SELECT%201'`.
	resp, err := http.Get(st.ClickHouseURL + "/?query=" + url.QueryEscape("SELECT 1"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "1\n" {
		t.Fatalf("GET SELECT 1 = %q", b)
	}
	resp, err = http.Get(st.ClickHouseURL + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "Ok.\n" {
		t.Fatalf("/ping = %q", b)
	}
}

func TestBadInputDoesNotCrash(t *testing.T) {
	t.Parallel()
	st := testenv.Get(t)
	db := st.Database(t)
	st.Exec(t, db, "CREATE TABLE t (a UInt64, s String) ENGINE = MergeTree ORDER BY a")

	// A valid Native block for (a UInt64, s String), 2 rows, to truncate.
	native := []byte{2, 2, 1, 'a', 6, 'U', 'I', 'n', 't', '6', '4', 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
		1, 's', 6, 'S', 't', 'r', 'i', 'n', 'g', 1, 'x', 1, 'y'}

	tests := []struct {
		name       string
		params     url.Values
		body       io.Reader
		wantStatus int
		wantCode   string
	}{
		{"malformed SQL", url.Values{}, strings.NewReader("SELEC 1"), 500, "62"},
		{"unknown table", url.Values{"database": {db}}, strings.NewReader("SELECT * FROM nope"), 500, "60"},
		{"empty query", url.Values{}, strings.NewReader(""), 400, "62"},
		{"truncated native", url.Values{"database": {db}, "query": {"INSERT INTO t FORMAT Native"}}, bytes.NewReader(native[:len(native)-3]), 500, ""},
		{"garbage native", url.Values{"database": {db}, "query": {"INSERT INTO t FORMAT Native"}}, strings.NewReader(strings.Repeat("\xff", 4096)), 500, ""},
		{"garbage compressed", url.Values{"database": {db}, "query": {"INSERT INTO t FORMAT Native"}, "decompress": {"1"}}, strings.NewReader(strings.Repeat("\x01", 64)), 400, "36"},
		{"oversized query", url.Values{}, io.MultiReader(strings.NewReader("SELECT '"), io.LimitReader(zeros{}, 65<<20)), 413, "307"},
		{"unknown setting", url.Values{"client_protocol_version_x": {"1"}}, strings.NewReader("SELECT 1"), 400, "115"},
		{"setting that crashes the engine if forwarded", url.Values{"query": {"SELECT 1"}, "max_threads": {"1"}, "crash_me": {"1"}}, nil, 400, "115"},
		{"unknown database", url.Values{"database": {"no_such_db"}}, strings.NewReader("SELECT 1"), 500, "81"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code, body := post(t, st, tt.params, tt.body, nil)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s)", status, tt.wantStatus, body)
			}
			if tt.wantCode != "" && code != tt.wantCode {
				t.Fatalf("code %q, want %q (%s)", code, tt.wantCode, body)
			}
			if code == "" || !strings.HasPrefix(body, "Code: ") {
				t.Fatalf("error without ClickHouse code: %q %q", code, body)
			}
		})
	}
	// Still alive, and the good block inserts.
	status, _, body := post(t, st, url.Values{"database": {db}, "query": {"INSERT INTO t FORMAT Native"}}, bytes.NewReader(native), nil)
	if status != 200 {
		t.Fatalf("valid native insert after bad input: %d %s", status, body)
	}
	if got := st.Exec(t, db, "SELECT a, s FROM t ORDER BY a"); got != "1\tx\n2\ty\n" {
		t.Fatalf("rows after bad input = %q", got)
	}
}

// TestFailedInsertEnds: an INSERT the engine rejects leaves no query
// behind; one did until its session ran another query, and a DROP of its
// table from another session (a test's database cleanup) waited forever.
func TestFailedInsertEnds(t *testing.T) {
	t.Parallel()
	st := testenv.Get(t)
	db := st.Database(t)
	st.Exec(t, db, "CREATE TABLE t (a String, e Enum8('x' = 1)) ENGINE = MergeTree ORDER BY a")
	for _, body := range []string{`{"a":"1","e":"bogus"}`, `{"a":`} {
		status, _, msg := post(t, st, url.Values{"database": {db}, "query": {"INSERT INTO `" + db + "`.`t` FORMAT JSONEachRow"}},
			strings.NewReader(body+"\n"), nil)
		if status != 500 {
			t.Fatalf("insert %s: %d %s, want 500", body, status, msg)
		}
		left := st.Exec(t, "", "SELECT count() FROM system.processes WHERE query LIKE 'INSERT INTO `"+db+"`%'")
		if left != "0\n" {
			t.Fatalf("insert %s: %s queries left in system.processes", body, strings.TrimSpace(left))
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// TestClickHouseGoMillionRows batch-inserts 1,000,000 rows through
// clickhouse-go over HTTP and reads every value back.
func TestClickHouseGoMillionRows(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short")
	}
	st := testenv.Get(t)
	db := st.Database(t)
	conn := st.Conn(t, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, `CREATE TABLE rows (
		id UInt64,
		ts DateTime64(3, 'UTC'),
		model LowCardinality(String),
		features Map(LowCardinality(String), Float64),
		embedding Array(Float32),
		label Nullable(String),
		score Nullable(Float64)
	) ENGINE = MergeTree ORDER BY id`); err != nil {
		t.Fatal(err)
	}

	const total, perBatch = 1_000_000, 250_000
	base := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	row := func(i int) (uint64, time.Time, string, map[string]float64, []float32, *string, *float64) {
		feats := map[string]float64{"f0": float64(i) / 3}
		for k := range i % 4 {
			feats[fmt.Sprintf("f%d", k+1)] = math.Sqrt(float64(i + k))
		}
		emb := make([]float32, i%3)
		for k := range emb {
			emb[k] = float32(i) * 0.25 * float32(k+1)
		}
		var label *string
		if i%5 != 0 {
			s := fmt.Sprintf("class-%d", i%7)
			label = &s
		}
		var score *float64
		if i%11 != 0 {
			f := float64(i%1000) / 1000
			score = &f
		}
		return uint64(i), base.Add(time.Duration(i) * time.Millisecond), fmt.Sprintf("model-%d", i%20), feats, emb, label, score
	}

	for start := 0; start < total; start += perBatch {
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO rows")
		if err != nil {
			t.Fatal(err)
		}
		var (
			ids    = make([]uint64, 0, perBatch)
			tss    = make([]time.Time, 0, perBatch)
			models = make([]string, 0, perBatch)
			feats  = make([]map[string]float64, 0, perBatch)
			embs   = make([][]float32, 0, perBatch)
			labels = make([]*string, 0, perBatch)
			scores = make([]*float64, 0, perBatch)
		)
		for i := start; i < start+perBatch; i++ {
			id, ts, m, f, e, l, s := row(i)
			ids, tss, models, feats, embs, labels, scores = append(ids, id), append(tss, ts), append(models, m), append(feats, f), append(embs, e), append(labels, l), append(scores, s)
		}
		for i, col := range []any{ids, tss, models, feats, embs, labels, scores} {
			if err := batch.Column(i).Append(col); err != nil {
				t.Fatalf("column %d: %v", i, err)
			}
		}
		if err := batch.Send(); err != nil {
			t.Fatalf("send batch at %d: %v", start, err)
		}
	}

	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM rows").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != total {
		t.Fatalf("count = %d, want %d", n, total)
	}
	rows, err := conn.Query(ctx, "SELECT id, ts, model, features, embedding, label, score FROM rows ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var (
			id    uint64
			ts    time.Time
			model string
			feats map[string]float64
			emb   []float32
			label *string
			score *float64
		)
		if err := rows.Scan(&id, &ts, &model, &feats, &emb, &label, &score); err != nil {
			t.Fatal(err)
		}
		wid, wts, wm, wf, we, wl, ws := row(i)
		if id != wid || !ts.Equal(wts) || model != wm || !equalMap(feats, wf) || !equalSlice(emb, we) || !equalPtr(label, wl) || !equalPtr(score, ws) {
			t.Fatalf("row %d = (%d %v %s %v %v %v %v), want (%d %v %s %v %v %v %v)", i,
				id, ts, model, feats, emb, deref(label), deref(score), wid, wts, wm, wf, we, deref(wl), deref(ws))
		}
		i++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != total {
		t.Fatalf("read %d rows, want %d", i, total)
	}
}

func equalMap(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func equalSlice(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestClickHouseGoFeatures covers what the ingester and aggregator rely on:
// bound parameters, exceptions as typed errors, forwarded settings
// (deduplication tokens), compression and concurrent sessions.
func TestClickHouseGoFeatures(t *testing.T) {
	t.Parallel()
	st := testenv.Get(t)
	db := st.Database(t)
	ctx := context.Background()

	for _, method := range []clickhouse.CompressionMethod{clickhouse.CompressionNone, clickhouse.CompressionLZ4, clickhouse.CompressionZSTD, clickhouse.CompressionGZIP} {
		t.Run("compression "+method.String(), func(t *testing.T) {
			opts := st.Options(db)
			opts.Compression = &clickhouse.Compression{Method: method}
			conn, err := clickhouse.Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			table := "c_" + method.String()
			if err := conn.Exec(ctx, "CREATE TABLE "+table+" (a UInt32, s String) ENGINE = MergeTree ORDER BY a"); err != nil {
				t.Fatal(err)
			}
			b, err := conn.PrepareBatch(ctx, "INSERT INTO "+table)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 1000 {
				if err := b.Append(uint32(i), strings.Repeat("x", i%50)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Send(); err != nil {
				t.Fatal(err)
			}
			var n, sum uint64
			if err := conn.QueryRow(ctx, "SELECT count(), sum(length(s)) FROM "+table).Scan(&n, &sum); err != nil {
				t.Fatal(err)
			}
			if n != 1000 || sum != 24500 {
				t.Fatalf("count, sum = %d, %d; want 1000, 24500", n, sum)
			}
		})
	}

	conn := st.Conn(t, db)
	t.Run("bound parameters", func(t *testing.T) {
		evil := "x'; DROP TABLE t; --{a}"
		pctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"v": evil, "n": "41"}))
		var s string
		var n int64
		if err := conn.QueryRow(pctx, "SELECT {v:String}, {n:Int64} + 1").Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		if s != evil || n != 42 {
			t.Fatalf("got %q, %d", s, n)
		}
	})
	t.Run("exception", func(t *testing.T) {
		err := conn.Exec(ctx, "SELECT * FROM missing_table")
		var ex *clickhouse.Exception
		if !errors.As(err, &ex) || ex.Code != 60 {
			t.Fatalf("err = %v, want *clickhouse.Exception code 60", err)
		}
	})
	t.Run("deduplication token", func(t *testing.T) {
		if err := conn.Exec(ctx, "CREATE TABLE d (a UInt32) ENGINE = MergeTree ORDER BY a SETTINGS non_replicated_deduplication_window = 100"); err != nil {
			t.Fatal(err)
		}
		insert := func(token string, vals ...uint32) {
			t.Helper()
			sctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_deduplication_token": token}))
			b, err := conn.PrepareBatch(sctx, "INSERT INTO d")
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Column(0).Append(vals); err != nil {
				t.Fatal(err)
			}
			if err := b.Send(); err != nil {
				t.Fatal(err)
			}
		}
		insert("tok-1", 1, 2, 3)
		insert("tok-1", 1, 2, 3) // a retry: dropped
		insert("tok-2", 1, 2, 3) // another batch with equal rows: kept
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM d").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 6 {
			t.Fatalf("count = %d, want 6", n)
		}
		// The setting does not leak into later requests on the same session.
		var tok string
		if err := conn.QueryRow(ctx, "SELECT getSetting('insert_deduplication_token')").Scan(&tok); err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			t.Fatalf("insert_deduplication_token leaked: %q", tok)
		}
	})
	t.Run("concurrent sessions", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var got uint64
				if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT sum(number) FROM numbers(%d)", 100000+i)).Scan(&got); err != nil {
					errs <- err
					return
				}
				n := uint64(100000 + i)
				if want := n * (n - 1) / 2; got != want {
					errs <- fmt.Errorf("sum(numbers(%d)) = %d, want %d", n, got, want)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
