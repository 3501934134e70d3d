package node

import (
	"fmt"
	"net/http"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/commitwait"
	"github.com/tandem-db/tandem/lsn"
)

// strongestLevel is the strongest commit level any request of the batch
// asks for; the batch commits as one, so it waits for that.
func strongestLevel(batch []*writeReq) command.CommitLevel {
	level := command.CommitLocal
	for _, r := range batch {
		if r.rec != nil && r.req.Commit > level {
			level = r.req.Commit
		}
	}
	return level
}

// syncError is a commit the standbys did not confirm. The transaction is
// committed on the primary; only its replication promise failed.
type syncError struct{ err error }

func (e *syncError) Error() string {
	return fmt.Sprintf("%v; the transaction is committed on this primary but not confirmed by the standbys its commit level needs", e.err)
}
func (e *syncError) Unwrap() error   { return e.err }
func (e *syncError) HTTPStatus() int { return http.StatusServiceUnavailable }

// noteSync records the outcome of a commit wait on the requests that
// asked for a replica level.
func (n *Node) noteSync(batch []*writeReq, res commitwait.Result, err error) {
	for _, r := range batch {
		if r.rec == nil || r.req.Commit < command.CommitRemoteWrite {
			continue
		}
		switch {
		case err != nil:
			r.syncErr = &syncError{err}
		case res.Degraded:
			r.resp.Warning = "synchronous replication is degraded (sync-mode fallback): committed without the standbys' acknowledgement"
		}
	}
}

// replyOne answers a request the writer has committed.
func (n *Node) replyOne(r *writeReq) {
	if r.rec != nil {
		r.resp.LSN, r.resp.GTID = r.rec.End(), r.rec.GTID
	}
	n.stats.requests.Add(1)
	if r.rec != nil && !n.mayWrite() {
		// The lease ran out while this transaction committed: a new
		// primary may already be taking writes without it.
		r.reply(nil, errLeaseLost)
		return
	}
	if r.syncErr != nil {
		r.reply(nil, r.syncErr)
		return
	}
	r.reply(r.resp, nil)
}

// waitAndReply is the after_commit sync point: the batch is visible, and
// the requests that asked for a replica level are answered once the
// standbys have acknowledged it, without holding up the writer.
func (n *Node) waitAndReply(batch []*writeReq, end lsn.LSN) {
	var remote []*writeReq
	level := command.CommitLocal
	for _, r := range batch {
		if r.rec != nil && r.req.Commit >= command.CommitRemoteWrite {
			r.deferred = true
			remote = append(remote, r)
			level = max(level, r.req.Commit)
		}
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		res, err := n.waiter.Wait(n.ctx, level, end)
		n.noteSync(remote, res, err)
		for _, r := range remote {
			n.replyOne(r)
		}
	}()
}

// committed runs after a batch is visible in SQLite.
func (n *Node) committed(end lsn.LSN) {
	n.visible.advance(end)
}
