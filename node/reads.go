package node

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/lsn"
)

// readError is a read this node refuses to serve at the level asked.
type readError struct {
	msg    string
	status int
}

func (e *readError) Error() string   { return e.msg }
func (e *readError) HTTPStatus() int { return e.status }

// errSeeding refuses requests while a replica installs its first copy.
var errSeeding = &readError{"this node is not ready yet (a replica seeding its first copy from its upstream, or a node starting); retry when GET /readyz answers 200", http.StatusServiceUnavailable}

// defaultMinLSNWait bounds a read-your-writes wait without ?timeout.
const defaultMinLSNWait = 5 * time.Second

// Query serves reads at the level asked:
//   - none: local data, whatever this node is;
//   - bounded: local data if this node's lag is at most MaxLag;
//   - weak and strong: the primary's data (a replica forwards them);
//   - MinLSN (with any level): first wait until this node has applied it.
func (n *Node) Query(ctx context.Context, req *command.QueryRequest) ([]command.Result, error) {
	select {
	case <-n.closing:
		return nil, ErrClosed
	default:
	}
	if !n.isReady() {
		return nil, errSeeding
	}
	if req.MinLSN > 0 {
		if err := n.waitApplied(ctx, req.MinLSN, req.MinLSNWait); err != nil {
			return nil, err
		}
	}
	if n.isReplica() {
		switch req.Level {
		case command.ReadWeak, command.ReadStrong:
			return n.forwardQuery(ctx, req)
		case command.ReadBounded:
			if lag := n.replicaLag(time.Now()); lag > req.MaxLag {
				return nil, &readError{fmt.Sprintf("this replica is %v behind its primary, over max_lag %v; read from the primary, or allow more lag", lag.Round(time.Millisecond), req.MaxLag), http.StatusServiceUnavailable}
			}
		}
		return n.db.Query(ctx, req, true)
	}
	primaryRead := req.Level == command.ReadWeak || req.Level == command.ReadStrong
	if primaryRead && !n.mayWrite() {
		// Without its lease this node may no longer be the primary: a
		// newer one may have acknowledged writes it does not have.
		return nil, n.errNoLease()
	}
	res, err := n.db.Query(ctx, req, true)
	if err == nil && req.Level == command.ReadStrong && !n.mayWrite() {
		return nil, n.errNoLease()
	}
	return res, err
}

// waitApplied waits until this node's database holds at (a write's commit
// LSN), up to wait.
func (n *Node) waitApplied(ctx context.Context, at lsn.LSN, wait time.Duration) error {
	if wait <= 0 {
		wait = defaultMinLSNWait
	}
	if !n.isReplica() {
		if n.appliedLSN() >= at {
			return nil
		}
		if at > n.log.End() {
			return &readError{fmt.Sprintf("min_lsn %s is beyond this primary's log end %s: it is not an LSN this cluster handed out", at, n.log.End()), http.StatusBadRequest}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if n.isReplica() {
		if err := n.app().waitApplied(ctx, at); err != nil {
			return &readError{err.Error() + "; read from the primary or wait longer (?timeout)", http.StatusGatewayTimeout}
		}
		return nil
	}
	// On the primary, only a batch still waiting for its commit is behind.
	if err := n.visible.wait(ctx, at); err != nil {
		return &readError{fmt.Sprintf("LSN %s not visible yet: %v", at, err), http.StatusGatewayTimeout}
	}
	return nil
}

// replicaLag is how far this replica's data trails its primary: the age
// of the oldest record it has received but not applied; when it has applied
// everything it received, zero if the upstream's last word says there is
// nothing more, else the time since the upstream last spoke.
func (n *Node) replicaLag(now time.Time) time.Duration {
	if at, ok := n.app().oldestPending(); ok {
		return max(now.Sub(at), 0)
	}
	st := n.clientStatus()
	if st.Connected && n.log.Durable() >= st.PrimaryLSN {
		return 0
	}
	if st.LastMessage.IsZero() {
		return now.Sub(n.start)
	}
	return max(now.Sub(st.LastMessage), 0)
}
