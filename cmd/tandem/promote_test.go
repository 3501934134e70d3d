package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The role commands post to the node and print what it answered.
func TestRoleCommands(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/admin/promote":
			if r.URL.Query().Get("force") != "true" {
				w.WriteHeader(http.StatusConflict)
				w.Write([]byte(`{"error":"would lose transactions; run again with --force"}`))
				return
			}
			w.Write([]byte(`{"promoted":"promoted to primary: term 2 starts at LSN 0/00000100"}`))
		case "/admin/switchover":
			w.Write([]byte(`{"switched":"switched over to ` + r.URL.Query().Get("to") + `"}`))
		case "/replica/follow":
			w.Write([]byte(`{"following":"following ` + r.URL.Query().Get("upstream") + `"}`))
		}
	}))
	defer srv.Close()

	if _, err := runCommand(t, promoteCommand(), "--addr", srv.URL); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("promote without --force: err = %v", err)
	}
	out, err := runCommand(t, promoteCommand(), "--addr", srv.URL, "--force")
	if err != nil || !strings.Contains(out, "term 2") {
		t.Errorf("promote --force: %q, %v", out, err)
	}
	out, err = runCommand(t, switchoverCommand(), "--addr", srv.URL, "--to", "127.0.0.1:4002")
	if err != nil || out != "switched over to 127.0.0.1:4002\n" {
		t.Errorf("switchover: %q, %v", out, err)
	}
	if _, err := runCommand(t, switchoverCommand(), "--addr", srv.URL); err == nil || !strings.Contains(err.Error(), "--to is required") {
		t.Errorf("switchover without --to: %v", err)
	}
	out, err = runCommand(t, replicaCommand(), "follow", "--addr", srv.URL, "--upstream", "127.0.0.1:5002")
	if err != nil || !strings.Contains(out, "following 127.0.0.1:5002") {
		t.Errorf("follow: %q, %v", out, err)
	}
	want := []string{"POST /admin/promote?", "POST /admin/promote?force=true", "POST /admin/switchover?to=127.0.0.1%3A4002", "POST /replica/follow?upstream=127.0.0.1%3A5002"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("requests:\n got %v\nwant %v", got, want)
	}
}
