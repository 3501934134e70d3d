package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
	"github.com/tandem-db/tandem/stream"
)

// sink is the replica's side of the stream: received records go to the
// local log (same LSNs, same bytes), the applier replays them from there.
type sink struct{ n *Node }

var _ stream.Sink = sink{}

func (s sink) Position() lsn.LSN { return s.n.log.End() }

func (s sink) NeedsSeed() bool { return s.n.needsSeed.Load() }

func (s sink) InstallSeed(r io.Reader, size int64, at lsn.LSN) error {
	return s.n.installSeed(r, size, at)
}

func (s sink) Append(recs []*rlog.Record) error {
	if _, err := s.n.log.AppendReplicated(recs...); err != nil {
		s.failed(err)
		return err
	}
	for _, r := range recs {
		if r.GTID.Origin == s.n.id.UUID {
			raiseTo(&s.n.ownSeen, r.GTID.Seq)
		}
		if r.Term > s.n.lastTerm.Load() {
			// A new term begins here: keep it in the term history.
			if err := s.n.terms.add(r.Term, r.LSN); err != nil {
				return err
			}
			s.n.lastTerm.Store(r.Term)
		}
	}
	return nil
}

// LastTerm is the term of the last record in the replica's log.
func (s sink) LastTerm() uint64 { return s.n.lastTerm.Load() }

// failed stops the node visibly (/readyz, /status) when its log has
// failed: a write or fsync error cannot be retried safely, and a replica
// that only reconnected would look healthy while it replicates nothing.
func (s sink) failed(err error) {
	if errors.Is(err, rlog.ErrFailed) {
		s.n.fail(fmt.Errorf("replica log: %w", err))
	}
}

func (s sink) Sync() (lsn.LSN, error) {
	if err := s.n.log.Sync(); err != nil {
		s.failed(err)
		return 0, err
	}
	d := s.n.log.Durable()
	s.n.lag.add(d, time.Now()) // wall time, as status reads it (the HLC may run ahead)
	return d, nil
}

func (s sink) Applied() lsn.LSN {
	if !s.n.isReady() {
		return 0
	}
	pos, _ := s.n.app().position()
	return pos
}

func (s sink) HighestTerm() uint64 { return s.n.term.Load() }

// ObserveTerm makes a higher term durable before the replica follows it.
func (s sink) ObserveTerm(t uint64) error {
	cur := s.n.term.Load()
	switch {
	case t < cur:
		return fmt.Errorf("upstream term %d is lower than term %d this node has seen", t, cur)
	case t == cur:
		return nil
	}
	if err := saveTerm(s.n.cfg.DataDir, t); err != nil {
		return err
	}
	s.n.term.Store(t)
	return nil
}

// startClient starts streaming from the upstream.
func (n *Node) startClient() error {
	cc := stream.DefaultClientConfig()
	cc.Upstream, cc.Secret, cc.NodeID, cc.UUID = *n.upstream.Load(), n.cfg.ClusterSecret, n.cfg.NodeID, n.id.UUID
	cc.Compression, cc.Logger, cc.SourceAddr = n.cfg.Compression, n.logger, n.cfg.SourceAddr
	c, err := stream.NewClient(cc, sink{n})
	if err != nil {
		return fmt.Errorf("replication client: %w", err)
	}
	n.client.Store(c)
	ctx, cancel := context.WithCancel(n.ctx)
	n.stopClient = cancel
	n.clientDone = make(chan struct{})
	n.goFunc(func() {
		defer close(n.clientDone)
		if err := c.Run(ctx); err != nil {
			n.logger.Error("replication client stopped", "err", err)
		}
	})
	return nil
}

// clientStatus returns the stream client's status; zero when there is no
// client (a primary, or a role change under way).
func (n *Node) clientStatus() stream.ClientStatus {
	if c := n.streamClient(); c != nil {
		return c.Status()
	}
	return stream.ClientStatus{}
}

// appliedHook runs after the replica applier advances: the upstream hears
// of it at once (remote_apply waits), and so do cascaded standbys' waits.
func (n *Node) appliedHook() {
	if c := n.streamClient(); c != nil {
		c.NotifyApplied()
	}
}

// SkipTransaction skips the transaction a replica's applier stopped on.
func (n *Node) SkipTransaction(ctx context.Context, g string) error {
	if !n.isReplica() || !n.isReady() {
		return fmt.Errorf("skip: this node is not a running replica")
	}
	id, err := gtid.Parse(g)
	if err != nil {
		return err
	}
	return n.app().skip(id)
}

// Follow makes this replica stream from another upstream (a newly promoted
// primary, or another replica to cascade from), without a restart. The
// replica resumes from its own log's end; the new upstream refuses it,
// visibly in /status, if it cannot serve from there.
func (n *Node) Follow(ctx context.Context, upstream string) (string, error) {
	n.promoteMu.Lock()
	defer n.promoteMu.Unlock()
	if upstream == "" {
		return "", &promoteError{"follow: the upstream's replication address is empty"}
	}
	if !n.isReplica() {
		if !n.fenced.Load() {
			return "", &promoteError{"this node is a primary; only a replica, or a primary a switchover left fenced, can follow an upstream"}
		}
		// A switchover promoted its target but could not finish here: the
		// writer is stopped, so this node can become the target's replica.
		end := n.log.Durable()
		if err := n.demote(upstream, end, "follow", "a fenced primary follows "+upstream); err != nil {
			return "", err
		}
		return fmt.Sprintf("following %s from LSN %s (was a fenced primary)", upstream, end), nil
	}
	old := *n.upstream.Load()
	n.stopClient()
	<-n.clientDone
	n.upstream.Store(&upstream)
	if err := n.startClient(); err != nil {
		return "", err
	}
	end := n.log.End()
	n.history = append(n.history, roleEvent{At: time.Now().UTC(), Kind: "follow", Term: n.term.Load(), LSN: end,
		Reason: fmt.Sprintf("upstream %s -> %s", old, upstream)})
	n.logger.Info("following a new upstream", "old", old, "new", upstream, "from_lsn", end.String())
	return fmt.Sprintf("following %s from LSN %s (was %s)", upstream, end, old), nil
}
