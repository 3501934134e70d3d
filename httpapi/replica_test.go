package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/tandem-db/tandem/httpapi"
)

// fakeReplica is a fakeStore that also takes replica admin calls.
type fakeReplica struct {
	fakeStore
	mu      sync.Mutex
	skipped []string
	skipErr error
}

var _ httpapi.ReplicaAdmin = (*fakeReplica)(nil)

func (f *fakeReplica) SkipTransaction(ctx context.Context, g string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skipped = append(f.skipped, g)
	return f.skipErr
}

const testGTID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301:42"

func TestService_ReplicaSkip(t *testing.T) {
	store := &fakeReplica{}
	h := newHandler(t, store)

	// The GTID reaches the store in canonical form.
	rec := do(t, h, "POST", "/replica/skip?gtid=+3F2504E0-4F89-41D3-9A0C-0305E82C3301:42", "")
	checkStatus(t, rec, http.StatusOK, "")
	checkJSON(t, rec.Body.String(), `{"skipped":"`+testGTID+`"}`)
	if got, want := store.skipped, []string{testGTID}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("SkipTransaction calls: got %q, want %q", got, want)
	}

	tests := []struct {
		name, target string
		skipErr      error
		code         int
		errSub       string
	}{
		{"missing", "/replica/skip", nil, http.StatusBadRequest, "gtid is missing"},
		{"empty", "/replica/skip?gtid=", nil, http.StatusBadRequest, "gtid is missing"},
		{"no seq", "/replica/skip?gtid=3f2504e0-4f89-41d3-9a0c-0305e82c3301", nil, http.StatusBadRequest, "want origin-uuid:seq"},
		{"bad uuid", "/replica/skip?gtid=nope:1", nil, http.StatusBadRequest, "invalid GTID"},
		{"seq zero", "/replica/skip?gtid=3f2504e0-4f89-41d3-9a0c-0305e82c3301:0", nil, http.StatusBadRequest, "positive integer"},
		{"bad param", "/replica/skip?gtid=" + testGTID + "&timeout=soon", nil, http.StatusBadRequest, "timeout"},
		{"not stopped", "/replica/skip?gtid=" + testGTID, errors.New("the applier is not stopped; nothing to skip"),
			http.StatusConflict, "cannot skip " + testGTID + ": the applier is not stopped"},
		{"other gtid", "/replica/skip?gtid=" + testGTID, errors.New("the applier is stopped on x:7, not " + testGTID),
			http.StatusConflict, "stopped on x:7"},
		{"status coder", "/replica/skip?gtid=" + testGTID, &statusError{code: 503, msg: "closing"},
			http.StatusServiceUnavailable, "closing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeReplica{skipErr: tt.skipErr}
			checkStatus(t, do(t, newHandler(t, store), "POST", tt.target, ""), tt.code, tt.errSub)
			if tt.code == http.StatusBadRequest && len(store.skipped) != 0 {
				t.Errorf("SkipTransaction called with %q for a bad request", store.skipped)
			}
		})
	}
}

func TestService_ReplicaSkipRouting(t *testing.T) {
	rec := do(t, newHandler(t, &fakeReplica{}), "GET", "/replica/skip?gtid="+testGTID, "")
	checkStatus(t, rec, http.StatusMethodNotAllowed, "use POST")
	if got, want := rec.Header().Get("Allow"), "OPTIONS, POST"; got != want {
		t.Errorf("Allow: got %q, want %q", got, want)
	}
	// A Store without replica admin calls has no such endpoint.
	checkStatus(t, do(t, newHandler(t, &fakeStore{}), "POST", "/replica/skip?gtid="+testGTID, ""),
		http.StatusNotFound, "no such endpoint")
}
