package node

import (
	"context"
	"io"
	"time"

	"github.com/tandem-db/tandem/httpapi"
	"github.com/tandem-db/tandem/lsn"
)

var _ httpapi.Store = (*Node)(nil)

// Backup writes a consistent copy of the database.
func (n *Node) Backup(ctx context.Context, w io.Writer) error {
	if !n.isReady() {
		return errSeeding
	}
	info, err := n.db.Backup(ctx, w)
	if err == nil {
		n.logger.Info("backup sent", "applied_lsn", info.Applied.String(), "bytes", info.Bytes)
	}
	return err
}

// Ready reports whether the node can serve writes.
func (n *Node) Ready(ctx context.Context) error {
	select {
	case <-n.closing:
		return ErrClosed
	default:
	}
	if !n.isReady() {
		return errSeeding
	}
	return n.failure()
}

// Status is the document GET /status returns.
type Status struct {
	Node struct {
		ID        string    `json:"id"`
		UUID      string    `json:"uuid"`
		Role      string    `json:"role"`
		Term      uint64    `json:"term"`
		DataDir   string    `json:"data_dir"`
		HTTPAddr  string    `json:"http_addr"`
		ReplAddr  string    `json:"repl_addr,omitempty"`
		Format    string    `json:"format"`
		StartedAt time.Time `json:"started_at"`
		Uptime    string    `json:"uptime"`
		Ready     bool      `json:"ready"`
		Error     string    `json:"error,omitempty"`
		// History lists this node's role changes (promotions).
		History []roleEvent `json:"history,omitempty"`
	} `json:"node"`
	Log struct {
		First    lsn.LSN `json:"first_lsn"`
		End      lsn.LSN `json:"end_lsn"`
		Durable  lsn.LSN `json:"durable_lsn"`
		Segments int     `json:"segments"`
		Bytes    int64   `json:"bytes"`
	} `json:"log"`
	DB struct {
		Path       string  `json:"path"`
		AppliedLSN lsn.LSN `json:"applied_lsn"`
		LastGTID   string  `json:"last_gtid,omitempty"`
	} `json:"db"`
	Writer *writerStatus `json:"writer,omitempty"`
	// Replication is the primary's view of its standbys (and a cascading
	// replica's view of its own downstream).
	Replication *replicationStatus `json:"replication,omitempty"`
	// Upstream is a replica's view of its upstream and of its applier.
	Upstream *upstreamStatus `json:"upstream,omitempty"`
	Recovery recoveryInfo    `json:"recovery"`
	// Cluster is the HA cluster state as this member sees it.
	Cluster *ClusterStatus `json:"cluster,omitempty"`
}

type writerStatus struct {
	Queue          int     `json:"queue"`
	Batches        uint64  `json:"batches"`
	Transactions   uint64  `json:"transactions"`
	Requests       uint64  `json:"requests"`
	AvgBatch       float64 `json:"avg_batch"`
	AvgFsyncMillis float64 `json:"avg_fsync_ms"`
}

// Status reports the node's state.
func (n *Node) Status(ctx context.Context) (any, error) {
	var s Status
	if n.ha != nil {
		// Before the term: a promotion stores its new term before the role
		// flips, so this order never pairs the old term with a writable
		// primary.
		s.Cluster = n.ha.clusterStatus()
	}
	s.Node.ID, s.Node.UUID, s.Node.Term = n.cfg.NodeID, n.id.UUID.String(), n.term.Load()
	s.Node.Role = "primary"
	if n.isReplica() {
		s.Node.Role = "replica"
	}
	s.Node.DataDir, s.Node.HTTPAddr, s.Node.ReplAddr, s.Node.Format = n.cfg.DataDir, n.HTTPAddr(), n.ReplAddr(), n.format.String()
	s.Node.StartedAt, s.Node.Uptime = n.start.UTC(), time.Since(n.start).Round(time.Second).String()
	s.Node.Ready = n.isReady()
	n.promoteMu.Lock()
	s.Node.History = append([]roleEvent(nil), n.history...)
	n.promoteMu.Unlock()
	if err := n.failure(); err != nil {
		s.Node.Error = err.Error()
	}
	if n.isReplica() {
		s.Upstream = n.upstreamStatus()
	}
	if !s.Node.Ready {
		return &s, nil
	}
	s.Log.First, s.Log.End, s.Log.Durable = n.log.First(), n.log.End(), n.log.Durable()
	s.Log.Segments, s.Log.Bytes = len(n.log.Segments()), n.log.Size()
	s.DB.Path = n.db.Path()
	if applied, g, err := n.db.Applied(ctx); err == nil {
		s.DB.AppliedLSN = applied
		if !g.IsZero() {
			s.DB.LastGTID = g.String()
		}
	}
	if !n.isReplica() {
		b, t := n.stats.batches.Load(), n.stats.transactions.Load()
		s.Writer = &writerStatus{Queue: len(n.reqs), Batches: b, Transactions: t, Requests: n.stats.requests.Load()}
		if b > 0 {
			s.Writer.AvgBatch = float64(t) / float64(b)
			s.Writer.AvgFsyncMillis = float64(n.stats.fsyncNanos.Load()) / float64(b) / 1e6
		}
	}
	if n.server.Load() != nil || !n.isReplica() {
		s.Replication = n.replicationStatus(time.Now())
	}
	s.Recovery = n.recovery
	return &s, nil
}
