package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReplicaSkipCommand(t *testing.T) {
	const g = "3f2504e0-4f89-41d3-9a0c-0305e82c3301:42"
	var gotMethod, gotPath, gotGTID string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotMethod, gotPath, gotGTID = r.Method, r.URL.Path, r.URL.Query().Get("gtid")
		w.Header().Set("Content-Type", "application/json")
		if gotGTID != g {
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":"cannot skip ` + gotGTID + `: the applier is stopped on ` + g + `, not ` + gotGTID + `"}`))
			return
		}
		w.Write([]byte(`{"skipped":"` + g + `"}`))
	}))
	defer srv.Close()

	out, err := runCommand(t, replicaCommand(), "skip", "--addr", srv.URL, "--gtid", g)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := gotMethod+" "+gotPath+" "+gotGTID, "POST /replica/skip "+g; got != want {
		t.Errorf("request: got %q, want %q", got, want)
	}
	if got, want := out, "skipped "+g+" on "+srv.URL+"; the applier goes on with the next transaction\n"; got != want {
		t.Errorf("output: got %q, want %q", got, want)
	}

	other := "3f2504e0-4f89-41d3-9a0c-0305e82c3301:41"
	out, err = runCommand(t, replicaCommand(), "skip", "--addr", srv.URL, "--gtid", other)
	if err == nil {
		t.Fatalf("skipping the wrong GTID: got no error, output %q", out)
	}
	if got, want := err.Error(), "HTTP 409 Conflict: cannot skip "+other+": the applier is stopped on "+g; !strings.Contains(got, want) {
		t.Errorf("error: got %q, want it to contain %q", got, want)
	}
	if out != "" {
		t.Errorf("output after an error: got %q, want none", out)
	}

	if _, err := runCommand(t, replicaCommand(), "skip", "--addr", srv.URL); err == nil || !strings.Contains(err.Error(), "--gtid is required") {
		t.Errorf("without --gtid: got %v, want an error saying --gtid is required", err)
	}
}
