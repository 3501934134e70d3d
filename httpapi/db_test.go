package httpapi_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
)

var testUUID = gtid.UUID{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

func writeResp() *command.ExecuteResponse {
	return &command.ExecuteResponse{
		Results: []command.Result{
			{LastInsertID: 1, RowsAffected: 1, Seconds: 0.25},
			{Error: "UNIQUE constraint failed: t.id", Seconds: 0.5},
		},
		LSN:  lsn.LSN(0xA3F),
		GTID: gtid.GTID{Origin: testUUID, Seq: 7},
	}
}

func TestService_ExecuteShape(t *testing.T) {
	store := &fakeStore{execResp: writeResp()}
	h := newHandler(t, store)
	rec := do(t, h, "POST", "/db/execute", `["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)"]`)
	checkStatus(t, rec, http.StatusOK, "")
	got := rec.Body.String()
	want := `{"results":[{"last_insert_id":1,"rows_affected":1},{"error":"UNIQUE constraint failed: t.id"}],` +
		`"lsn":"0/00000A3F","gtid":"6ba7b810-9dad-11d1-80b4-00c04fd430c8:7"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := rec.Header().Get("Content-Type"), "application/json; charset=utf-8"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
}

func TestService_ExecuteTimings(t *testing.T) {
	store := &fakeStore{execResp: writeResp()}
	h := newHandler(t, store)
	rec := do(t, h, "POST", "/db/execute?timings", `["A", "B"]`)
	checkStatus(t, rec, http.StatusOK, "")
	body := rec.Body.String()
	for _, sub := range []string{`"rows_affected":1,"time":0.25}`, `"error":"UNIQUE constraint failed: t.id","time":0.5}`, `,"time":`} {
		if !strings.Contains(body, sub) {
			t.Errorf("body %s does not contain %s", body, sub)
		}
	}
}

func TestService_ExecuteNothingWritten(t *testing.T) {
	store := &fakeStore{execResp: &command.ExecuteResponse{Results: []command.Result{{}}}}
	h := newHandler(t, store)
	rec := do(t, h, "POST", "/db/execute", `["UPDATE t SET a = 1 WHERE 0"]`)
	checkStatus(t, rec, http.StatusOK, "")
	if got, want := rec.Body.String(), `{"results":[{}]}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestService_ExecuteParams(t *testing.T) {
	tests := []struct {
		query  string
		tx     bool
		commit command.CommitLevel
	}{
		{"", false, command.CommitLocal},
		{"?transaction", true, command.CommitLocal},
		{"?transaction=true&commit=remote_apply", true, command.CommitRemoteApply},
		{"?transaction=false&commit=off", false, command.CommitOff},
		{"?commit=REMOTE_FLUSH&wait&redirect", false, command.CommitRemoteFlush},
		{"?commit=remote_write", false, command.CommitRemoteWrite},
	}
	for _, tt := range tests {
		store := &fakeStore{execResp: &command.ExecuteResponse{}}
		h := newHandler(t, store)
		rec := do(t, h, "POST", "/db/execute"+tt.query, `["A"]`)
		checkStatus(t, rec, http.StatusOK, "")
		req := store.lastExecute(t)
		if got, want := req.Transaction, tt.tx; got != want {
			t.Errorf("%s: Transaction: got %v, want %v", tt.query, got, want)
		}
		if got, want := req.Commit, tt.commit; got != want {
			t.Errorf("%s: Commit: got %v, want %v", tt.query, got, want)
		}
	}
}

func TestService_ExecuteStatements(t *testing.T) {
	store := &fakeStore{execResp: &command.ExecuteResponse{}}
	h := newHandler(t, store)
	body := `["CREATE TABLE t (a, b)", ["INSERT INTO t VALUES (?, ?)", 5, 2.5], ["INSERT INTO t VALUES (:a, :b)", {"a": "x", "b": null}]]`
	checkStatus(t, do(t, h, "POST", "/db/execute", body), http.StatusOK, "")
	got := store.lastExecute(t).Statements
	want := []command.Statement{
		{SQL: "CREATE TABLE t (a, b)"},
		{SQL: "INSERT INTO t VALUES (?, ?)", Args: []any{int64(5), 2.5}},
		{SQL: "INSERT INTO t VALUES (:a, :b)", Named: map[string]any{"a": "x", "b": nil}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestService_ExecuteBadRequests(t *testing.T) {
	tests := []struct {
		name, target, body string
		sub                string
	}{
		{"bad commit", "/db/execute?commit=sometimes", `["A"]`, "local, off, remote_write, remote_flush, remote_apply"},
		{"bad flag", "/db/execute?transaction=maybe", `["A"]`, "transaction=true or transaction=false"},
		{"bad timeout", "/db/execute?timeout=soon", `["A"]`, "positive Go duration"},
		{"queue", "/db/execute?queue", `["A"]`, "queued writes are not supported"},
		{"empty list", "/db/execute", `[]`, "no statements"},
		{"empty body", "/db/execute", ``, "no statements"},
		{"malformed", "/db/execute", `["A",`, "invalid JSON at byte 5"},
		{"nested garbage", "/db/execute", `[["A", [[[{}]]]]]`, "parameter 1 is a JSON array"},
		{"not statements", "/db/execute", `{"a":1}`, "JSON array of statements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{execResp: &command.ExecuteResponse{}}
			rec := do(t, newHandler(t, store), "POST", tt.target, tt.body)
			checkStatus(t, rec, http.StatusBadRequest, tt.sub)
			if n, _ := store.calls(); n != 0 {
				t.Errorf("Store.Execute called %d times, want 0", n)
			}
		})
	}
}

func TestService_ExecuteReturnsRows(t *testing.T) {
	store := &fakeStore{execResp: &command.ExecuteResponse{Results: []command.Result{
		{RowsAffected: 1, LastInsertID: 3},
		{Columns: []string{"id", "name"}, Types: []string{"INTEGER", "TEXT"}, Rows: [][]any{{int64(3), "fiona"}}},
	}, LSN: 100, GTID: gtid.GTID{Origin: testUUID, Seq: 1}}}
	h := newHandler(t, store)
	rec := do(t, h, "POST", "/db/execute", `["INSERT INTO t(name) VALUES ('fiona')", "SELECT * FROM t"]`)
	checkStatus(t, rec, http.StatusOK, "")
	checkJSON(t, rec.Body.String(), `{"results":[{"last_insert_id":3,"rows_affected":1},
		{"columns":["id","name"],"types":["integer","text"],"values":[[3,"fiona"]]}],
		"lsn":"0/00000064","gtid":"6ba7b810-9dad-11d1-80b4-00c04fd430c8:1"}`)
}

func TestService_QueryShape(t *testing.T) {
	store := &fakeStore{queryRes: []command.Result{
		{Columns: []string{"id", "name", "score", "data", "nothing"}, Types: []string{"INTEGER", "Text", "real", "BLOB", ""},
			Rows: [][]any{{int64(1), "fiona", 2.5, []byte("hi"), nil}, {int64(2), "<b>&\"\n", 1e21, []byte{}, nil}}},
		{Columns: []string{"id"}, Types: []string{"integer"}},
		{Error: "no such table: foo"},
	}}
	h := newHandler(t, store)
	rec := do(t, h, "GET", "/db/query?q=SELECT+*+FROM+t", "")
	checkStatus(t, rec, http.StatusOK, "")
	want := `{"results":[{"columns":["id","name","score","data","nothing"],"types":["integer","text","real","blob",""],` +
		`"values":[[1,"fiona",2.5,"aGk=",null],[2,"<b>&\"\n",1e+21,"",null]]},` +
		`{"columns":["id"],"types":["integer"]},{"error":"no such table: foo"}]}`
	if got := rec.Body.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	req := store.lastQuery(t)
	if got, want := req.Statements, []command.Statement{{SQL: "SELECT * FROM t"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("statements: got %v, want %v", got, want)
	}
	if got, want := req.Level, command.ReadWeak; got != want {
		t.Errorf("level: got %v, want %v", got, want)
	}
}

func TestService_QueryBlobArray(t *testing.T) {
	store := &fakeStore{queryRes: []command.Result{
		{Columns: []string{"b"}, Types: []string{"blob"}, Rows: [][]any{{[]byte{0, 1, 255}}}},
	}}
	h := newHandler(t, store)
	rec := do(t, h, "GET", "/db/query?q=SELECT+b+FROM+t&blob_array", "")
	checkStatus(t, rec, http.StatusOK, "")
	if got, want := rec.Body.String(), `{"results":[{"columns":["b"],"types":["blob"],"values":[[[0,1,255]]]}]}`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestService_QueryAssociative(t *testing.T) {
	store := &fakeStore{queryRes: []command.Result{
		{Columns: []string{"name", "id"}, Types: []string{"TEXT", "INTEGER"}, Rows: [][]any{{"fiona", int64(1)}, {"declan", int64(2)}}},
		{Columns: []string{"id"}, Types: []string{"integer"}},
		{Error: "no such table: foo"},
	}}
	h := newHandler(t, store)
	rec := do(t, h, "POST", "/db/query?associative&timings", `["SELECT name, id FROM t", "SELECT id FROM t WHERE 0", "SELECT * FROM foo"]`)
	checkStatus(t, rec, http.StatusOK, "")
	body := rec.Body.String()
	if !strings.HasPrefix(body, `{"results":[{"types":{"id":"integer","name":"text"},"rows":[{"id":1,"name":"fiona"},{"id":2,"name":"declan"}],"time":0},`) {
		t.Errorf("associative rows: got %s", body)
	}
	if !strings.Contains(body, `{"types":{"id":"integer"},"rows":[],"time":0}`) {
		t.Errorf("empty associative result: got %s", body)
	}
	if !strings.Contains(body, `{"error":"no such table: foo","time":0}`) {
		t.Errorf("error slot: got %s", body)
	}
}

func TestService_QueryParams(t *testing.T) {
	tests := []struct {
		query string
		level command.ReadLevel
		tx    bool
	}{
		{"", command.ReadWeak, false},
		{"?level=none", command.ReadNone, false},
		{"?level=weak&transaction", command.ReadWeak, true},
		{"?level=strong", command.ReadStrong, false},
		{"?level=linearizable", command.ReadStrong, false},
	}
	for _, tt := range tests {
		store := &fakeStore{}
		h := newHandler(t, store)
		checkStatus(t, do(t, h, "POST", "/db/query"+tt.query, `["SELECT 1"]`), http.StatusOK, "")
		req := store.lastQuery(t)
		if got, want := req.Level, tt.level; got != want {
			t.Errorf("%s: level: got %v, want %v", tt.query, got, want)
		}
		if got, want := req.Transaction, tt.tx; got != want {
			t.Errorf("%s: transaction: got %v, want %v", tt.query, got, want)
		}
	}
}

func TestService_QueryReadLevels(t *testing.T) {
	for _, tt := range []struct {
		query  string
		level  command.ReadLevel
		maxLag time.Duration
		minLSN lsn.LSN
	}{
		{"?level=bounded&max_lag=2s", command.ReadBounded, 2 * time.Second, 0},
		{"?freshness=500ms", command.ReadBounded, 500 * time.Millisecond, 0},
		{"?level=none&min_lsn=0/00001A00", command.ReadNone, 0, 0x1A00},
	} {
		store := &fakeStore{}
		h := newHandler(t, store)
		checkStatus(t, do(t, h, "POST", "/db/query"+tt.query, `["SELECT 1"]`), http.StatusOK, "")
		req := store.lastQuery(t)
		if req.Level != tt.level || req.MaxLag != tt.maxLag || req.MinLSN != tt.minLSN {
			t.Errorf("%s: got level %v max_lag %v min_lsn %v", tt.query, req.Level, req.MaxLag, req.MinLSN)
		}
	}
}

func TestService_QueryBadRequests(t *testing.T) {
	h := newHandler(t, &fakeStore{})
	checkStatus(t, do(t, h, "GET", "/db/query?level=eventual&q=SELECT+1", ""), http.StatusBadRequest, "weak, none, strong")
	checkStatus(t, do(t, h, "GET", "/db/query", ""), http.StatusBadRequest, "missing query")
	checkStatus(t, do(t, h, "GET", "/db/query?q=", ""), http.StatusBadRequest, "missing query")
	checkStatus(t, do(t, h, "GET", "/db/query?q=SELECT+1&level=bounded", ""), http.StatusBadRequest, "needs max_lag")
	checkStatus(t, do(t, h, "GET", "/db/query?q=SELECT+1&level=strong&max_lag=1s", ""), http.StatusBadRequest, "applies to level=bounded")
	checkStatus(t, do(t, h, "GET", "/db/query?q=SELECT+1&min_lsn=zz", ""), http.StatusBadRequest, "min_lsn")
	checkStatus(t, do(t, h, "GET", "/db/query?q=SELECT+1&max_lag=-1s", ""), http.StatusBadRequest, "max_lag")
	checkStatus(t, do(t, h, "GET", "/db/query?q=%zz", ""), http.StatusBadRequest, "malformed")
}

func TestService_Pretty(t *testing.T) {
	store := &fakeStore{queryRes: []command.Result{{Columns: []string{"a"}, Types: []string{"integer"}, Rows: [][]any{{int64(1)}}}}}
	h := newHandler(t, store)
	rec := do(t, h, "GET", "/db/query?q=SELECT+1&pretty", "")
	checkStatus(t, rec, http.StatusOK, "")
	want := "{\n    \"results\": [\n        {\n            \"columns\": [\n                \"a\"\n            ],\n" +
		"            \"types\": [\n                \"integer\"\n            ],\n            \"values\": [\n" +
		"                [\n                    1\n                ]\n            ]\n        }\n    ]\n}"
	if got := rec.Body.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestService_RequestRouting(t *testing.T) {
	t.Run("read only goes to Query", func(t *testing.T) {
		store := &fakeStore{queryRes: []command.Result{{Columns: []string{"a"}, Types: []string{"integer"}}}}
		h := newHandler(t, store)
		rec := do(t, h, "POST", "/db/request?level=strong", `["SELECT 1", ["VALUES (?)", 1]]`)
		checkStatus(t, rec, http.StatusOK, "")
		if e, q := store.calls(); e != 0 || q != 1 {
			t.Fatalf("calls: got %d executes, %d queries; want 0, 1", e, q)
		}
		if got, want := store.lastQuery(t).Level, command.ReadStrong; got != want {
			t.Errorf("level: got %v, want %v", got, want)
		}
	})
	t.Run("mixed goes to Execute", func(t *testing.T) {
		store := &fakeStore{execResp: &command.ExecuteResponse{Results: []command.Result{
			{Columns: []string{"a"}, Types: []string{"integer"}, Rows: [][]any{{int64(1)}}},
			{LastInsertID: 2, RowsAffected: 1},
		}, LSN: 1, GTID: gtid.GTID{Origin: testUUID, Seq: 2}}}
		h := newHandler(t, store)
		rec := do(t, h, "POST", "/db/request?transaction&commit=remote_flush", `["SELECT 1", "INSERT INTO t VALUES (2)"]`)
		checkStatus(t, rec, http.StatusOK, "")
		if e, q := store.calls(); e != 1 || q != 0 {
			t.Fatalf("calls: got %d executes, %d queries; want 1, 0", e, q)
		}
		req := store.lastExecute(t)
		if !req.Transaction || req.Commit != command.CommitRemoteFlush {
			t.Errorf("request: got transaction %v commit %v", req.Transaction, req.Commit)
		}
		checkJSON(t, rec.Body.String(), `{"results":[{"columns":["a"],"types":["integer"],"values":[[1]]},
			{"last_insert_id":2,"rows_affected":1}],"lsn":"0/00000001","gtid":"6ba7b810-9dad-11d1-80b4-00c04fd430c8:2"}`)
	})
	t.Run("associative write results carry null rows", func(t *testing.T) {
		store := &fakeStore{execResp: &command.ExecuteResponse{Results: []command.Result{
			{LastInsertID: 2, RowsAffected: 1},
			{Columns: []string{"a"}, Types: []string{"integer"}, Rows: [][]any{{int64(1)}}},
		}}}
		h := newHandler(t, store)
		rec := do(t, h, "POST", "/db/request?associative", `["INSERT INTO t VALUES (2)", "SELECT a FROM t"]`)
		checkStatus(t, rec, http.StatusOK, "")
		want := `{"results":[{"last_insert_id":2,"rows_affected":1,"rows":null},{"types":{"a":"integer"},"rows":[{"a":1}]}]}`
		if got := rec.Body.String(); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
}

func TestService_StoreErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
	}{
		{"plain", errBoom, http.StatusInternalServerError},
		{"status", &statusError{code: http.StatusServiceUnavailable, msg: "not the primary"}, http.StatusServiceUnavailable},
		{"wrapped status", wrap(&statusError{code: http.StatusConflict, msg: "fenced"}), http.StatusConflict},
		{"bogus status", &statusError{code: 200, msg: "odd"}, http.StatusInternalServerError},
		{"deadline", context.DeadlineExceeded, http.StatusGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, &fakeStore{execErr: tt.err, queryErr: tt.err})
			checkStatus(t, do(t, h, "POST", "/db/execute", `["A"]`), tt.code, tt.err.Error())
			checkStatus(t, do(t, h, "GET", "/db/query?q=SELECT+1", ""), tt.code, tt.err.Error())
		})
	}
}

func wrap(err error) error { return &wrapped{err} }

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "wrapped: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func TestService_Timeout(t *testing.T) {
	store := &fakeStore{execFn: func(ctx context.Context, _ *command.ExecuteRequest) (*command.ExecuteResponse, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	h := newHandler(t, store)
	checkStatus(t, do(t, h, "POST", "/db/execute?timeout=10ms", `["A"]`), http.StatusGatewayTimeout, "deadline exceeded")
}

func TestService_Panic(t *testing.T) {
	h := newHandler(t, &fakeStore{panicMsg: "store bug"})
	checkStatus(t, do(t, h, "POST", "/db/execute", `["A"]`), http.StatusInternalServerError, "internal error")
}
