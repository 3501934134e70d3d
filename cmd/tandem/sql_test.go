package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/client"
)

func TestFormatTable(t *testing.T) {
	var buf bytes.Buffer
	formatTable(&buf, []string{"id", "name", "score"}, [][]any{
		{int64(1), "ada", 9.5},
		{int64(42), "grace\nhopper", nil},
	})
	want := ` id | name          | score
----+---------------+-------
  1 | ada           |   9.5
 42 | grace\nhopper | NULL
(2 rows)
`
	if got := buf.String(); got != want {
		t.Errorf("formatTable:\n%s\nwant:\n%s", got, want)
	}

	buf.Reset()
	formatTable(&buf, []string{"x"}, [][]any{{int64(1)}})
	if got, want := buf.String(), " x\n---\n 1\n(1 row)\n"; got != want {
		t.Errorf("formatTable one row = %q, want %q", got, want)
	}
}

func TestFormatWrite(t *testing.T) {
	r := client.Result{RowsAffected: 2, LastInsertID: 7}
	if got, want := formatWrite(r, "0/00000A3F", "u:7"), "OK, 2 row(s) affected, last insert id 7 (lsn 0/00000A3F, gtid u:7)"; got != want {
		t.Errorf("formatWrite = %q, want %q", got, want)
	}
	if got, want := formatWrite(client.Result{}, "", ""), "OK, 0 row(s) affected, last insert id 0"; got != want {
		t.Errorf("formatWrite(nothing written) = %q, want %q", got, want)
	}
}

func TestIsReadOnly(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"SELECT 1", true},
		{"  select * from t", true},
		{"-- comment\n/* c */ VALUES (1)", true},
		{"EXPLAIN QUERY PLAN SELECT 1", true},
		{"PRAGMA table_info(t)", true},
		{"PRAGMA foreign_keys = ON", false},
		{"WITH x AS (SELECT 1) SELECT * FROM x", true},
		{"WITH x AS (SELECT 1) SELECT 'delete' FROM x", true},
		{"WITH x AS (SELECT 1) DELETE FROM t WHERE id IN x", false},
		{"INSERT INTO t VALUES (1)", false},
		{"CREATE TABLE t(x)", false},
		{"", false},
	} {
		if got := isReadOnly(tc.q); got != tc.want {
			t.Errorf("isReadOnly(%q) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

// TestSQLCommand runs the command against a fake node and checks routing
// and output.
func TestSQLCommand(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path+"?"+r.URL.RawQuery)
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/db/query":
			io.WriteString(w, `{"results":[{"columns":["n"],"types":["integer"],"values":[[3]]}]}`)
		case strings.Contains(string(body), "bad"):
			io.WriteString(w, `{"results":[{"error":"near \"bad\": syntax error"}]}`)
		default:
			io.WriteString(w, `{"results":[{"last_insert_id":3,"rows_affected":1}],"lsn":"0/00000040","gtid":"u:3"}`)
		}
	}))
	defer srv.Close()

	cmd := sqlCommand()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"--addr", srv.URL, "--commit", "local", "--level", "strong",
		"INSERT INTO t VALUES (1)", "SELECT count(*) AS n FROM t", "bad sql"})
	err := cmd.ExecuteContext(context.Background())
	if err == nil {
		t.Errorf("error = nil, want one for the failed statement")
	}
	if got, want := strings.Join(paths, " "), "/db/execute?commit=local /db/query?level=strong /db/execute?commit=local"; got != want {
		t.Errorf("requests = %q, want %q", got, want)
	}
	if got, want := out.String(), "OK, 1 row(s) affected, last insert id 3 (lsn 0/00000040, gtid u:3)\n n\n---\n 3\n(1 row)\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := errOut.String(), "error: near \"bad\": syntax error\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}
