package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
)

// notPrimaryError refuses a write (or a primary-only read) on a replica
// that does not forward.
type notPrimaryError struct{ primary string }

func (e *notPrimaryError) Error() string {
	if e.primary == "" {
		return "this node is a replica and does not know its primary yet (not connected upstream); send writes to the primary"
	}
	return fmt.Sprintf("this node is a replica; send writes and strong reads to the primary at %s", e.primary)
}

// HTTPStatus makes the HTTP API answer 421 Misdirected Request.
func (e *notPrimaryError) HTTPStatus() int { return http.StatusMisdirectedRequest }

// forwarder sends requests a replica cannot serve to the primary's HTTP API.
type forwarder struct {
	source string // local IP to dial from
	mu     sync.Mutex
	addr   string
	c      *client.Client
}

func (f *forwarder) get(addr string) (*client.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.c != nil && f.addr == addr {
		return f.c, nil
	}
	if f.c != nil {
		f.c.Close()
	}
	c, err := client.New(addr, client.WithSourceAddr(f.source))
	if err != nil {
		return nil, err
	}
	f.addr, f.c = addr, c
	return c, nil
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.c != nil {
		f.c.Close()
	}
}

func toClient(stmts []command.Statement) []client.Statement {
	out := make([]client.Statement, len(stmts))
	for i, s := range stmts {
		out[i] = client.Statement{SQL: s.SQL, Args: s.Args, Named: s.Named}
	}
	return out
}

func fromClient(rs []client.Result) []command.Result {
	out := make([]command.Result, len(rs))
	for i, r := range rs {
		out[i] = command.Result{LastInsertID: r.LastInsertID, RowsAffected: r.RowsAffected, Columns: r.Columns,
			Types: r.Types, Rows: r.Values, Error: r.Error, Seconds: r.Time}
		if r.Columns != nil && out[i].Rows == nil {
			out[i].Rows = [][]any{}
		}
	}
	return out
}

// primaryHTTP is the primary's client API address as the upstream told it.
func (n *Node) primaryHTTP() string {
	if h := n.ha; h != nil {
		// The cluster state knows a new primary before the stream does.
		st := h.cluster.State()
		if m, ok := st.Members[st.Primary]; ok && st.Primary != n.cfg.NodeID {
			return m.HTTPAddr
		}
	}
	c := n.streamClient()
	if c == nil {
		return ""
	}
	return c.Status().PrimaryHTTP
}

// primaryClient returns a client of the primary's HTTP API, or the error
// that refuses the request when this replica does not forward.
func (n *Node) primaryClient() (*client.Client, string, error) {
	addr := n.primaryHTTP()
	if !n.cfg.ForwardWrites || addr == "" {
		return nil, addr, &notPrimaryError{addr}
	}
	c, err := n.forwarder.get(addr)
	return c, addr, err
}

// forwardExecute runs a write on the primary.
func (n *Node) forwardExecute(ctx context.Context, req *command.ExecuteRequest) (*command.ExecuteResponse, error) {
	c, addr, err := n.primaryClient()
	if err != nil {
		return nil, err
	}
	ctx, stop := n.untilPrimaryMoves(ctx)
	defer stop()
	resp, err := c.Execute(ctx, toClient(req.Statements), client.ExecOptions{Transaction: req.Transaction, Commit: req.Commit.String()})
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errPrimaryMoved) {
			err = cause
		}
		return nil, fmt.Errorf("forward to the primary at %s: %w", addr, err)
	}
	out := &command.ExecuteResponse{Results: fromClient(resp.Results), Warning: resp.Warning}
	if resp.LSN != "" {
		if out.LSN, err = lsn.Parse(resp.LSN); err != nil {
			return nil, fmt.Errorf("forward to the primary at %s: %w", addr, err)
		}
	}
	if resp.GTID != "" {
		if out.GTID, err = gtid.Parse(resp.GTID); err != nil {
			return nil, fmt.Errorf("forward to the primary at %s: %w", addr, err)
		}
	}
	return out, nil
}

// forwardQuery runs a read on the primary.
func (n *Node) forwardQuery(ctx context.Context, req *command.QueryRequest) ([]command.Result, error) {
	c, addr, err := n.primaryClient()
	if err != nil {
		return nil, err
	}
	ctx, stop := n.untilPrimaryMoves(ctx)
	defer stop()
	resp, err := c.Query(ctx, toClient(req.Statements), client.QueryOptions{Transaction: req.Transaction, Level: req.Level.String()})
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errPrimaryMoved) {
			err = cause
		}
		return nil, fmt.Errorf("forward to the primary at %s: %w", addr, err)
	}
	return fromClient(resp.Results), nil
}

// errPrimaryMoved ends a forwarded request whose primary was replaced
// meanwhile (it may be paused or cut off, and would hold the request until
// the fault heals).
var errPrimaryMoved = &leaseError{"the cluster's primary changed while this request was forwarded to the old one: a write's outcome is unknown (check before retrying); send it again to reach the new primary"}

// untilPrimaryMoves returns ctx, cancelled with errPrimaryMoved when an HA
// cluster names a new primary term before stop is called.
func (n *Node) untilPrimaryMoves(ctx context.Context) (context.Context, func()) {
	h := n.ha
	if h == nil {
		return ctx, func() {}
	}
	term := h.cluster.State().Term
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		for {
			seen, changed := h.seenTerm.get()
			if seen > term {
				cancel(errPrimaryMoved)
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx, func() { cancel(nil) }
}
