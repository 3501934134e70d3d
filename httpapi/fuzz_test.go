package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/httpapi"
)

// FuzzParseStatements checks that the body decoder never panics, returns
// only well-formed statements, and agrees with encoding/json.
func FuzzParseStatements(f *testing.F) {
	for _, seed := range []string{
		`["SELECT 1"]`,
		`[["INSERT INTO t VALUES(?, ?)", 1, "x"], "B"]`,
		`[["S", {"a": 1.5, ":b": null, "@c": true}]]`,
		`[["S", -0, 1e-7, 12345678901234567890, false]]`,
		`["\u00e9\ud83d\ude00\ud800", "a\\b"]`,
		`[["S", [1]], {}]`,
		`[] `,
		`[1, null]`,
		"[\"\xff\"]",
	} {
		f.Add([]byte(seed))
	}
	const max = 50
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := httpapi.ParseStatements(body, max)
		if err != nil {
			if got != nil {
				t.Fatalf("error %v with statements %v", err, got)
			}
			if errors.Is(err, httpapi.ErrInvalidJSON) && json.Valid(body) {
				t.Fatalf("valid JSON %q reported as invalid: %v", body, err)
			}
			return
		}
		if len(got) == 0 || len(got) > max {
			t.Fatalf("got %d statements", len(got))
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		for i, st := range got {
			if st.Args != nil && st.Named != nil {
				t.Fatalf("statement %d has both positional and named parameters", i)
			}
			for _, v := range st.Args {
				checkValueType(t, v)
			}
			for k, v := range st.Named {
				if k == "" {
					t.Fatalf("statement %d has an empty parameter name", i)
				}
				checkValueType(t, v)
			}
		}
		if want, ok := referenceParse(body); ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("body %q:\ngot  %#v\nwant %#v", body, got, want)
		}
	})
}

func checkValueType(t *testing.T, v any) {
	t.Helper()
	switch v.(type) {
	case nil, int64, float64, string:
	default:
		t.Fatalf("value %#v has type %T, want a SQLite storage class", v, v)
	}
}

// referenceParse decodes body with encoding/json the slow, obvious way. It
// reports false when it cannot judge: a named parameter set whose names
// collide after the prefix is stripped depends on map order.
func referenceParse(body []byte) ([]command.Statement, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var items []any
	if err := dec.Decode(&items); err != nil {
		return nil, false
	}
	var out []command.Statement
	for _, item := range items {
		switch it := item.(type) {
		case string:
			out = append(out, command.Statement{SQL: it})
		case []any:
			st := command.Statement{SQL: it[0].(string)}
			for _, p := range it[1:] {
				if m, ok := p.(map[string]any); ok {
					for k, v := range m {
						name := k
						if name[0] == ':' || name[0] == '@' || name[0] == '$' {
							name = name[1:]
						}
						if st.Named == nil {
							st.Named = map[string]any{}
						}
						if _, dup := st.Named[name]; dup {
							return nil, false
						}
						st.Named[name] = refValue(v)
					}
					continue
				}
				st.Args = append(st.Args, refValue(p))
			}
			if st.Named != nil && len(st.Named) == 0 {
				st.Named = nil
			}
			out = append(out, st)
		}
	}
	return out, true
}

func refValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case bool:
		if v {
			return int64(1)
		}
		return int64(0)
	}
	return v
}

// FuzzService_Handler sends arbitrary requests to the API: it must never
// panic, and every JSON answer must be valid JSON.
func FuzzService_Handler(f *testing.F) {
	f.Add(uint8(0), "transaction&timings", []byte(`["A", ["B", 1, "x"]]`))
	f.Add(uint8(1), "q=SELECT+1&associative&blob_array&pretty", []byte(``))
	f.Add(uint8(2), "associative&commit=off", []byte(`["SELECT 1", "INSERT INTO t VALUES (1)"]`))
	f.Add(uint8(3), "level=strong", []byte(`[["SELECT ?", {"a": 1}]]`))
	f.Add(uint8(4), "compress", []byte(nil))
	f.Add(uint8(5), "pretty", []byte(nil))
	f.Add(uint8(6), "", []byte(nil))
	store := &fakeStore{
		execResp: &command.ExecuteResponse{Results: []command.Result{
			{LastInsertID: 1, RowsAffected: 1},
			{Columns: []string{"a", "a", "B"}, Types: []string{"INT"}, Rows: [][]any{{int64(1)}, nil, {"x", []byte{1}, 2.5, 9}}},
			{Error: "bad \"thing\""},
		}, LSN: 77, GTID: gtid.GTID{Seq: 3}},
		queryRes: []command.Result{{Columns: []string{"x"}, Rows: [][]any{{nil, "y"}}}},
		backup:   []byte("SQLite format 3\x00"),
		status:   map[string]int{"a": 1},
	}
	s, err := httpapi.New(testConfig(), store)
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	targets := []struct{ method, path string }{
		{"POST", "/db/execute"}, {"GET", "/db/query"}, {"POST", "/db/request"}, {"POST", "/db/query"},
		{"GET", "/db/backup"}, {"GET", "/status"}, {"GET", "/readyz"}, {"PATCH", "/db/execute"},
	}
	f.Fuzz(func(t *testing.T, which uint8, query string, body []byte) {
		tg := targets[int(which)%len(targets)]
		req := httptest.NewRequest(tg.method, "/", bytes.NewReader(body))
		req.URL.Path = tg.path
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s?%s: 500: %s", tg.method, tg.path, query, rec.Body.String())
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s?%s: invalid JSON answer: %s", tg.method, tg.path, query, rec.Body.String())
		}
		store.mu.Lock()
		store.executes, store.queries = nil, nil
		store.mu.Unlock()
	})
}
