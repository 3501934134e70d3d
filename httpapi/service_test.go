package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/httpapi"
)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// startService starts a listening Service on a free port and returns its
// base URL; the test's cleanup closes it.
func startService(t *testing.T, store httpapi.Store) string {
	t.Helper()
	cfg := httpapi.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = nil
	s, err := httpapi.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return "http://" + s.Addr().String()
}

func TestService_StartClose(t *testing.T) {
	cfg := httpapi.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = nil
	s, err := httpapi.New(cfg, &fakeStore{execResp: writeResp()})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != nil {
		t.Errorf("Addr before Start: got %v, want nil", s.Addr())
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); !errors.Is(err, httpapi.ErrStarted) {
		t.Errorf("second Start: got %v, want ErrStarted", err)
	}
	client := &http.Client{}
	resp, err := client.Post("http://"+s.Addr().String()+"/db/execute", "application/json", strings.NewReader(`["A","B"]`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("status: got %d, want %d: %s", got, want, body)
	}
	if !strings.Contains(string(body), `"lsn":"0/00000A3F"`) {
		t.Errorf("body: got %s, want an lsn", body)
	}
	client.CloseIdleConnections()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Start(); !errors.Is(err, httpapi.ErrStarted) {
		t.Errorf("Start after Close: got %v, want ErrStarted", err)
	}
}

func TestService_CloseCutsSlowRequests(t *testing.T) {
	entered := make(chan struct{})
	store := &fakeStore{execFn: func(ctx context.Context, _ *command.ExecuteRequest) (*command.ExecuteResponse, error) {
		close(entered)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	cfg := httpapi.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = nil
	cfg.ShutdownTimeout = 20 * time.Millisecond
	s, err := httpapi.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	done := make(chan error, 1)
	go func() {
		resp, err := client.Post("http://"+s.Addr().String()+"/db/execute", "application/json", strings.NewReader(`["A"]`))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-entered
	if err := s.Close(); err == nil {
		t.Error("Close with a stuck request: got nil, want a shutdown error")
	}
	<-done
}

func TestService_HandlerAfterClose(t *testing.T) {
	cfg := httpapi.DefaultConfig()
	s, err := httpapi.New(cfg, &fakeStore{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkStatus(t, do(t, s.Handler(), "GET", "/readyz", ""), http.StatusServiceUnavailable, "shutting down")
}
