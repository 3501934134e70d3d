package ha

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config configures one node's membership in the cluster state. Start from
// DefaultConfig, set NodeID, RaftAddr and DataDir, and Open validates it.
//
// The timing knobs trade failover speed against false failovers. Raft's
// follower notices a dead leader within HeartbeatTimeout to twice that and
// then runs an election; the primary's lease bounds how long a dead
// primary goes unnoticed (a Promote waits for the lease to expire). Shorter
// values fail over sooner, but a GC pause, a slow fsync or a loaded
// network that lasts longer than they do then looks like a failure: the
// raft leader changes, or the primary stops writing and is replaced. The
// defaults suit a LAN with sub-millisecond round trips and aim at a
// failover in under a second.
type Config struct {
	// NodeID is the node's name in the cluster (node.Config.NodeID).
	NodeID string
	// RaftAddr is the HOST:PORT raft listens on; port 0 picks a free port
	// (tests), which Cluster.Addr then reports.
	RaftAddr string
	// RaftAdvertise is the address the other nodes dial, when it differs
	// from RaftAddr (a wildcard bind, NAT). Empty: the bound address.
	RaftAdvertise string
	// SourceAddr, when set, is the local IP raft dials other nodes from.
	SourceAddr string
	// DataDir is the node's data directory; raft keeps its log, stable
	// store and snapshots under DataDir/raft.
	DataDir string
	// Bootstrap makes this node the first voter of a new cluster, if it has
	// no raft state yet; on a restart it is ignored.
	Bootstrap bool
	// Voter says whether this node should vote. It is what the node asks
	// for when it joins; the leader's Join decides. A bootstrapping node
	// must be a voter.
	Voter bool
	// Logger receives raft's log lines (with component=raft); discarded
	// when nil.
	Logger *slog.Logger

	// HeartbeatTimeout is how long a follower waits without hearing from
	// the leader before it calls an election (raft randomises it up to
	// twice that). The leader sends heartbeats ten times as often.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes before it
	// tries again.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a raft leader stays leader without
	// hearing from a quorum; at most HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout bounds how long the leader waits before it sends new
	// entries when nothing else triggers a send.
	CommitTimeout time.Duration
	// SnapshotInterval is how often raft checks whether to snapshot;
	// SnapshotThreshold is how many new entries make it do so; TrailingLogs
	// is how many entries it keeps after a snapshot for slow followers.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64

	// LeaseDuration is how long a primary's lease lasts after each renewal
	// (renewed every third of it); LeaseMargin is how long before its end
	// the primary stops writing, and must exceed the largest offset
	// between the nodes' clocks. See LeaseTimer.
	LeaseDuration time.Duration
	LeaseMargin   time.Duration
}

// DefaultConfig returns the defaults, tuned for failover within a second on
// a LAN; NodeID, RaftAddr and DataDir are left to set.
func DefaultConfig() Config {
	return Config{
		Voter:              true,
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 150 * time.Millisecond,
		CommitTimeout:      10 * time.Millisecond,
		SnapshotInterval:   30 * time.Second,
		SnapshotThreshold:  4096,
		TrailingLogs:       2048,
		LeaseDuration:      800 * time.Millisecond,
		LeaseMargin:        100 * time.Millisecond,
	}
}

// Validate reports every problem with the config, each saying what to do.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...))
	}
	if !idPattern.MatchString(c.NodeID) {
		bad("node id %q: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", c.NodeID)
	}
	if _, _, err := net.SplitHostPort(c.RaftAddr); err != nil {
		bad("raft address %q: want HOST:PORT", c.RaftAddr)
	}
	if c.RaftAdvertise != "" {
		if _, _, err := net.SplitHostPort(c.RaftAdvertise); err != nil {
			bad("raft advertise address %q: want HOST:PORT", c.RaftAdvertise)
		}
	}
	if c.SourceAddr != "" && net.ParseIP(c.SourceAddr) == nil {
		bad("source address %q: want an IP address", c.SourceAddr)
	}
	if c.DataDir == "" {
		bad("no data directory")
	}
	if c.Bootstrap && !c.Voter {
		bad("a bootstrapping node must be a voter")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"heartbeat timeout", c.HeartbeatTimeout}, {"election timeout", c.ElectionTimeout},
		{"leader lease timeout", c.LeaderLeaseTimeout}, {"commit timeout", c.CommitTimeout}, {"snapshot interval", c.SnapshotInterval}} {
		if d.v < 5*time.Millisecond {
			bad("%s %s: want at least 5ms", d.name, d.v)
		}
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		bad("leader lease timeout %s exceeds the heartbeat timeout %s", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		bad("election timeout %s is below the heartbeat timeout %s", c.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.SnapshotThreshold == 0 {
		bad("snapshot threshold 0: want at least 1 entry")
	}
	if _, err := NewLeaseTimer(c.LeaseDuration, c.LeaseMargin); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// LeaseTimer returns a timer with the config's lease duration and margin.
func (c Config) LeaseTimer() (*LeaseTimer, error) {
	return NewLeaseTimer(c.LeaseDuration, c.LeaseMargin)
}
