package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// seen is what the fake server saw of one request.
type seen struct {
	method, path, rawQuery string
	body                   []any
}

// newFake starts a server that records each request into *got and answers
// with status and reply, and returns a Client for it.
func newFake(t *testing.T, got *seen, status int, reply string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*got = seen{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery}
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(b, &got.body); err != nil {
				t.Errorf("request body %q is not a JSON array: %v", b, err)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, reply)
	}))
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); srv.Close() })
	return c
}

func TestStatement_MarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		in   Statement
		want string
	}{
		{Statement{SQL: "SELECT 1"}, `"SELECT 1"`},
		{Statement{SQL: "INSERT INTO t VALUES(?, ?)", Args: []any{1, "a"}}, `["INSERT INTO t VALUES(?, ?)",1,"a"]`},
		{Statement{SQL: "SELECT :x", Named: map[string]any{"x": nil}}, `["SELECT :x",{"x":null}]`},
	} {
		b, err := json.Marshal(tc.in)
		if got := string(b); err != nil || got != tc.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	_, err := json.Marshal(Statement{SQL: "x", Args: []any{1}, Named: map[string]any{"a": 1}})
	if !errors.Is(err, ErrBothParams) {
		t.Errorf("Marshal(both params) error = %v, want ErrBothParams", err)
	}
}

func TestClient_Execute(t *testing.T) {
	var got seen
	c := newFake(t, &got, 200, `{"results":[{"last_insert_id":7,"rows_affected":1},{"rows_affected":3}],"lsn":"0/00000A3F","gtid":"u:7"}`)
	resp, err := c.Execute(context.Background(), []Statement{
		{SQL: "INSERT INTO t(v) VALUES(?)", Args: []any{"x"}},
		{SQL: "UPDATE t SET v = 1"},
	}, ExecOptions{Transaction: true, Commit: "remote_apply"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := got.method+" "+got.path+"?"+got.rawQuery, "POST /db/execute?transaction&commit=remote_apply"; got != want {
		t.Errorf("request = %q, want %q", got, want)
	}
	if got, want := got.body, []any{[]any{"INSERT INTO t(v) VALUES(?)", "x"}, "UPDATE t SET v = 1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("body = %#v, want %#v", got, want)
	}
	want := []Result{{LastInsertID: 7, RowsAffected: 1}, {RowsAffected: 3}}
	if !reflect.DeepEqual(resp.Results, want) {
		t.Errorf("results = %+v, want %+v", resp.Results, want)
	}
	if resp.LSN != "0/00000A3F" || resp.GTID != "u:7" {
		t.Errorf("lsn, gtid = %q, %q; want 0/00000A3F, u:7", resp.LSN, resp.GTID)
	}
	if err := resp.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
	if !strings.Contains(string(resp.Raw), `"gtid":"u:7"`) {
		t.Errorf("Raw = %s, want the body", resp.Raw)
	}
}

func TestClient_Execute_noParams(t *testing.T) {
	var got seen
	c := newFake(t, &got, 200, `{"results":[]}`)
	if _, err := c.Execute(context.Background(), SQL("CREATE TABLE t(x)"), ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	if got.rawQuery != "" {
		t.Errorf("query = %q, want none", got.rawQuery)
	}
}

func TestExecuteResponse_Err(t *testing.T) {
	var got seen
	c := newFake(t, &got, 200, `{"results":[{"rows_affected":1},{"error":"UNIQUE constraint failed: t.id"}]}`)
	resp, err := c.Execute(context.Background(), SQL("a", "b"), ExecOptions{})
	if err != nil {
		t.Fatalf("Execute error = %v; a statement error must not be a Go error", err)
	}
	var se *StatementError
	if !errors.As(resp.Err(), &se) {
		t.Fatalf("Err() = %v, want *StatementError", resp.Err())
	}
	if got, want := *se, (StatementError{Index: 1, Message: "UNIQUE constraint failed: t.id"}); got != want {
		t.Errorf("Err() = %+v, want %+v", got, want)
	}
}

func TestClient_Query(t *testing.T) {
	var got seen
	c := newFake(t, &got, 200, `{"results":[{"columns":["id","k","f","n"],"types":["integer","text","real",""],`+
		`"values":[[1,"a",1.5,null],[9007199254740993,"b",2,null]]}]}`)
	resp, err := c.Query(context.Background(), []Statement{{SQL: "SELECT * FROM t WHERE id > ?", Args: []any{0}}}, QueryOptions{Level: "strong"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := got.method+" "+got.path+"?"+got.rawQuery, "POST /db/query?level=strong"; got != want {
		t.Errorf("request = %q, want %q", got, want)
	}
	r := resp.Results[0]
	if got, want := r.Columns, []string{"id", "k", "f", "n"}; !reflect.DeepEqual(got, want) {
		t.Errorf("columns = %v, want %v", got, want)
	}
	// Integers stay exact int64 (2^53+1 would not survive float64); 2 is
	// an integer too, even in a real column: JSON does not say otherwise.
	want := [][]any{{int64(1), "a", 1.5, nil}, {int64(9007199254740993), "b", int64(2), nil}}
	if !reflect.DeepEqual(r.Values, want) {
		t.Errorf("values = %#v, want %#v", r.Values, want)
	}
}

func TestClient_Request(t *testing.T) {
	var got seen
	c := newFake(t, &got, 200, `{"results":[{"columns":["x"],"values":[[1]]},{"rows_affected":1}],"lsn":"0/00000010"}`)
	resp, err := c.Request(context.Background(), SQL("SELECT 1", "DELETE FROM t"), RequestOptions{Commit: "local", Level: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := got.path+"?"+got.rawQuery, "/db/request?commit=local&level=none"; got != want {
		t.Errorf("request = %q, want %q", got, want)
	}
	if got, want := len(resp.Results), 2; got != want {
		t.Fatalf("results = %d, want %d", got, want)
	}
	if resp.LSN != "0/00000010" {
		t.Errorf("lsn = %q, want 0/00000010", resp.LSN)
	}
}

func TestClient_httpError(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		status      int
		want        string
	}{
		{"json", `{"error":"not the primary: try 10.0.0.2:4001"}`, 503, "not the primary: try 10.0.0.2:4001"},
		{"text", "bad things\n", 500, "bad things"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got seen
			c := newFake(t, &got, tc.status, tc.reply)
			_, err := c.Execute(context.Background(), SQL("x"), ExecOptions{})
			var he *HTTPError
			if !errors.As(err, &he) {
				t.Fatalf("error = %v, want *HTTPError", err)
			}
			if he.StatusCode != tc.status || he.Message != tc.want {
				t.Errorf("HTTPError = %d %q, want %d %q", he.StatusCode, he.Message, tc.status, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "HTTP ") {
				t.Errorf("Error() = %q, want the status and %q", err, tc.want)
			}
		})
	}
}

func TestClient_Status(t *testing.T) {
	var got seen
	c := newFake(t, &got, 200, `{"node":{"id":"n1","role":"primary"}}`)
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.method != "GET" || got.path != "/status" {
		t.Errorf("request = %s %s, want GET /status", got.method, got.path)
	}
	if got, want := st["node"].(map[string]any)["role"], "primary"; got != want {
		t.Errorf("role = %v, want %v", got, want)
	}
}

func TestClient_Ready(t *testing.T) {
	var got seen
	if err := newFake(t, &got, 200, "ok").Ready(context.Background()); err != nil || got.path != "/readyz" {
		t.Errorf("Ready() = %v (path %s), want nil (/readyz)", err, got.path)
	}
	err := newFake(t, &got, 503, `{"error":"replaying log"}`).Ready(context.Background())
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != 503 || he.Message != "replaying log" {
		t.Errorf("Ready() = %v, want HTTP 503 replaying log", err)
	}
}

// TestClient_keepAlive checks that sequential requests share one connection.
func TestClient_keepAlive(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"results":[]}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	c, err := New(srv.URL, WithMaxConns(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); srv.Close() })
	for range 20 {
		if _, err := c.Query(context.Background(), SQL("SELECT 1"), QueryOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := conns.Load(), int64(1); got != want {
		t.Errorf("connections = %d, want %d", got, want)
	}
}

func TestNew_addr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:4001", "http://127.0.0.1:4001"},
		{"http://db:4001/", "http://db:4001"},
		{"https://db.example.com/tandem", "https://db.example.com/tandem"},
	} {
		c, err := New(tc.in)
		if err != nil {
			t.Errorf("New(%q) error = %v", tc.in, err)
			continue
		}
		if got := c.URL(); got != tc.want {
			t.Errorf("New(%q).URL() = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "ftp://x", "http://"} {
		if _, err := New(bad); !errors.Is(err, ErrBadAddr) {
			t.Errorf("New(%q) error = %v, want ErrBadAddr", bad, err)
		}
	}
}
