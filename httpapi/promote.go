package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Promoter is the part of a Store that can turn a replica into a primary.
// When the Store implements it, the service serves POST /admin/promote.
type Promoter interface {
	// Promote turns the node into a primary. Without force it refuses and
	// says what could be lost; with force it promotes.
	Promote(ctx context.Context, force bool) (string, error)
}

// handlePromote serves POST /admin/promote[?force=true]: 200
// {"promoted":"..."} or the Store's refusal (409 unless its error carries
// its own status).
func (s *Service) handlePromote(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	values, _ := url.ParseQuery(r.URL.RawQuery) // parseParams has checked it
	force := false
	if _, ok := values["force"]; ok {
		if force, err = flag("force", values.Get("force")); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	ctx, cancel := requestContext(r, p)
	defer cancel()
	msg, err := s.promote.Promote(ctx, force)
	if err != nil {
		code := http.StatusConflict
		var sc StatusCoder
		if errors.As(err, &sc) {
			code = statusOf(err)
		}
		writeError(w, code, err.Error())
		return
	}
	b, err := json.Marshal(struct {
		Promoted string `json:"promoted"`
	}{msg})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// Follower is the part of a Store that can re-point a replica at another
// upstream. When the Store implements it, the service serves POST
// /replica/follow?upstream=HOST:PORT.
type Follower interface {
	Follow(ctx context.Context, upstream string) (string, error)
}

// handleFollow serves POST /replica/follow?upstream=HOST:PORT: 200
// {"following":"..."}, 400 without an upstream, or the Store's refusal.
func (s *Service) handleFollow(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	values, _ := url.ParseQuery(r.URL.RawQuery) // parseParams has checked it
	up := values.Get("upstream")
	if up == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%v upstream is missing: use POST /replica/follow?upstream=HOST:PORT with the new upstream's replication address", ErrBadParam))
		return
	}
	ctx, cancel := requestContext(r, p)
	defer cancel()
	msg, err := s.follow.Follow(ctx, up)
	if err != nil {
		code := http.StatusConflict
		var sc StatusCoder
		if errors.As(err, &sc) {
			code = statusOf(err)
		}
		writeError(w, code, err.Error())
		return
	}
	b, err := json.Marshal(struct {
		Following string `json:"following"`
	}{msg})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// Switcher is the part of a Store that can hand the primary role to a
// replica. When the Store implements it, the service serves POST
// /admin/switchover?to=HTTP_HOST:PORT.
type Switcher interface {
	Switchover(ctx context.Context, target string) (string, error)
}

// handleSwitchover serves POST /admin/switchover?to=HOST:PORT: 200
// {"switched":"..."}, 400 without a target, or the Store's refusal.
func (s *Service) handleSwitchover(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	values, _ := url.ParseQuery(r.URL.RawQuery) // parseParams has checked it
	to := values.Get("to")
	if to == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%v to is missing: use POST /admin/switchover?to=HOST:PORT with the target replica's HTTP address", ErrBadParam))
		return
	}
	ctx, cancel := requestContext(r, p)
	defer cancel()
	msg, err := s.switchy.Switchover(ctx, to)
	if err != nil {
		code := http.StatusConflict
		var sc StatusCoder
		if errors.As(err, &sc) {
			code = statusOf(err)
		}
		writeError(w, code, err.Error())
		return
	}
	b, err := json.Marshal(struct {
		Switched string `json:"switched"`
	}{msg})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}
