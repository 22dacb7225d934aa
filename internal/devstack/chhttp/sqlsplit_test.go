package chhttp

import "testing"

func TestSplitInsert(t *testing.T) {
	tests := []struct {
		name   string
		give   string
		wantOK bool
		want   insertData
	}{
		{name: "format with newline", give: "INSERT INTO t (a, b) FORMAT Native\n\x00\x01",
			wantOK: true, want: insertData{stmt: "INSERT INTO t (a, b)", format: "Native", data: "\x00\x01"}},
		{name: "format keeps leading data blanks after newline", give: "insert into t format TSV\n 1\t2\n",
			wantOK: true, want: insertData{stmt: "insert into t", format: "TSV", data: " 1\t2\n"}},
		{name: "format at end", give: "INSERT INTO db.t FORMAT RowBinary",
			wantOK: true, want: insertData{stmt: "INSERT INTO db.t", format: "RowBinary"}},
		{name: "settings before format", give: "INSERT INTO t SETTINGS insert_deduplication_token='FORMAT x' FORMAT Native",
			wantOK: true, want: insertData{stmt: "INSERT INTO t SETTINGS insert_deduplication_token='FORMAT x'", format: "Native"}},
		{name: "values", give: "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
			wantOK: true, want: insertData{stmt: "INSERT INTO t", format: "Values", data: " (1, 'a'), (2, 'b')"}},
		{name: "comment first", give: "-- load\n/* x */ INSERT INTO `format` FORMAT CSV\n1\n",
			wantOK: true, want: insertData{stmt: "-- load\n/* x */ INSERT INTO `format`", format: "CSV", data: "1\n"}},
		{name: "column named values in parens", give: "INSERT INTO t (values, format) FORMAT JSONEachRow {}",
			wantOK: true, want: insertData{stmt: "INSERT INTO t (values, format)", format: "JSONEachRow", data: "{}"}},
		{name: "insert select", give: "INSERT INTO t SELECT * FROM s FORMAT Native", wantOK: false},
		{name: "insert with cte", give: "INSERT INTO t WITH 1 AS x SELECT x", wantOK: false},
		{name: "select", give: "SELECT 1 FORMAT Native", wantOK: false},
		{name: "ddl", give: "CREATE TABLE t (values String) ENGINE = Memory", wantOK: false},
		{name: "format without name", give: "INSERT INTO t FORMAT", wantOK: false},
		{name: "unterminated string", give: "INSERT INTO t SETTINGS x='", wantOK: false},
		{name: "empty", give: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := splitInsert(tt.give)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v (got %+v)", ok, tt.wantOK, got)
			}
			if ok && got != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func FuzzSplitInsert(f *testing.F) {
	for _, s := range []string{"INSERT INTO t FORMAT Native\n\x00", "INSERT INTO t VALUES (1)", "SELECT 1", "INSERT '", "INSERT /*", "INSERT (((", "#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := splitInsert(s)
		if !ok {
			return
		}
		if len(got.stmt) > len(s) || len(got.data) > len(s) {
			t.Fatalf("split longer than input: %+v", got)
		}
	})
}

func TestHelloBlock(t *testing.T) {
	s := &Server{hello: helloInfo{displayName: "vm", version: "26.7.2.1", timezone: "UTC"}}
	got := s.helloBlock()
	// block info (1, 0, 2, -1, 0), 4 columns, 1 row, then the first column.
	wantPrefix := []byte{1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0, 4, 1, 13}
	if string(got[:len(wantPrefix)]) != string(wantPrefix) {
		t.Fatalf("prefix % x, want % x", got[:len(wantPrefix)], wantPrefix)
	}
	wantTail := "\x0atimezone()\x06String\x00\x03UTC"
	if string(got[len(got)-len(wantTail):]) != wantTail {
		t.Fatalf("tail %q, want %q", got[len(got)-len(wantTail):], wantTail)
	}
}
