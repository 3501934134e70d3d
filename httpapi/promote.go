package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tandem-db/tandem/lsn"
)

// Promoter is the part of a Store that can turn a replica into a primary.
// When the Store implements it, the service serves POST /admin/promote.
type Promoter interface {
	// Promote turns the node into a primary. Without force it refuses and
	// says what could be lost; with force it promotes.
	Promote(ctx context.Context, force bool) (string, error)
}

// Follower is the part of a Store that can re-point a replica at another
// upstream. When the Store implements it, the service serves POST
// /replica/follow?upstream=HOST:PORT.
type Follower interface {
	Follow(ctx context.Context, upstream string) (string, error)
}

// Switcher is the part of a Store that can hand the primary role to a
// replica. When the Store implements it, the service serves POST
// /admin/switchover?to=HTTP_HOST:PORT.
type Switcher interface {
	Switchover(ctx context.Context, target string) (string, error)
}

// Rewinder is the part of a Store that can rewind a diverged replica to
// the LSN where its log forked from its upstream's history. When the Store
// implements it, the service serves POST /replica/rewind?to=LSN.
type Rewinder interface {
	Rewind(ctx context.Context, to lsn.LSN) (string, error)
}

// Clusterer is the part of a Store that is a member of an HA cluster. When
// the Store implements it and ClusterHandler returns a handler, the service
// hands it every request under /cluster/ (membership, the nodes' own calls
// to each other); a nil handler means the node runs without HA.
type Clusterer interface {
	ClusterHandler() http.Handler
}

// handleRewind serves POST /replica/rewind?to=LSN: 200 {"rewound":"..."},
// 400 without a valid LSN, or the Store's refusal.
func (s *Service) handleRewind(w http.ResponseWriter, r *http.Request) {
	s.roleCall(w, r, "to", true, "rewound", func(ctx context.Context, v string) (string, error) {
		to, err := lsn.Parse(v)
		if err != nil {
			return "", &statusError{http.StatusBadRequest, fmt.Errorf("%w to: %w", ErrBadParam, err)}
		}
		return s.rewind.Rewind(ctx, to)
	})
}

// handlePromote serves POST /admin/promote[?force=true]: 200
// {"promoted":"..."} or the Store's refusal.
func (s *Service) handlePromote(w http.ResponseWriter, r *http.Request) {
	s.roleCall(w, r, "force", false, "promoted", func(ctx context.Context, v string) (string, error) {
		force := false
		if v != "" || r.URL.Query().Has("force") {
			var err error
			if force, err = flag("force", v); err != nil {
				return "", &statusError{http.StatusBadRequest, err}
			}
		}
		return s.promote.Promote(ctx, force)
	})
}

// handleFollow serves POST /replica/follow?upstream=HOST:PORT: 200
// {"following":"..."}, 400 without an upstream, or the Store's refusal.
func (s *Service) handleFollow(w http.ResponseWriter, r *http.Request) {
	s.roleCall(w, r, "upstream", true, "following", s.follow.Follow)
}

// handleSwitchover serves POST /admin/switchover?to=HOST:PORT: 200
// {"switched":"..."}, 400 without a target, or the Store's refusal.
func (s *Service) handleSwitchover(w http.ResponseWriter, r *http.Request) {
	s.roleCall(w, r, "to", true, "switched", s.switchy.Switchover)
}

// statusError carries the HTTP status a role call's error should get.
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string   { return e.err.Error() }
func (e *statusError) HTTPStatus() int { return e.code }

// roleCall runs one of the role-changing calls with the query parameter
// param (required or not) and answers {key: message}. A refusal is 409
// unless the error carries its own status.
func (s *Service) roleCall(w http.ResponseWriter, r *http.Request, param string, required bool, key string,
	call func(ctx context.Context, value string) (string, error)) {
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	values, _ := url.ParseQuery(r.URL.RawQuery) // parseParams has checked it
	v := values.Get(param)
	if required && v == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%v %s is missing: use POST %s?%s=HOST:PORT", ErrBadParam, param, r.URL.Path, param))
		return
	}
	ctx, cancel := requestContext(r, p)
	defer cancel()
	msg, err := call(ctx, v)
	if err != nil {
		code := http.StatusConflict
		var sc StatusCoder
		if errors.As(err, &sc) {
			code = statusOf(err)
		}
		writeError(w, code, err.Error())
		return
	}
	b, err := json.Marshal(map[string]string{key: msg})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}
