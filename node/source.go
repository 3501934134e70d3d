package node

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/tandem-db/tandem/commitwait"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
	"github.com/tandem-db/tandem/stream"
)

// source is what the replication server reads: this node's log, slots and
// snapshots. A replica serves it too, to cascade.
type source struct{ n *Node }

var _ stream.Source = source{}

func (s source) Term() uint64 { return s.n.term.Load() }

func (s source) Durable() lsn.LSN { return s.n.log.Durable() }

func (s source) NewReader(from lsn.LSN) (*rlog.Reader, error) { return s.n.log.NewReader(from) }

func (s source) Attach(h *stream.Hello) error {
	if forked := s.n.terms.endOf(h.LastTerm); !h.Seed && h.LastTerm > 0 && h.Start > forked {
		return &stream.Error{Code: stream.CodeDiverged, Message: fmt.Sprintf(
			"replica %s's log continues term %d up to LSN %s, but on this node term %d ended at LSN %s: its log forked from this node's history and holds records this node never had; it must be rewound to LSN %s or re-seed: stop it, empty its data dir and start it again",
			h.NodeID, h.LastTerm, h.Start, h.LastTerm, forked, forked)}
	}
	if end := s.n.log.Durable(); !h.Seed && h.Start > end && s.n.isReplica() {
		// A replica serving a cascade (or about to be promoted, its new
		// downstream re-pointed first) may still catch up: retry.
		return &stream.Error{Code: stream.CodeUnavailable, Message: fmt.Sprintf(
			"replica %s asks to resume at LSN %s, beyond this replica's log end %s: retrying until it catches up or is promoted",
			h.NodeID, h.Start, end)}
	}
	if end := s.n.log.Durable(); !h.Seed && h.Start > end {
		return &stream.Error{Code: stream.CodeDiverged, Message: fmt.Sprintf(
			"replica %s asks to resume at LSN %s, beyond this node's log end %s: its log has records this node does not; it must re-seed: stop it, empty its data dir and start it again",
			h.NodeID, h.Start, end)}
	}
	if err := s.n.slots.attach(h.NodeID, h.Start, h.Seed, s.n.appliedLSN()); err != nil {
		code := stream.CodeStartNotAvailable
		if s.n.slots.isLost(h.NodeID) {
			code = stream.CodeSlotLost
		}
		return &stream.Error{Code: code, Message: err.Error()}
	}
	return nil
}

// Seed takes a consistent backup into a temporary file and hands it out.
func (s source) Seed(ctx context.Context) (*stream.Snapshot, error) {
	f, err := os.CreateTemp(s.n.cfg.DataDir, ".seed-*.db")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // unlinked: gone when closed, whatever happens
	info, err := s.n.db.Backup(ctx, f)
	if err == nil {
		_, err = f.Seek(0, 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("seed backup: %w", err)
	}
	s.n.logger.Info("seeding a replica", "lsn", info.Applied.String(), "bytes", info.Bytes)
	return &stream.Snapshot{Reader: f, Size: info.Bytes, LSN: info.Applied}, nil
}

func (s source) Acked(replica string, a stream.Ack) {
	s.n.waiter.Update(replica, commitwait.Positions{Write: a.Write, Flush: a.Flush, Apply: a.Apply})
	s.n.slots.advance(replica, a.Flush)
}

func (s source) Detached(replica string, err error) {
	s.n.waiter.Disconnect(replica)
}

// Synchronous reports whether the sync standby list names (or matches)
// the replica. A replica's own downstream is never synchronous.
func (s source) Synchronous(replica string) bool {
	return !s.n.isReplica() && s.n.waiter.State().Config.Priority(replica) > 0
}

// ApplyWaits reports whether a remote_apply commit ran in the last
// applyWaitWindow: standbys then apply at once instead of batching.
func (s source) ApplyWaits() bool {
	last := s.n.lastRemoteApply.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < applyWaitWindow
}

// applyWaitWindow is how long after a remote_apply commit standbys keep
// applying at once.
const applyWaitWindow = 30 * time.Second

func (s source) PrimaryHTTP() string {
	if s.n.isReplica() {
		return s.n.primaryHTTP()
	}
	return cmp.Or(s.n.cfg.HTTPAdvertise, s.n.HTTPAddr())
}

// startServer serves the log to replicas.
func (n *Node) startServer() error {
	sc := stream.DefaultServerConfig()
	sc.Addr, sc.Secret, sc.NodeID, sc.UUID = n.cfg.ReplAddr, n.cfg.ClusterSecret, n.cfg.NodeID, n.id.UUID
	sc.Compression, sc.Heartbeat, sc.Logger = n.cfg.Compression, n.cfg.Heartbeat, n.logger
	srv, err := stream.NewServer(sc, source{n})
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		return fmt.Errorf("replication server on %s: %w", n.cfg.ReplAddr, err)
	}
	n.server.Store(srv)
	n.logger.Info("serving replication", "addr", srv.Addr().String())
	return nil
}

// ReplAddr returns the replication listen address, or "".
func (n *Node) ReplAddr() string {
	if srv := n.server.Load(); srv != nil {
		return srv.Addr().String()
	}
	return ""
}

// appliedLSN is how far this node's database has applied the log.
func (n *Node) appliedLSN() lsn.LSN {
	if n.isReplica() {
		pos, _ := n.app().position()
		return pos
	}
	pos, _ := n.visible.get()
	return pos
}
