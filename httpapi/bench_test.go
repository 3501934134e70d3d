package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/gtid"
)

func BenchmarkService_Execute(b *testing.B) {
	store := &fakeStore{execResp: &command.ExecuteResponse{
		Results: []command.Result{{LastInsertID: 42, RowsAffected: 1}},
		LSN:     12345,
		GTID:    gtid.GTID{Origin: testUUID, Seq: 99},
	}}
	cfg := testConfig()
	s, err := newService(cfg, store)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	body := `[["INSERT INTO foo(name, age, score) VALUES(?, ?, ?)", "fiona", 20, 2.5]]`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/db/execute", strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Body.String())
		}
		store.executes = store.executes[:0]
	}
}

func BenchmarkService_Query(b *testing.B) {
	rows := make([][]any, 100)
	for i := range rows {
		rows[i] = []any{int64(i), "some name here", 3.25, nil}
	}
	store := &fakeStore{queryRes: []command.Result{{
		Columns: []string{"id", "name", "score", "x"}, Types: []string{"integer", "text", "real", "blob"}, Rows: rows,
	}}}
	s, err := newService(testConfig(), store)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/db/query?q=SELECT+*+FROM+foo", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Body.String())
		}
		store.queries = store.queries[:0]
	}
}
