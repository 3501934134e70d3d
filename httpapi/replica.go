package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tandem-db/tandem/gtid"
)

// ReplicaAdmin is the part of a Store that runs as a replica. When the
// Store implements it, the service also serves POST /replica/skip.
type ReplicaAdmin interface {
	// SkipTransaction skips the transaction, named by its GTID in
	// canonical form, on which the replica's applier stopped. It fails
	// when the applier is not stopped on exactly that transaction.
	SkipTransaction(ctx context.Context, gtid string) error
}

// handleSkip serves POST /replica/skip?gtid=G: it answers 200
// {"skipped":G}, 400 for a missing or malformed GTID, and 409 when the
// Store refuses (not a replica, not stopped, stopped on another GTID)
// unless its error carries its own status (StatusCoder).
func (s *Service) handleSkip(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	values, _ := url.ParseQuery(r.URL.RawQuery) // parseParams has checked it
	raw := values.Get("gtid")
	if raw == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%v gtid is missing: use POST /replica/skip?gtid=ORIGIN-UUID:SEQ "+
			"with the apply_error_gtid that GET /status shows", ErrBadParam))
		return
	}
	g, err := gtid.Parse(raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%v gtid: %v", ErrBadParam, err))
		return
	}
	ctx, cancel := requestContext(r, p)
	defer cancel()
	if err := s.replica.SkipTransaction(ctx, g.String()); err != nil {
		code := http.StatusConflict
		var sc StatusCoder
		if errors.As(err, &sc) {
			code = statusOf(err)
		}
		writeError(w, code, fmt.Sprintf("cannot skip %s: %v", g, err))
		return
	}
	b, err := json.Marshal(struct {
		Skipped string `json:"skipped"`
	}{g.String()})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}
