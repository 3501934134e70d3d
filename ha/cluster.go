package ha

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Cluster is this node's handle on the replicated cluster state: a raft
// node (hashicorp/raft, bbolt stores under DataDir/raft, TCP transport)
// whose state machine is State. Every node reads its local copy with State;
// only the raft leader applies commands. It forwards nothing: callers on a
// follower get a *NotLeaderError naming the leader and send the command
// there themselves.
type Cluster struct {
	cfg   Config
	raft  *raft.Raft
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
	fsm   *fsm
	// existing says raft had state in DataDir when Open ran.
	existing bool

	leadership watchers[bool]
	changes    watchers[struct{}]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex // guards closed against wg.Add
	closed bool
}

// Open starts this node's raft, restoring its state from DataDir/raft, and
// bootstraps a new cluster when cfg.Bootstrap is set and there is no state
// yet. Close stops it.
func Open(cfg Config) (_ *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open ha: %w", err)
	}
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	hlog := newHCLogger(cfg.Logger)
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second}, // not forever if another process holds it
	})
	if err != nil {
		return nil, fmt.Errorf("open ha: raft store %s: %w (is another node using this data dir?)", filepath.Join(dir, "raft.db"), err)
	}
	closers = append(closers, store.Close)
	logs, err := raft.NewLogCache(512, store)
	if err != nil {
		return nil, fmt.Errorf("open ha: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hlog)
	if err != nil {
		return nil, fmt.Errorf("open ha: snapshot store: %w", err)
	}
	stream, err := newStreamLayer(cfg.RaftAddr, cfg.RaftAdvertise, cfg.SourceAddr)
	if err != nil {
		return nil, fmt.Errorf("open ha: %w", err)
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: hlog,
	})
	closers = append(closers, trans.Close)

	c := &Cluster{cfg: cfg, trans: trans, store: store}
	c.fsm = newFSM(func() { c.changes.publish(struct{}{}) })
	c.ctx, c.cancel = context.WithCancel(context.Background())
	closers = append(closers, func() error { c.cancel(); return nil })

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = hlog
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("open ha: %w: %v", ErrBadConfig, err)
	}
	existing, err := raft.HasExistingState(logs, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("open ha: read raft state: %w", err)
	}
	c.existing = existing
	if c.raft, err = raft.NewRaft(rc, c.fsm, logs, store, snaps, trans); err != nil {
		return nil, fmt.Errorf("open ha: %w", err)
	}
	closers = append(closers, func() error { return c.raft.Shutdown().Error() })
	if cfg.Bootstrap && !existing {
		boot := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: rc.LocalID, Address: trans.LocalAddr()}}}
		if err := c.raft.BootstrapCluster(boot).Error(); err != nil {
			return nil, fmt.Errorf("open ha: bootstrap: %w", err)
		}
	}
	c.leadership.publish(false)
	c.goFunc(c.watchLeadership)
	return c, nil
}

// goFunc runs f in a goroutine that Close waits for; false once closed.
func (c *Cluster) goFunc(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

func (c *Cluster) watchLeadership() {
	ch := c.raft.LeaderCh()
	for {
		select {
		case <-c.ctx.Done():
			return
		case v := <-ch:
			c.leadership.publish(v)
		}
	}
}

// Addr returns the raft address other nodes dial to reach this one.
func (c *Cluster) Addr() string { return string(c.trans.LocalAddr()) }

// Existing reports whether this node had raft state when it opened: it is
// a member already, and its state fills in as raft replays its log.
func (c *Cluster) Existing() bool { return c.existing }

// ID returns this node's id.
func (c *Cluster) ID() string { return c.cfg.NodeID }

// IsLeader reports whether this node is the raft leader now.
func (c *Cluster) IsLeader() bool { return c.raft.State() == raft.Leader }

// Leader returns the raft leader's id and raft address as this node knows
// them; empty while there is none (an election).
func (c *Cluster) Leader() (id, addr string) {
	a, i := c.raft.LeaderWithID()
	return string(i), string(a)
}

// State returns a copy of this node's state. On a follower it may lag the
// leader's by the entries not yet replicated.
func (c *Cluster) State() State { return c.fsm.get() }

// WatchLeadership returns a channel that receives whether this node is the
// raft leader: now, then on every change (a slow reader sees the latest
// value, not every one). It is closed by Close. Each call adds a
// subscriber that lives until Close, so call it once per consumer.
func (c *Cluster) WatchLeadership() <-chan bool { return c.leadership.subscribe() }

// WatchState returns a channel that receives a signal after the state
// changes (a command applied or a snapshot restored); read State then.
// Signals coalesce. It is closed by Close.
func (c *Cluster) WatchState() <-chan struct{} { return c.changes.subscribe() }

// Apply commits cmd through raft and applies it, on the leader only. It
// returns the state machine's refusal (a *CommandError) if the command is
// invalid, a *NotLeaderError on a follower, or ctx's error if ctx ends
// first; in that last case, and when leadership is lost mid-way, the
// command may still be applied: read State before retrying.
func (c *Cluster) Apply(ctx context.Context, cmd Command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := Encode(cmd)
	if err != nil {
		return err
	}
	if !c.IsLeader() {
		return c.notLeader()
	}
	var timeout time.Duration // raft: how long to wait to enqueue; 0 is forever
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return ctx.Err()
		}
	}
	f := c.raft.Apply(b, timeout)
	if err := c.wait(ctx, f); err != nil {
		return fmt.Errorf("apply %s: %w", cmd.CommandType(), err)
	}
	if err, ok := f.Response().(error); ok && err != nil {
		return err
	}
	return nil
}

// wait waits for a raft future or ctx, mapping raft's errors to ours.
func (c *Cluster) wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	if !c.goFunc(func() { done <- f.Error() }) {
		return ErrClosed
	}
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		return fmt.Errorf("%w; the change may still be applied", ctx.Err())
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return c.notLeader()
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v; the change may or may not have been applied: read the state before retrying", ErrNotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return err
}

func (c *Cluster) notLeader() error {
	id, addr := c.Leader()
	return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
}

// Barrier waits, on the leader, until every command committed before it
// has been applied to this node's State: a new leader calls it before it
// acts on the state, which may lag what earlier leaders committed.
func (c *Cluster) Barrier(ctx context.Context) error {
	if !c.IsLeader() {
		return c.notLeader()
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return ctx.Err()
		}
	}
	return c.wait(ctx, c.raft.Barrier(timeout))
}

// Join adds a node to the raft configuration, as a voter or not, on the
// leader only. Joining again with the same id and address is a no-op (or
// changes the node's suffrage); with a new address it replaces the old
// entry. Join changes raft's membership only: record the member's
// addresses with an AddMember command too (first, so a retried join finds
// it; both are idempotent).
func (c *Cluster) Join(id, raftAddr string, voter bool) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: join: node id %q: use 1-63 letters, digits, '.', '_' or '-'", ErrBadCommand, id)
	}
	if _, _, err := net.SplitHostPort(raftAddr); err != nil {
		return fmt.Errorf("%w: join %s: raft address %q is not HOST:PORT", ErrBadCommand, id, raftAddr)
	}
	if !c.IsLeader() {
		return c.notLeader()
	}
	cf := c.raft.GetConfiguration()
	if err := c.wait(context.Background(), cf); err != nil {
		return fmt.Errorf("join %s: %w", id, err)
	}
	sid, saddr := raft.ServerID(id), raft.ServerAddress(raftAddr)
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == sid && s.Address == saddr:
			isVoter := s.Suffrage == raft.Voter
			if isVoter == voter {
				return nil
			}
			if !voter {
				return c.waitf("join "+id, c.raft.DemoteVoter(sid, 0, 0))
			}
		case s.ID == sid || s.Address == saddr:
			if err := c.waitf("join "+id+": remove old entry "+string(s.ID), c.raft.RemoveServer(s.ID, 0, 0)); err != nil {
				return err
			}
		}
	}
	if voter {
		return c.waitf("join "+id, c.raft.AddVoter(sid, saddr, 0, 0))
	}
	return c.waitf("join "+id, c.raft.AddNonvoter(sid, saddr, 0, 0))
}

// Remove removes a node from the raft configuration, on the leader only.
// Record it with a RemoveMember command too.
func (c *Cluster) Remove(id string) error {
	if !c.IsLeader() {
		return c.notLeader()
	}
	return c.waitf("remove "+id, c.raft.RemoveServer(raft.ServerID(id), 0, 0))
}

func (c *Cluster) waitf(what string, f raft.Future) error {
	if err := c.wait(context.Background(), f); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Server is one entry of the raft configuration.
type Server struct {
	ID    string
	Addr  string
	Voter bool
}

// Servers returns the raft configuration as this node knows it.
func (c *Cluster) Servers() ([]Server, error) {
	cf := c.raft.GetConfiguration()
	if err := c.wait(context.Background(), cf); err != nil {
		return nil, err
	}
	var out []Server
	for _, s := range cf.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// snapshot makes raft take a snapshot now.
func (c *Cluster) snapshot() error { return c.waitf("snapshot", c.raft.Snapshot()) }

// Close stops raft, closes the transport and the store, waits for this
// Cluster's goroutines, and closes the watch channels. It does not leave
// the cluster: the others see this node as down until it reopens or is
// removed. A second Close returns nil.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	errRaft := c.raft.Shutdown().Error() // also closes the transport
	c.cancel()
	errTrans := c.trans.Close()
	c.wg.Wait()
	errStore := c.store.Close()
	c.leadership.close()
	c.changes.close()
	if err := errors.Join(errRaft, errTrans, errStore); err != nil {
		return fmt.Errorf("close ha: %w", err)
	}
	return nil
}
