package node

import (
	"sort"
	"time"

	"github.com/tandem-db/tandem/commitwait"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/stream"
)

// replicationStatus is what pg_stat_replication shows: one row per
// standby, plus the synchronous replication settings and state.
type replicationStatus struct {
	SyncStandbys string          `json:"sync_standbys"`
	SyncMode     string          `json:"sync_mode"`
	SyncTimeout  string          `json:"sync_timeout"`
	SyncPoint    string          `json:"sync_point"`
	Degraded     bool            `json:"degraded"`
	DegradedNote string          `json:"degraded_reason,omitempty"`
	Since        time.Time       `json:"since"`
	Waiting      int             `json:"waiting_commits"`
	Replicas     []replicaStatus `json:"replicas"`
}

// replicaStatus is one standby as its upstream sees it.
type replicaStatus struct {
	Name           string    `json:"name"`
	Addr           string    `json:"addr,omitempty"`
	State          string    `json:"state"`
	SyncState      string    `json:"sync_state"`
	SentLSN        lsn.LSN   `json:"sent_lsn"`
	WriteLSN       lsn.LSN   `json:"write_lsn"`
	FlushLSN       lsn.LSN   `json:"flush_lsn"`
	ApplyLSN       lsn.LSN   `json:"apply_lsn"`
	WriteLagBytes  uint64    `json:"write_lag_bytes"`
	FlushLagBytes  uint64    `json:"flush_lag_bytes"`
	ApplyLagBytes  uint64    `json:"apply_lag_bytes"`
	WriteLag       float64   `json:"write_lag_s"`
	FlushLag       float64   `json:"flush_lag_s"`
	ApplyLag       float64   `json:"apply_lag_s"`
	LastAckAt      time.Time `json:"last_ack_at,omitempty"`
	ConnectedSince time.Time `json:"connected_since,omitempty"`
	Compression    bool      `json:"compression"`
	BytesSent      int64     `json:"bytes_sent"`
	BytesOnWire    int64     `json:"bytes_on_wire"`
	Ratio          float64   `json:"compression_ratio"`
	SlotLSN        lsn.LSN   `json:"slot_restart_lsn"`
	LastError      string    `json:"last_error,omitempty"`
}

func (n *Node) replicationStatus(now time.Time) *replicationStatus {
	ws := n.waiter.State()
	rs := &replicationStatus{SyncStandbys: ws.Config.String(), SyncMode: ws.Mode.String(), SyncTimeout: ws.Timeout.String(),
		SyncPoint: n.cfg.SyncPoint, Degraded: ws.Degraded, DegradedNote: ws.Reason, Since: ws.Since, Waiting: ws.Waiting}
	end := n.log.Durable()
	seen := map[string]bool{}
	var stats []stream.SenderStats
	if srv := n.server.Load(); srv != nil {
		stats = srv.Stats()
	}
	slotLSN := map[string]slot{}
	for _, sl := range n.slots.list() {
		slotLSN[sl.Name] = sl
	}
	for _, st := range stats {
		seen[st.Replica] = true
		a := st.LastAck
		r := replicaStatus{Name: st.Replica, Addr: st.Remote, State: st.State, SentLSN: st.SentLSN,
			WriteLSN: a.Write, FlushLSN: a.Flush, ApplyLSN: a.Apply,
			WriteLagBytes: end.Sub(a.Write), FlushLagBytes: end.Sub(a.Flush), ApplyLagBytes: end.Sub(a.Apply),
			WriteLag:  n.lag.lag(a.Write, end, now).Seconds(),
			FlushLag:  n.lag.lag(a.Flush, end, now).Seconds(),
			ApplyLag:  n.lag.lag(a.Apply, end, now).Seconds(),
			LastAckAt: st.LastAckAt, ConnectedSince: st.ConnectedSince, Compression: st.Compression,
			BytesSent: st.Sent.Raw, BytesOnWire: st.Sent.Wire, Ratio: st.Sent.Ratio(), LastError: st.LastError,
			SyncState: syncStateOf(ws, st.Replica)}
		if sl, ok := slotLSN[st.Replica]; ok {
			r.SlotLSN = sl.LSN
			if sl.Lost {
				r.State, r.LastError = "lost", sl.Reason
			}
		}
		rs.Replicas = append(rs.Replicas, r)
	}
	for name, sl := range slotLSN {
		if seen[name] {
			continue
		}
		r := replicaStatus{Name: name, State: "disconnected", SlotLSN: sl.LSN, SyncState: "async",
			FlushLagBytes: end.Sub(sl.LSN)}
		if sl.Lost {
			r.State, r.LastError = "lost", sl.Reason
		}
		rs.Replicas = append(rs.Replicas, r)
	}
	sort.Slice(rs.Replicas, func(i, j int) bool { return rs.Replicas[i].Name < rs.Replicas[j].Name })
	return rs
}

func syncStateOf(ws commitwait.State, name string) string {
	if s, ok := ws.SyncStates[name]; ok {
		return s
	}
	return commitwait.StateAsync
}

// upstreamStatus is a replica's view, as pg_stat_wal_receiver and MySQL's
// SHOW REPLICA STATUS show it.
type upstreamStatus struct {
	stream.ClientStatus
	applyStatus
	ApplyLagBytes uint64  `json:"apply_lag_bytes"`
	Lag           float64 `json:"lag_s"`
	Forwarding    bool    `json:"forward_writes"`
}

func (n *Node) upstreamStatus() *upstreamStatus {
	us := &upstreamStatus{ClientStatus: n.clientStatus(), Forwarding: n.cfg.ForwardWrites}
	if n.isReady() {
		us.applyStatus = n.app().status()
		us.ApplyLagBytes = us.PrimaryLSN.Sub(us.Applied)
		us.Lag = n.replicaLag(time.Now()).Seconds()
	}
	return us
}
