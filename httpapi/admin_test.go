package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/httpapi"
)

func TestService_Readyz(t *testing.T) {
	h := newHandler(t, &fakeStore{})
	rec := do(t, h, "GET", "/readyz", "")
	if got, want := rec.Code, http.StatusOK; got != want {
		t.Fatalf("status: got %d, want %d", got, want)
	}
	if got, want := rec.Body.String(), "[+]node ok"; got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}

	h = newHandler(t, &fakeStore{readyErr: errors.New("applier is catching up")})
	rec = do(t, h, "GET", "/readyz", "")
	if got, want := rec.Code, http.StatusServiceUnavailable; got != want {
		t.Fatalf("status: got %d, want %d", got, want)
	}
	if got, want := rec.Body.String(), "[-]node not ready: applier is catching up"; got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}
}

func TestService_Status(t *testing.T) {
	st := map[string]any{"node": map[string]any{"id": "n1"}, "lsn": "0/00000010"}
	h := newHandler(t, &fakeStore{status: st})
	rec := do(t, h, "GET", "/status", "")
	checkStatus(t, rec, http.StatusOK, "")
	if got, want := rec.Body.String(), `{"lsn":"0/00000010","node":{"id":"n1"}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	rec = do(t, h, "GET", "/status?pretty", "")
	want := "{\n    \"lsn\": \"0/00000010\",\n    \"node\": {\n        \"id\": \"n1\"\n    }\n}"
	if got := rec.Body.String(); got != want {
		t.Errorf("pretty: got\n%s\nwant\n%s", got, want)
	}

	h = newHandler(t, &fakeStore{statusErr: &statusError{code: 503, msg: "closing"}})
	checkStatus(t, do(t, h, "GET", "/status", ""), http.StatusServiceUnavailable, "closing")
	h = newHandler(t, &fakeStore{status: func() {}})
	checkStatus(t, do(t, h, "GET", "/status", ""), http.StatusInternalServerError, "encode status")
}

func TestService_Backup(t *testing.T) {
	data := bytes.Repeat([]byte("SQLite format 3\x00"), 1000)
	h := newHandler(t, &fakeStore{backup: data})

	rec := do(t, h, "GET", "/db/backup", "")
	if got, want := rec.Code, http.StatusOK; got != want {
		t.Fatalf("status: got %d, want %d", got, want)
	}
	if got, want := rec.Header().Get("Content-Type"), "application/octet-stream"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
	if !bytes.Equal(rec.Body.Bytes(), data) {
		t.Errorf("body: got %d bytes, want the %d backup bytes", rec.Body.Len(), len(data))
	}

	rec = do(t, h, "GET", "/db/backup?compress", "")
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("gunzipped body: got %d bytes, want the %d backup bytes", len(got), len(data))
	}

	checkStatus(t, do(t, h, "GET", "/db/backup?fmt=sql", ""), http.StatusBadRequest, "not supported yet, use the binary backup")
	checkStatus(t, do(t, h, "GET", "/db/backup?fmt=csv", ""), http.StatusBadRequest, "not a backup format")
}

func TestService_BackupErrorBeforeData(t *testing.T) {
	h := newHandler(t, &fakeStore{backupErr: &statusError{code: 503, msg: "no snapshot"}})
	checkStatus(t, do(t, h, "GET", "/db/backup", ""), http.StatusServiceUnavailable, "no snapshot")
	checkStatus(t, do(t, h, "GET", "/db/backup?compress", ""), http.StatusServiceUnavailable, "no snapshot")
}

func TestService_BackupErrorMidStream(t *testing.T) {
	store := &fakeStore{backup: bytes.Repeat([]byte("x"), 1<<16), backupErr: errBoom}
	url := startService(t, store)
	resp, err := http.Get(url + "/db/backup")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("reading a backup that failed mid-stream: got no error, want a cut transfer")
	}
}

func TestService_Routing(t *testing.T) {
	h := newHandler(t, &fakeStore{})
	tests := []struct {
		method, target string
		code           int
		allow          string
	}{
		{"GET", "/db/execute", http.StatusMethodNotAllowed, "OPTIONS, POST"},
		{"PUT", "/db/query", http.StatusMethodNotAllowed, "OPTIONS, GET, POST"},
		{"GET", "/db/request", http.StatusMethodNotAllowed, "OPTIONS, POST"},
		{"POST", "/db/backup", http.StatusMethodNotAllowed, "OPTIONS, GET"},
		{"DELETE", "/status", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{"POST", "/readyz", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{"OPTIONS", "/db/execute", http.StatusNoContent, "OPTIONS, POST"},
		{"GET", "/nope", http.StatusNotFound, ""},
		{"POST", "/db/execute/", http.StatusNotFound, ""},
		{"HEAD", "/readyz", http.StatusOK, ""},
	}
	for _, tt := range tests {
		rec := do(t, h, tt.method, tt.target, "")
		if got, want := rec.Code, tt.code; got != want {
			t.Errorf("%s %s: status: got %d, want %d", tt.method, tt.target, got, want)
		}
		if got, want := rec.Header().Get("Allow"), tt.allow; got != want {
			t.Errorf("%s %s: Allow: got %q, want %q", tt.method, tt.target, got, want)
		}
		if tt.code == http.StatusMethodNotAllowed || tt.code == http.StatusNotFound {
			checkStatus(t, rec, tt.code, "")
			if !strings.HasPrefix(rec.Body.String(), `{"error":`) {
				t.Errorf("%s %s: body: got %s, want a JSON error", tt.method, tt.target, rec.Body.String())
			}
		}
	}
}

func TestService_Limits(t *testing.T) {
	cfg := httpapi.DefaultConfig()
	cfg.MaxBodyBytes = 32
	cfg.MaxStatements = 3
	store := &fakeStore{}
	h := newHandlerConfig(t, cfg, store)

	body := `["INSERT INTO t VALUES (1234567890)"]` // 37 bytes
	checkStatus(t, do(t, h, "POST", "/db/execute", body), http.StatusRequestEntityTooLarge,
		"request body is 37 bytes, over the limit of 32 bytes (--max-request-size)")

	// Without a Content-Length the size is only known to be too large.
	req, _ := http.NewRequest("POST", "/db/execute", io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	rec := newRecorder()
	h.ServeHTTP(rec, req)
	checkStatus(t, rec, http.StatusRequestEntityTooLarge, "request body is over the limit of 32 bytes (--max-request-size)")

	checkStatus(t, do(t, h, "POST", "/db/request", `["A","B","C","D"]`), http.StatusBadRequest, "more than 3 statements")
	checkStatus(t, do(t, h, "POST", "/db/query", `["A","B","C"]`), http.StatusOK, "")
	checkStatus(t, do(t, h, "POST", "/db/execute", `["A","B","C"]`), http.StatusOK, "")
}

func TestConfig_Validate(t *testing.T) {
	if err := httpapi.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, mod := range map[string]func(*httpapi.Config){
		"addr":       func(c *httpapi.Config) { c.Addr = "" },
		"body":       func(c *httpapi.Config) { c.MaxBodyBytes = 0 },
		"statements": func(c *httpapi.Config) { c.MaxStatements = -1 },
		"timeout":    func(c *httpapi.Config) { c.ShutdownTimeout = -1 },
	} {
		cfg := httpapi.DefaultConfig()
		mod(&cfg)
		if err := cfg.Validate(); !errors.Is(err, httpapi.ErrBadConfig) {
			t.Errorf("%s: got %v, want ErrBadConfig", name, err)
		}
		if _, err := httpapi.New(cfg, &fakeStore{}); !errors.Is(err, httpapi.ErrBadConfig) {
			t.Errorf("New with bad %s: got %v, want ErrBadConfig", name, err)
		}
	}
	if _, err := httpapi.New(httpapi.DefaultConfig(), nil); !errors.Is(err, httpapi.ErrBadConfig) {
		t.Errorf("New with nil store: got %v, want ErrBadConfig", err)
	}
}
