package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

// roleEvent is one entry of the node's role history, shown in /status.
type roleEvent struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Term   uint64    `json:"term"`
	LSN    lsn.LSN   `json:"lsn"`
	Reason string    `json:"reason"`
}

// promoteError refuses a promotion, saying why and what to do.
type promoteError struct{ msg string }

func (e *promoteError) Error() string   { return e.msg }
func (e *promoteError) HTTPStatus() int { return http.StatusConflict }

// promoteDrainTimeout bounds how long Promote waits for the applier to
// apply what the replica has received.
const promoteDrainTimeout = 30 * time.Second

// Promote turns this replica into a primary, for disaster recovery when
// no HA manager can (the last site standing). Without force it refuses and
// explains what could be lost: transactions the old primary committed that
// this replica has not received. With force it stops streaming, applies
// everything it has received, starts a new term at its log's end and
// accepts writes. If the old primary may still be accepting writes, it
// must be fenced first; replicas that follow it refuse it from then on,
// because its term is lower.
func (n *Node) Promote(ctx context.Context, force bool) (string, error) {
	n.promoteMu.Lock()
	defer n.promoteMu.Unlock()
	if !n.isReplica() {
		return "", &promoteError{fmt.Sprintf("this node is already the primary (term %d)", n.term.Load())}
	}
	if !n.isReady() {
		return "", &promoteError{"this replica is still seeding: it has no complete copy to promote"}
	}
	if a := n.app().status(); a.Stopped {
		return "", &promoteError{fmt.Sprintf("this replica's applier is stopped on %s (%s); fix or skip it before promoting", a.ErrorGTID, a.Error)}
	}
	st := n.clientStatus()
	durable := n.log.Durable()
	risk := fmt.Sprintf("this replica has flushed up to LSN %s; its upstream %s", durable, *n.upstream.Load())
	switch {
	case !st.LastMessage.IsZero():
		risk += fmt.Sprintf(" last reported its end at %s (%d bytes ahead) at %s", st.PrimaryLSN, st.PrimaryLSN.Sub(durable), st.LastMessage.UTC().Format(time.RFC3339Nano))
	default:
		risk += " has never been heard from"
	}
	if st.Connected {
		risk += ", and is still connected: the primary looks alive"
	}
	if !force {
		return "", &promoteError{"promoting a replica can lose transactions the old primary committed but this replica never received: " + risk +
			". If the old primary may still accept writes, stop or fence it first. Run again with --force to promote."}
	}

	msg, err := n.promoteLocked(ctx, n.term.Load()+1, "promote", "manual promote (--force): "+risk)
	if err == nil && n.ha != nil {
		// Outside the consensus: this node writes without a lease until
		// the cluster state moves past its term.
		n.ha.forced.Store(true)
		n.logger.Warn("manual promote of an HA member: it writes without the cluster's lease; the cluster fails it back over only once its state passes this term")
	}
	return msg, err
}

// promoteLocked stops streaming, applies what the replica received, and
// makes the node the primary of term (above its own), starting at its log's
// end. The caller holds promoteMu.
func (n *Node) promoteLocked(ctx context.Context, term uint64, kind, reason string) (string, error) {
	if term <= n.term.Load() {
		return "", &promoteError{fmt.Sprintf("promote to term %d: this node has already seen term %d", term, n.term.Load())}
	}
	n.stopClient()
	<-n.clientDone
	// An asynchronous replica fsyncs what it received a little late: make
	// the whole received tail durable, so the new term starts after every
	// record this node holds, and all of them are applied first.
	if err := n.log.Sync(); err != nil {
		return "", fmt.Errorf("promote: fsync the received log: %w; the node is still a replica, with streaming stopped: restart it to resume", err)
	}
	n.lag.add(n.log.Durable(), time.Now())
	dctx, cancel := context.WithTimeout(ctx, promoteDrainTimeout)
	err := n.app().waitApplied(dctx, n.log.End())
	cancel()
	if err != nil {
		// Streaming is stopped; the node stays a replica and says so.
		return "", fmt.Errorf("promote: apply what this replica received: %w; the node is still a replica, with streaming stopped: restart it to resume", err)
	}
	n.stopApplier()
	<-n.applierDone

	select {
	case <-n.ownScanned:
	case <-ctx.Done():
		return "", fmt.Errorf("promote: waiting for the scan of this node's own GTIDs: %w; the node is still a replica, with streaming stopped: restart it to resume", ctx.Err())
	}
	if err := n.ownScanErr; err != nil {
		return "", fmt.Errorf("promote: %w; the node is still a replica, with streaming stopped: restart it to resume", err)
	}
	seq := n.ownSeen.Load()
	end := n.log.End()
	if err := n.terms.add(term, end); err != nil {
		return "", fmt.Errorf("promote: %w", err)
	}
	if err := saveTerm(n.cfg.DataDir, term); err != nil {
		return "", fmt.Errorf("promote: %w", err)
	}
	n.term.Store(term)
	// A node that was primary before (a switchover) may have trimmed its own
	// records from its log since: its sequence goes on from what it knows.
	n.seq = max(n.seq, seq)
	n.visible.advance(end)
	n.replica.Store(false)
	// The stopped client stays until the role has flipped: a replica's
	// status and reads use it, also after a promotion that failed.
	n.client.Store(nil)
	n.fenced.Store(false)
	n.startWriter()
	ev := roleEvent{At: time.Now().UTC(), Kind: kind, Term: term, LSN: end, Reason: reason}
	n.history = append(n.history, ev)
	n.logger.Warn("promoted to primary", "term", term, "lsn", end.String(), "kind", kind, "reason", reason)
	return fmt.Sprintf("promoted to primary: term %d starts at LSN %s", term, end), nil
}

// lastOwnSeq finds the highest GTID sequence number this node assigned in
// the retained log, so a promoted node never hands out one twice.
func (n *Node) lastOwnSeq() (uint64, error) {
	r, err := n.log.NewReader(n.log.First())
	if err != nil {
		return 0, fmt.Errorf("scan the log for this node's GTIDs: %w", err)
	}
	defer r.Close()
	var seq uint64
	for {
		rec, err := r.TryNext()
		if errors.Is(err, io.EOF) {
			return seq, nil
		}
		if err != nil {
			return 0, fmt.Errorf("scan the log for this node's GTIDs: %w", err)
		}
		if rec.GTID.Origin == n.id.UUID {
			seq = max(seq, rec.GTID.Seq)
		}
	}
}
