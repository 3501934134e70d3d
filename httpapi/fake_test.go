package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/httpapi"
)

// fakeStore records requests and returns canned answers.
type fakeStore struct {
	mu       sync.Mutex
	executes []*command.ExecuteRequest
	queries  []*command.QueryRequest

	execResp *command.ExecuteResponse
	execErr  error
	// execFn, when set, answers Execute instead of execResp/execErr.
	execFn    func(ctx context.Context, req *command.ExecuteRequest) (*command.ExecuteResponse, error)
	queryRes  []command.Result
	queryErr  error
	backup    []byte
	backupErr error
	status    any
	statusErr error
	readyErr  error
	panicMsg  string
}

var _ httpapi.Store = (*fakeStore)(nil)

func (f *fakeStore) Execute(ctx context.Context, req *command.ExecuteRequest) (*command.ExecuteResponse, error) {
	f.mu.Lock()
	f.executes = append(f.executes, req)
	fn := f.execFn
	f.mu.Unlock()
	if f.panicMsg != "" {
		panic(f.panicMsg)
	}
	if fn != nil {
		return fn(ctx, req)
	}
	return f.execResp, f.execErr
}

func (f *fakeStore) Query(ctx context.Context, req *command.QueryRequest) ([]command.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, req)
	return f.queryRes, f.queryErr
}

func (f *fakeStore) Backup(ctx context.Context, w io.Writer) error {
	if len(f.backup) > 0 {
		if _, err := w.Write(f.backup); err != nil {
			return err
		}
	}
	return f.backupErr
}

func (f *fakeStore) Status(ctx context.Context) (any, error) { return f.status, f.statusErr }
func (f *fakeStore) Ready(ctx context.Context) error         { return f.readyErr }

func (f *fakeStore) lastExecute(t *testing.T) *command.ExecuteRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.executes) == 0 {
		t.Fatal("Store.Execute was not called")
	}
	return f.executes[len(f.executes)-1]
}

func (f *fakeStore) lastQuery(t *testing.T) *command.QueryRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queries) == 0 {
		t.Fatal("Store.Query was not called")
	}
	return f.queries[len(f.queries)-1]
}

func (f *fakeStore) calls() (executes, queries int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.executes), len(f.queries)
}

// statusError is a Store error that knows its HTTP status.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string   { return e.msg }
func (e *statusError) HTTPStatus() int { return e.code }

var errBoom = errors.New("boom")

// newHandler returns the API over store with the default config.
func newHandler(t *testing.T, store httpapi.Store) http.Handler {
	t.Helper()
	return newHandlerConfig(t, httpapi.DefaultConfig(), store)
}

func newHandlerConfig(t *testing.T, cfg httpapi.Config, store httpapi.Store) http.Handler {
	t.Helper()
	cfg.Logger = nil
	s, err := httpapi.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s.Handler()
}

// do sends one request to h and returns the recorded response.
func do(t *testing.T, h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkJSON fails unless got and want hold the same JSON value.
func checkJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// checkStatus fails unless rec has status code and, if errSub is not
// empty, an {"error"} body containing it.
func checkStatus(t *testing.T, rec *httptest.ResponseRecorder, code int, errSub string) {
	t.Helper()
	if got, want := rec.Code, code; got != want {
		t.Fatalf("status: got %d, want %d; body %s", got, want, rec.Body.String())
	}
	if errSub == "" {
		return
	}
	var body struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, rec.Body.String())
	}
	if !strings.Contains(body.Error, errSub) {
		t.Errorf("error: got %q, want it to contain %q", body.Error, errSub)
	}
	if got, want := rec.Header().Get("Content-Type"), "application/json; charset=utf-8"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
}

func testConfig() httpapi.Config {
	cfg := httpapi.DefaultConfig()
	cfg.Logger = nil
	return cfg
}

func newService(cfg httpapi.Config, store httpapi.Store) (*httpapi.Service, error) {
	return httpapi.New(cfg, store)
}
