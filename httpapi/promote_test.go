package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/lsn"
)

type promoteStore struct {
	fakeStore
	forces []bool
}

func (s *promoteStore) Promote(_ context.Context, force bool) (string, error) {
	s.forces = append(s.forces, force)
	if !force {
		return "", errors.New("would lose transactions; run again with --force")
	}
	return "promoted to primary: term 2 starts at LSN 0/00000100", nil
}

func TestService_Promote(t *testing.T) {
	store := &promoteStore{}
	h := newHandler(t, store)
	checkStatus(t, do(t, h, "POST", "/admin/promote", ""), http.StatusConflict, "--force")
	rec := do(t, h, "POST", "/admin/promote?force=true", "")
	checkStatus(t, rec, http.StatusOK, "")
	if got := rec.Body.String(); !strings.Contains(got, `"promoted":"promoted to primary: term 2`) {
		t.Fatalf("body %s", got)
	}
	checkStatus(t, do(t, h, "POST", "/admin/promote?force=maybe", ""), http.StatusBadRequest, "force")
	checkStatus(t, do(t, h, "GET", "/admin/promote", ""), http.StatusMethodNotAllowed, "")
	if len(store.forces) != 2 || store.forces[0] || !store.forces[1] {
		t.Fatalf("forces seen %v", store.forces)
	}
	// A store that cannot be promoted has no such endpoint.
	checkStatus(t, do(t, newHandler(t, &fakeStore{}), "POST", "/admin/promote?force=true", ""), http.StatusNotFound, "")
}

type followStore struct {
	fakeStore
	upstreams []string
}

func (s *followStore) Follow(_ context.Context, upstream string) (string, error) {
	s.upstreams = append(s.upstreams, upstream)
	return "following " + upstream, nil
}

func TestService_Follow(t *testing.T) {
	store := &followStore{}
	h := newHandler(t, store)
	checkStatus(t, do(t, h, "POST", "/replica/follow", ""), http.StatusBadRequest, "upstream is missing")
	rec := do(t, h, "POST", "/replica/follow?upstream=127.0.0.1:5002", "")
	checkStatus(t, rec, http.StatusOK, "")
	if got := rec.Body.String(); !strings.Contains(got, `"following":"following 127.0.0.1:5002"`) || len(store.upstreams) != 1 {
		t.Fatalf("body %s, calls %v", got, store.upstreams)
	}
	checkStatus(t, do(t, newHandler(t, &fakeStore{}), "POST", "/replica/follow?upstream=x:1", ""), http.StatusNotFound, "")
}

type switchStore struct {
	fakeStore
	targets []string
}

func (s *switchStore) Switchover(_ context.Context, target string) (string, error) {
	s.targets = append(s.targets, target)
	return "switched over to " + target, nil
}

func TestService_Switchover(t *testing.T) {
	store := &switchStore{}
	h := newHandler(t, store)
	checkStatus(t, do(t, h, "POST", "/admin/switchover", ""), http.StatusBadRequest, "to is missing")
	rec := do(t, h, "POST", "/admin/switchover?to=127.0.0.1:4002", "")
	checkStatus(t, rec, http.StatusOK, "")
	if got := rec.Body.String(); !strings.Contains(got, `"switched":"switched over to 127.0.0.1:4002"`) || len(store.targets) != 1 {
		t.Fatalf("body %s, calls %v", got, store.targets)
	}
	checkStatus(t, do(t, h, "GET", "/admin/switchover?to=x:1", ""), http.StatusMethodNotAllowed, "")
}

type rewindStore struct {
	fakeStore
	to []lsn.LSN
}

func (s *rewindStore) Rewind(_ context.Context, to lsn.LSN) (string, error) {
	s.to = append(s.to, to)
	return "rewound to LSN " + to.String(), nil
}

func TestService_Rewind(t *testing.T) {
	store := &rewindStore{}
	h := newHandler(t, store)
	checkStatus(t, do(t, h, "POST", "/replica/rewind", ""), http.StatusBadRequest, "to is missing")
	checkStatus(t, do(t, h, "POST", "/replica/rewind?to=zz", ""), http.StatusBadRequest, "to")
	rec := do(t, h, "POST", "/replica/rewind?to=0/00001A2F", "")
	checkStatus(t, rec, http.StatusOK, "")
	if len(store.to) != 1 || store.to[0] != 0x1A2F || !strings.Contains(rec.Body.String(), `"rewound":"rewound to LSN 0/00001A2F"`) {
		t.Fatalf("calls %v body %s", store.to, rec.Body.String())
	}
}
