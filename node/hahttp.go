package node

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tandem-db/tandem/ha"
)

// The HA cluster's HTTP endpoints, under /cluster/. Members call join and
// propose on each other, signed with the cluster secret; position and
// members are read-only; remove, set-priority and set-nofailover are the
// operator's. A call that must run on the raft leader is passed to it.

// authHeader carries HMAC-SHA256(secret, METHOD PATH?QUERY \n BODY) in hex.
const authHeader = "X-Tandem-Cluster-Auth"

// maxClusterBody bounds a /cluster/ request body.
const maxClusterBody = 1 << 20

// rawJSON is a body already encoded.
type rawJSON []byte

// peerError is a member's refusal: its HTTP status, the ha error code, and
// its message.
type peerError struct {
	status int
	code   string
	msg    string
	addr   string
}

func (e *peerError) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.addr, e.status, e.msg)
}

// Unwrap maps the code back to ha's sentinel, so errors.Is works across
// nodes.
func (e *peerError) Unwrap() error { return codeErrors[e.code] }

// codeErrors names ha's sentinels on the wire.
var codeErrors = map[string]error{
	"bad_command": ha.ErrBadCommand, "unknown_member": ha.ErrUnknownMember, "member_conflict": ha.ErrMemberConflict,
	"not_primary": ha.ErrNotPrimary, "stale_term": ha.ErrStaleTerm, "lease_held": ha.ErrLeaseHeld,
	"nofailover": ha.ErrNoFailover, "not_leader": ha.ErrNotLeader, "closed": ha.ErrClosed,
}

func codeOf(err error) string {
	for code, e := range codeErrors {
		if errors.Is(err, e) {
			return code
		}
	}
	return ""
}

// retryable reports whether a call may succeed if tried again: the peer
// was unreachable, busy, or not the leader.
func retryable(err error) bool {
	var pe *peerError
	if !errors.As(err, &pe) {
		return !errors.Is(err, context.Canceled)
	}
	return pe.status >= 500 || pe.code == "not_leader" || pe.status == http.StatusMisdirectedRequest
}

// peerClient calls other members' /cluster/ endpoints.
type peerClient struct {
	secret []byte
	c      *http.Client
}

func newPeerClient(secret, source string) *peerClient {
	tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	if source != "" {
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
		tr.DialContext = d.DialContext
	}
	return &peerClient{secret: []byte(secret), c: &http.Client{Transport: tr}}
}

func (p *peerClient) sign(method, target string, body []byte) string {
	m := hmac.New(sha256.New, p.secret)
	fmt.Fprintf(m, "%s %s\n", method, target)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// verify checks a request's signature.
func (p *peerClient) verify(r *http.Request, body []byte) bool {
	got, err := hex.DecodeString(r.Header.Get(authHeader))
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(p.sign(r.Method, r.URL.RequestURI(), body))
	return hmac.Equal(got, want)
}

// post sends body (JSON-encoded unless rawJSON) to addr's target and
// decodes the answer into out, if not nil.
func (p *peerClient) post(ctx context.Context, addr, target string, body, out any) error {
	b, ok := body.(rawJSON)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	return p.do(ctx, http.MethodPost, addr, target, b, out)
}

func (p *peerClient) get(ctx context.Context, addr, target string, out any) error {
	return p.do(ctx, http.MethodGet, addr, target, nil, out)
}

func (p *peerClient) do(ctx context.Context, method, addr, target string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(authHeader, p.sign(method, target, body))
	resp, err := p.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxClusterBody))
	if err != nil {
		return fmt.Errorf("%s %s: %w", addr, target, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		if json.Unmarshal(rb, &e) != nil || e.Error == "" {
			e.Error = string(bytes.TrimSpace(rb))
		}
		return &peerError{status: resp.StatusCode, code: e.Code, msg: e.Error, addr: addr}
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			return fmt.Errorf("%s %s: bad answer: %w", addr, target, err)
		}
	}
	return nil
}

// ClusterHandler serves /cluster/; nil when the node is not an HA member.
func (n *Node) ClusterHandler() http.Handler {
	if n.ha == nil {
		return nil
	}
	return http.HandlerFunc(n.ha.serveHTTP)
}

func (h *haNode) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxClusterBody))
	if err != nil {
		clusterError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("read the request body: %w (at most %d bytes)", err, maxClusterBody))
		return
	}
	method := map[string]string{
		"/cluster/join": http.MethodPost, "/cluster/propose": http.MethodPost, "/cluster/remove": http.MethodPost,
		"/cluster/set-priority": http.MethodPost, "/cluster/set-nofailover": http.MethodPost,
		"/cluster/position": http.MethodGet, "/cluster/members": http.MethodGet,
	}[r.URL.Path]
	switch {
	case method == "":
		clusterError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s (cluster endpoints: join, propose, position, members, remove, set-priority, set-nofailover)", r.URL.Path))
		return
	case r.Method != method:
		w.Header().Set("Allow", method)
		clusterError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s needs %s, not %s", r.URL.Path, method, r.Method))
		return
	}
	if (r.URL.Path == "/cluster/join" || r.URL.Path == "/cluster/propose") && !h.peers.verify(r, body) {
		clusterError(w, http.StatusUnauthorized, errors.New("the request is not signed with this cluster's secret: members must share --cluster-secret"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	q := r.URL.Query()
	switch r.URL.Path {
	case "/cluster/position":
		p, err := h.n.position()
		reply(w, p, err)
	case "/cluster/members":
		reply(w, h.members(), nil)
	case "/cluster/join":
		var m ha.Member
		if err := strictJSON(body, &m); err != nil {
			clusterError(w, http.StatusBadRequest, fmt.Errorf("join: %w", err))
			return
		}
		h.onLeader(ctx, w, r, body, func() (any, error) { return map[string]string{"joined": m.ID}, h.addMember(ctx, m) })
	case "/cluster/propose":
		cmd, err := ha.Decode(body)
		if err != nil {
			clusterError(w, http.StatusBadRequest, err)
			return
		}
		h.onLeader(ctx, w, r, body, func() (any, error) { return map[string]string{"applied": cmd.CommandType()}, h.cluster.Apply(ctx, cmd) })
	case "/cluster/remove":
		id := q.Get("id")
		h.onLeader(ctx, w, r, body, func() (any, error) {
			if err := h.cluster.Apply(ctx, ha.RemoveMember{ID: id, Now: h.n.wall()}); err != nil {
				// A remove that stopped between the state and raft: finish
				// it when raft still has the server.
				if !errors.Is(err, ha.ErrUnknownMember) || !h.inRaft(id) {
					return nil, err
				}
			}
			return map[string]string{"removed": id}, h.cluster.Remove(id)
		})
	case "/cluster/set-priority":
		id := q.Get("id")
		p, err := strconv.Atoi(q.Get("priority"))
		if err != nil {
			clusterError(w, http.StatusBadRequest, fmt.Errorf("priority %q: want an integer", q.Get("priority")))
			return
		}
		h.onLeader(ctx, w, r, body, func() (any, error) {
			return map[string]string{"priority": fmt.Sprintf("%s %d", id, p)}, h.cluster.Apply(ctx, ha.SetPriority{ID: id, Priority: p, Now: h.n.wall()})
		})
	case "/cluster/set-nofailover":
		id := q.Get("id")
		v, err := strconv.ParseBool(q.Get("value"))
		if err != nil {
			clusterError(w, http.StatusBadRequest, fmt.Errorf("value %q: want true or false", q.Get("value")))
			return
		}
		h.onLeader(ctx, w, r, body, func() (any, error) {
			return map[string]string{"nofailover": fmt.Sprintf("%s %t", id, v)}, h.cluster.Apply(ctx, ha.SetTags{ID: id, NoFailover: v, Now: h.n.wall()})
		})
	}
}

// onLeader runs f here when this node is the raft leader, or passes the
// request on to the leader and relays its answer.
func (h *haNode) onLeader(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte, f func() (any, error)) {
	if h.cluster.IsLeader() {
		v, err := f()
		reply(w, v, err)
		return
	}
	if r.Header.Get("X-Tandem-Forwarded") != "" {
		reply(w, nil, fmt.Errorf("%w: this node lost the raft leadership while a request was passed to it; retry", ha.ErrNotLeader))
		return
	}
	addr, err := h.leaderHTTP()
	if err != nil {
		reply(w, nil, err)
		return
	}
	var out json.RawMessage
	target := r.URL.RequestURI()
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+addr+target, bytes.NewReader(body))
	if err != nil {
		reply(w, nil, err)
		return
	}
	req.Header.Set(authHeader, h.peers.sign(r.Method, target, body))
	req.Header.Set("X-Tandem-Forwarded", "1")
	resp, err := h.peers.c.Do(req)
	if err != nil {
		reply(w, nil, fmt.Errorf("%w: pass the request to the raft leader at %s: %v; retry", ha.ErrNotLeader, addr, err))
		return
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, maxClusterBody))
	out = rb
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

// inRaft reports whether raft's configuration has server id.
func (h *haNode) inRaft(id string) bool {
	servers, err := h.cluster.Servers()
	if err != nil {
		return false
	}
	for _, s := range servers {
		if s.ID == id {
			return true
		}
	}
	return false
}

// members is what GET /cluster/members answers.
func (h *haNode) members() map[string]any {
	st := h.cluster.State()
	leader, _ := h.cluster.Leader()
	servers, err := h.cluster.Servers()
	out := map[string]any{"leader": leader, "state": st, "raft": servers}
	if err != nil {
		out["raft_error"] = err.Error()
	}
	return out
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		status := http.StatusConflict
		var sc interface{ HTTPStatus() int }
		var pe *peerError
		switch {
		case errors.As(err, &pe):
			status = pe.status
		case errors.As(err, &sc):
			status = sc.HTTPStatus()
		case errors.Is(err, ha.ErrNotLeader), errors.Is(err, ha.ErrClosed), errors.Is(err, context.DeadlineExceeded):
			status = http.StatusServiceUnavailable
		case errors.Is(err, ha.ErrBadCommand):
			status = http.StatusBadRequest
		case errors.Is(err, ha.ErrUnknownMember):
			status = http.StatusNotFound
		}
		clusterError(w, status, err)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		clusterError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

func clusterError(w http.ResponseWriter, status int, err error) {
	b, _ := json.Marshal(map[string]string{"error": err.Error(), "code": codeOf(err)})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
