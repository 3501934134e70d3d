package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/commitwait"
	"github.com/tandem-db/tandem/ha"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/stream"
)

// haStartTimeout bounds how long Open waits to bootstrap or join the
// cluster and learn who the primary is.
const haStartTimeout = 30 * time.Second

// reconcileInterval is how often a member compares its role with the
// cluster state even when nothing signals a change (a diverged stream, a
// failed step to retry).
const reconcileInterval = 50 * time.Millisecond

// haNode is a node's part in automatic failover: its raft member of the
// cluster state, the primary's lease, the failover manager that runs on
// the raft leader, and the reconciler that makes the node's role follow
// the state. ha/DESIGN.md says what each promises.
type haNode struct {
	n       *Node
	cluster *ha.Cluster
	peers   *peerClient

	mu    sync.Mutex
	timer *ha.LeaseTimer // guarded by mu
	// gen counts revocations (guarded by mu): a renewal in flight across
	// one must not bring the lease back.
	gen uint64
	// promoting is set while the cluster state has made this replica the
	// primary and it drains what it received: it renews the lease then,
	// so that the manager does not fail it over for a slow drain.
	promoting atomic.Bool
	// leaseUntil is when writes must stop, as nanoseconds since n.start on
	// the monotonic clock: the writer reads it without a lock.
	leaseUntil atomic.Int64
	// seenTerm is the term of the cluster state the reconciler last saw.
	seenTerm termWatch
	// hold stops renewals: a switchover released the lease.
	hold atomic.Bool
	// forced is set by a manual promote outside the consensus: this node
	// writes without a lease until the cluster state moves past its term.
	forced atomic.Bool
	// kick wakes the lease loop and the reconciler after a role change.
	kickLease, kickReconcile chan struct{}

	// seen is the manager's view of the lease, on this node's monotonic
	// clock: when it last saw the lease (or the primary) change.
	seen struct {
		key     ha.Lease
		primary string
		term    uint64
		at      time.Time
	}

	status struct {
		sync.Mutex
		lastFailover   string    // the failover manager's last attempt
		lastFailoverAt time.Time //
		rewindErr      string    // the last automatic rewind that failed
		removed        bool      // this node is no longer a member
		stepErr        string    // the reconciler's last failed step, logged once
		divergedAt     time.Time // the diverged refusal already acted on
		renewErr       string
	}
}

// openHA opens the node's raft member and makes sure it is a member of a
// cluster that has a primary: it bootstraps a new cluster or joins one as
// configured. It sets cfg.Primary to the primary's replication address
// when that is another node, so Open starts the right role.
func (n *Node) openHA() error {
	hc := ha.DefaultConfig()
	hc.NodeID, hc.RaftAddr, hc.DataDir = n.cfg.NodeID, n.cfg.RaftAddr, n.cfg.DataDir
	hc.Bootstrap, hc.Voter, hc.Logger = n.cfg.Bootstrap, !n.cfg.NonVoter, n.logger
	hc.LeaseDuration, hc.LeaseMargin = n.cfg.LeaseDuration, n.cfg.LeaseMargin
	hc.RaftAdvertise, hc.SourceAddr = n.cfg.RaftAdvertise, n.cfg.SourceAddr
	timer, err := hc.LeaseTimer()
	if err != nil {
		return err
	}
	c, err := ha.Open(hc)
	if err != nil {
		return err
	}
	h := &haNode{n: n, cluster: c, timer: timer, peers: newPeerClient(n.cfg.ClusterSecret, n.cfg.SourceAddr),
		kickLease: make(chan struct{}, 1), kickReconcile: make(chan struct{}, 1)}
	n.ha = h
	self := ha.Member{ID: n.cfg.NodeID, HTTPAddr: cmp.Or(n.cfg.HTTPAdvertise, n.cfg.HTTPAddr), ReplAddr: cmp.Or(n.cfg.ReplAdvertise, n.cfg.ReplAddr), RaftAddr: c.Addr(),
		Priority: n.cfg.Priority, NoFailover: n.cfg.NoFailover, Voter: !n.cfg.NonVoter}
	ctx, cancel := context.WithTimeout(n.ctx, haStartTimeout)
	defer cancel()
	switch {
	case c.Existing():
		// A restart: the state fills in as raft replays its log.
	case n.cfg.Bootstrap:
		err = h.bootstrap(ctx, self)
	case n.cfg.Join != "":
		err = h.join(ctx, n.cfg.Join, self)
	default:
		err = errors.New("this node has no cluster state: start the first member with --bootstrap and the others with --join HTTP_ADDR of a member")
	}
	if err != nil {
		return fmt.Errorf("HA cluster: %w", err)
	}
	bootstrapped := !c.Existing()
	st, err := h.waitState(ctx, func(s ha.State) bool {
		if n.cfg.Bootstrap && !bootstrapped && s.Primary == "" && c.IsLeader() {
			// A bootstrap that stopped half-way: finish it.
			bootstrapped = true
			if err := h.bootstrap(ctx, self); err != nil {
				n.logger.Warn("finish bootstrapping the cluster", "err", err)
			}
		}
		_, member := s.Members[self.ID]
		_, primary := s.Members[s.Primary]
		return member && primary
	})
	if err != nil {
		return fmt.Errorf("HA cluster: waiting for this node's membership and a primary in the cluster state (is a majority of the voters up?): %w", err)
	}
	if st.Members[self.ID] != self {
		// Restarted with new addresses or flags: update the record.
		if err := h.joinAny(ctx, st, self); err != nil {
			n.logger.Warn("update this node's member record", "err", err)
		}
	}
	if st.Primary != self.ID {
		n.cfg.Primary = st.Members[st.Primary].ReplAddr
	}
	if st.Commit.Mode != "" {
		n.cfg.SyncStandbys, n.cfg.SyncMode, n.cfg.SyncTimeout = st.Commit.SyncStandbys, st.Commit.Mode, st.Commit.Timeout
	}
	n.logger.Info("member of the HA cluster", "raft_addr", c.Addr(), "primary", st.Primary, "term", st.Term, "members", len(st.Members))
	return nil
}

// bootstrap makes this node the first member and primary of a new cluster.
func (h *haNode) bootstrap(ctx context.Context, self ha.Member) error {
	if _, err := h.waitState(ctx, func(ha.State) bool { return h.cluster.IsLeader() }); err != nil {
		return fmt.Errorf("bootstrap: this node did not become the raft leader: %w", err)
	}
	n := h.n
	now := n.wall()
	cmds := []ha.Command{
		ha.AddMember{Member: self, Now: now},
		ha.SetCommitConfig{SyncStandbys: n.cfg.SyncStandbys, Mode: n.cfg.SyncMode, Timeout: n.cfg.SyncTimeout},
		ha.Promote{NewPrimary: self.ID, NewTerm: n.term.Load(), Kind: ha.KindPromote, Reason: "bootstrapped the cluster", Now: now},
	}
	for _, cmd := range cmds {
		if err := h.cluster.Apply(ctx, cmd); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	n.logger.Info("bootstrapped a new HA cluster", "primary", self.ID, "term", n.term.Load())
	return nil
}

// join asks the member at addr (any member: it passes the request to the
// raft leader) to add this node, retrying until ctx ends.
func (h *haNode) join(ctx context.Context, addr string, self ha.Member) error {
	var err error
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		if err = h.peers.post(ctx, addr, "/cluster/join", self, nil); err == nil {
			return nil
		}
		if !retryable(err) {
			return fmt.Errorf("join through %s: %w", addr, err)
		}
		h.n.logger.Info("joining the HA cluster; retrying", "via", addr, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("join through %s: %w (last error: %v)", addr, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// joinAny updates this node's member record through any member it knows.
func (h *haNode) joinAny(ctx context.Context, st ha.State, self ha.Member) error {
	var errs []error
	for _, m := range st.SortedMembers() {
		if m.ID == self.ID {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := h.peers.post(cctx, m.HTTPAddr, "/cluster/join", self, nil)
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.ID, err))
	}
	if h.cluster.IsLeader() {
		return h.addMember(ctx, self)
	}
	// Not fatal: the node runs with its old record.
	h.n.logger.Warn("could not update this node's member record; running with the old one", "err", errors.Join(errs...))
	return nil
}

// addMember records m and adds it to raft, on the leader.
func (h *haNode) addMember(ctx context.Context, m ha.Member) error {
	if err := h.cluster.Apply(ctx, ha.AddMember{Member: m, Now: h.n.wall()}); err != nil {
		return err
	}
	return h.cluster.Join(m.ID, m.RaftAddr, m.Voter)
}

// waitState waits until ok holds for the local cluster state.
func (h *haNode) waitState(ctx context.Context, ok func(ha.State) bool) (ha.State, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		st := h.cluster.State()
		if ok(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
	}
}

// start runs the lease loop, the failover manager and the reconciler.
func (h *haNode) start() {
	h.n.goFunc(h.leaseLoop)
	h.n.goFunc(h.manage)
	h.n.goFunc(h.reconcileLoop)
}

func (h *haNode) close() error { return h.cluster.Close() }

// termWatch holds a term and wakes those waiting for it to grow.
type termWatch struct {
	mu      sync.Mutex
	term    uint64
	changed chan struct{} // closed when term grows, then replaced
}

// get returns the term and a channel closed once it grows.
func (w *termWatch) get() (uint64, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed == nil {
		w.changed = make(chan struct{})
	}
	return w.term, w.changed
}

// raise sets the term if t is larger, waking the waiters.
func (w *termWatch) raise(t uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t <= w.term {
		return
	}
	w.term = t
	if w.changed != nil {
		close(w.changed)
	}
	w.changed = make(chan struct{})
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// propose commits cmd through the raft leader: here when this node leads,
// else through the leader's HTTP API.
func (h *haNode) propose(ctx context.Context, cmd ha.Command) error {
	if h.cluster.IsLeader() {
		return h.cluster.Apply(ctx, cmd)
	}
	addr, err := h.leaderHTTP()
	if err != nil {
		return err
	}
	b, err := ha.Encode(cmd)
	if err != nil {
		return err
	}
	return h.peers.post(ctx, addr, "/cluster/propose", rawJSON(b), nil)
}

// leaderHTTP is the raft leader's HTTP address.
func (h *haNode) leaderHTTP() (string, error) {
	id, _ := h.cluster.Leader()
	if id == "" {
		return "", fmt.Errorf("%w: no raft leader known (an election is under way); retry", ha.ErrNotLeader)
	}
	m, ok := h.cluster.State().Members[id]
	if !ok {
		return "", fmt.Errorf("%w: the raft leader %s is not in this node's member list yet; retry", ha.ErrNotLeader, id)
	}
	return m.HTTPAddr, nil
}

// mayWrite reports whether this primary holds its lease now. Without HA,
// or after a forced promote, it always may.
func (n *Node) mayWrite() bool {
	h := n.ha
	if h == nil || h.forced.Load() {
		return true
	}
	return int64(time.Since(n.start)) < h.leaseUntil.Load()
}

// leaseError refuses a write on a primary without a lease.
type leaseError struct{ msg string }

func (e *leaseError) Error() string   { return e.msg }
func (e *leaseError) HTTPStatus() int { return http.StatusServiceUnavailable }

// errNoLease is what a write gets while this primary holds no lease.
func (n *Node) errNoLease() error {
	st := n.ha.cluster.State()
	if st.Primary != n.cfg.NodeID && st.Primary != "" {
		return &leaseError{fmt.Sprintf("this node no longer holds the primary's lease: the cluster's primary is %s (term %d) at %s; the write was not run, send it there",
			st.Primary, st.Term, st.Members[st.Primary].HTTPAddr)}
	}
	return &leaseError{"this primary does not hold its lease (it could not renew it through the cluster state): the write was not run; retry in a moment"}
}

// errLeaseLost is what a transaction gets when the lease ran out while it
// committed: it is in this node's log but unacknowledged.
var errLeaseLost = &leaseError{"this primary lost its lease while the transaction committed: it was not acknowledged and its outcome is unknown (a failover keeps it only if the new primary received it); check before retrying"}

// setLease publishes the timer's deadline to the writer; under h.mu.
func (h *haNode) setLease() {
	d := h.timer.Deadline()
	if d.IsZero() {
		h.leaseUntil.Store(0)
		return
	}
	h.leaseUntil.Store(int64(d.Sub(h.n.start)))
}

// revoke stops writes at once.
func (h *haNode) revoke() {
	h.mu.Lock()
	h.gen++
	h.timer.Revoke()
	h.setLease()
	h.mu.Unlock()
}

// leaseHolder reports whether this node should be renewing: it is the
// cluster's primary in its own term and is not handing the role over.
func (h *haNode) leaseHolder(st ha.State) bool {
	n := h.n
	if !n.isReady() || h.forced.Load() || h.hold.Load() || st.Primary != n.cfg.NodeID {
		return false
	}
	return (!n.isReplica() && st.Term == n.term.Load()) || h.promoting.Load()
}

// leaseLoop renews the primary's lease every third of its duration, and
// fails pending commit waits when it runs out.
func (h *haNode) leaseLoop() {
	n := h.n
	states := h.cluster.WatchState()
	var lastAttempt time.Time
	lapsed := true // no lease yet: nothing to report
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		// Checked first: while renewals keep failing, the loop renews
		// again at once and would not get past them.
		if !lapsed && !n.mayWrite() {
			lapsed = true
			n.waiter.Fence(errLeaseLost)
			n.logger.Warn("the primary's lease ran out: writes are refused until it is renewed", "term", n.term.Load())
		}
		st := h.cluster.State()
		var next time.Time
		if h.leaseHolder(st) {
			h.mu.Lock()
			next = h.timer.NextRenew(lastAttempt)
			h.mu.Unlock()
			if !time.Now().Before(next) {
				lastAttempt = time.Now()
				if h.renew(st.Term) {
					lapsed = false
				}
				continue
			}
		} else {
			lastAttempt = time.Time{}
			h.status.Lock()
			h.status.renewErr = "" // only a lease holder renews
			h.status.Unlock()
		}
		wait := time.Second
		if !next.IsZero() {
			wait = time.Until(next)
		}
		if !lapsed {
			wait = min(wait, time.Duration(h.leaseUntil.Load())-time.Since(n.start))
		}
		t.Reset(max(wait, time.Millisecond))
		select {
		case <-n.ctx.Done():
			return
		case <-states:
		case <-h.kickLease:
		case <-t.C:
		}
	}
}

// renew proposes one renewal; true if it was accepted.
func (h *haNode) renew(term uint64) bool {
	n := h.n
	h.mu.Lock()
	// The timer runs on this process's monotonic clock; the command
	// carries wall times, from the (possibly offset) wall clock.
	r := h.timer.Renewal(n.cfg.NodeID, term, time.Now(), n.log.Durable())
	every, gen := h.timer.Duration()/3, h.gen
	h.mu.Unlock()
	cmd := r
	cmd.Now, cmd.Until = r.Now.Add(n.cfg.ClockOffset).Round(0), r.Until.Add(n.cfg.ClockOffset).Round(0)
	ctx, cancel := context.WithTimeout(n.ctx, every)
	err := h.propose(ctx, cmd)
	cancel()
	if err == nil {
		h.mu.Lock()
		if h.gen != gen || h.hold.Load() {
			// Revoked meanwhile (a step-down, a switchover): stay revoked.
			h.mu.Unlock()
			return false
		}
		h.timer.Renewed(r)
		h.setLease()
		h.mu.Unlock()
		n.waiter.Unfence()
		h.status.Lock()
		h.status.renewErr = ""
		h.status.Unlock()
		return true
	}
	if errors.Is(err, ha.ErrNotPrimary) || errors.Is(err, ha.ErrStaleTerm) {
		h.revoke()
		n.waiter.Fence(errLeaseLost)
	}
	h.status.Lock()
	first := h.status.renewErr == ""
	h.status.renewErr = err.Error()
	h.status.Unlock()
	if first {
		n.logger.Warn("lease renewal failed; retrying", "err", err)
	}
	return false
}

// manage is the failover manager. It runs on every member and acts while
// the member is the raft leader: when the primary's lease has expired, it
// asks the candidates where their logs end and promotes the one ha.Choose
// picks.
func (h *haNode) manage() {
	n := h.n
	lead := h.cluster.WatchLeadership()
	states := h.cluster.WatchState()
	leader := false
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		wait := time.Hour
		if !leader && h.cluster.IsLeader() {
			// Leading, but the barrier failed: try again.
			leader = h.caughtUp()
			wait = time.Second
		}
		if leader {
			wait = h.check()
		} else {
			h.observe(h.cluster.State()) // time sightings before leading
		}
		t.Reset(wait)
		select {
		case <-n.ctx.Done():
			return
		case v, ok := <-lead:
			if !ok {
				return
			}
			leader = v && h.caughtUp()
		case <-states:
		case <-t.C:
		}
	}
}

// observe notes, on this node's monotonic clock, when it first saw the
// current lease and primary. The primary stops writing a margin before
// Until by its own monotonic clock, counted from when it sent the renewal;
// this node saw the renewal applied after it was sent. So waiting a lease
// duration from that sighting outlasts the primary's writes whatever the
// offset between the two wall clocks: only their rates must agree within
// the margin. A new raft leader, or a restarted node, counts from its own
// first sighting, which is later still.
func (h *haNode) observe(st ha.State) {
	if h.seen.key == st.Lease && h.seen.primary == st.Primary && h.seen.term == st.Term && !h.seen.at.IsZero() {
		return
	}
	h.seen.key, h.seen.primary, h.seen.term, h.seen.at = st.Lease, st.Primary, st.Term, time.Now()
}

// caughtUp makes a new raft leader apply everything earlier leaders
// committed before its manager acts: a renewal they accepted must be
// sighted here (observe) before this node may fail its primary over.
func (h *haNode) caughtUp() bool {
	ctx, cancel := context.WithTimeout(h.n.ctx, 5*time.Second)
	defer cancel()
	if err := h.cluster.Barrier(ctx); err != nil {
		h.n.logger.Warn("new raft leader could not catch up with the cluster state; not acting as failover manager until it leads again", "err", err)
		return false
	}
	h.observe(h.cluster.State())
	return true
}

// expiry is when the primary of st is considered gone, on the monotonic
// clock: a lease duration after this node saw its latest renewal (or its
// promotion, for a primary that has not renewed yet), or at once when it
// released the lease.
func (h *haNode) expiry(st ha.State) time.Time {
	h.observe(st)
	if st.Lease.Released && st.Lease.Term == st.Term {
		return h.seen.at
	}
	// The holder's own duration, if it asked for more than ours.
	return h.seen.at.Add(max(h.timer.Duration(), st.Lease.Duration))
}

// failoverRetry is how soon the manager tries again after a failover
// attempt that could not decide.
const failoverRetry = 100 * time.Millisecond

// check fails the primary over if its lease has expired; it returns how
// long to wait before the next check.
func (h *haNode) check() time.Duration {
	st := h.cluster.State()
	if st.Primary == "" {
		return time.Second
	}
	if until := time.Until(h.expiry(st)); until >= 0 {
		return until + time.Millisecond
	}
	if err := h.failover(st); err != nil {
		return failoverRetry
	}
	return 10 * time.Millisecond
}

// failover asks every other member where its log ends and promotes the
// one Choose picks.
func (h *haNode) failover(st ha.State) error {
	n := h.n
	ctx, cancel := context.WithTimeout(n.ctx, time.Second)
	defer cancel()
	replies := h.askPositions(ctx, st, st.Primary)
	cfg, err := commitwait.Parse(st.Commit.SyncStandbys)
	if err != nil {
		return h.noteFailover(fmt.Errorf("the cluster's commit config %q: %w", st.Commit.SyncStandbys, err))
	}
	d, err := ha.Choose(ha.Input{OldPrimary: st.Primary, OldPrimaryLSN: st.Lease.FlushedLSN, Term: st.Term, Commit: cfg,
		Members: st.Members, Replies: replies, MaxLagOnFailover: uint64(n.cfg.MaxLagOnFailover)})
	if err != nil {
		return h.noteFailover(fmt.Errorf("failover from %s (term %d) cannot choose yet: %w", st.Primary, st.Term, err))
	}
	// The state machine refuses a Promote while the lease is held at Now;
	// the monotonic wait above is what fences, so Now is at least the
	// lease's end even when this node's wall clock runs behind the
	// primary's.
	now := n.wall()
	if end := st.Lease.Expires.Add(time.Millisecond); now.Before(end) {
		now = end
	}
	seen := st.Lease
	p := ha.Promote{NewPrimary: d.Primary, NewTerm: st.Term + 1, StartLSN: d.LSN, Kind: ha.KindFailover, Now: now, ExpectLease: &seen,
		Reason: fmt.Sprintf("%s (term %d) stopped renewing its lease; %s", st.Primary, st.Term, d.Reason)}
	if err := h.cluster.Apply(ctx, p); err != nil {
		return h.noteFailover(fmt.Errorf("failover to %s: %w", d.Primary, err))
	}
	n.logger.Warn("failover: promoted a new primary", "old", st.Primary, "new", d.Primary, "term", p.NewTerm, "lsn", d.LSN.String(), "reason", d.Reason)
	h.noteFailover(nil)
	h.status.Lock()
	h.status.lastFailover, h.status.lastFailoverAt = "promoted "+d.Primary+": "+d.Reason, time.Now()
	h.status.Unlock()
	return nil
}

// noteFailover records a failover attempt's error for status, logging it
// when it changes.
func (h *haNode) noteFailover(err error) error {
	if err == nil {
		return nil
	}
	h.status.Lock()
	changed := h.status.lastFailover != err.Error()
	h.status.lastFailover, h.status.lastFailoverAt = err.Error(), time.Now()
	h.status.Unlock()
	if changed {
		h.n.logger.Warn("failover", "err", err)
	}
	return err
}

// askPositions asks every member but skip where its log ends, at once.
func (h *haNode) askPositions(ctx context.Context, st ha.State, skip string) map[string]ha.Reply {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]ha.Reply{}
	for id, m := range st.Members {
		if id == skip {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r ha.Reply
			if id == h.n.cfg.NodeID {
				if p, err := h.n.position(); err == nil {
					r = ha.Reply{FlushedLSN: p.FlushedLSN, Term: p.LastTerm, Reachable: true}
				}
			} else {
				cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				var p Position
				if err := h.peers.get(cctx, m.HTTPAddr, "/cluster/position", &p); err == nil {
					r = ha.Reply{FlushedLSN: p.FlushedLSN, Term: p.LastTerm, Reachable: true}
				}
				cancel()
			}
			mu.Lock()
			out[id] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// Position is what a member answers (GET /cluster/position) when asked where its log ends.
type Position struct {
	ID         string      `json:"id"`
	Role       string      `json:"role"`
	Term       uint64      `json:"term"`
	LastTerm   uint64      `json:"last_term"`
	FlushedLSN lsn.LSN     `json:"flushed_lsn"`
	AppliedLSN lsn.LSN     `json:"applied_lsn"`
	Terms      []TermStart `json:"terms"`
}

// unfitError says why a member cannot be a failover candidate now.
type unfitError struct{ msg string }

func (e *unfitError) Error() string   { return e.msg }
func (e *unfitError) HTTPStatus() int { return http.StatusServiceUnavailable }

// position reports where this node's log ends, or why it cannot be
// promoted now.
func (n *Node) position() (Position, error) {
	if !n.isReady() {
		return Position{}, &unfitError{"this node is seeding: it has no complete copy"}
	}
	if err := n.failure(); err != nil {
		return Position{}, &unfitError{err.Error()}
	}
	p := Position{ID: n.cfg.NodeID, Role: "primary", Term: n.term.Load(), LastTerm: n.lastTerm.Load(), FlushedLSN: n.log.Durable(),
		AppliedLSN: n.appliedLSN(), Terms: n.terms.list()}
	if n.isReplica() {
		p.Role = "replica"
		if a := n.app(); a != nil {
			if s := a.status(); s.Stopped {
				return Position{}, &unfitError{fmt.Sprintf("this replica's applier is stopped on %s (%s)", s.ErrorGTID, s.Error)}
			}
		}
	}
	return p, nil
}

// reconcileLoop makes this node's role follow the cluster state.
func (h *haNode) reconcileLoop() {
	n := h.n
	states := h.cluster.WatchState()
	t := time.NewTicker(reconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-states:
		case <-h.kickReconcile:
		case <-t.C:
		}
		h.reconcile()
	}
}

// reconcile takes one step towards the role the cluster state gives this
// node: promote, demote, follow the primary, or rewind a diverged log.
func (h *haNode) reconcile() {
	n := h.n
	st := h.cluster.State()
	h.seenTerm.raise(st.Term)
	if !n.isReady() {
		return
	}
	p, ok := st.Members[st.Primary]
	if !ok {
		return
	}
	if _, member := st.Members[n.cfg.NodeID]; !member {
		h.status.Lock()
		first := !h.status.removed
		h.status.removed = true
		h.status.Unlock()
		if first {
			n.logger.Warn("this node was removed from the HA cluster: it keeps its current role but no longer follows the cluster state; stop it, or rejoin it with --join")
		}
		return
	}
	h.syncCommitConfig(st)
	local := n.term.Load()
	if h.forced.Load() {
		if st.Term <= local {
			return // a manual promote put this node ahead of the cluster state
		}
		h.forced.Store(false)
	}
	if st.Term < local {
		return // this node has seen a newer term than its copy of the state
	}
	self := n.cfg.NodeID
	switch {
	case st.Primary == self && n.isReplica():
		if err := n.haPromote(st); err != nil {
			h.stepFailed("promotion by the cluster state failed; retrying", err, "term", st.Term)
		}
	case st.Primary == self:
		if st.Term > local {
			if err := n.adoptTerm(st.Term); err != nil {
				h.stepFailed("adopt the cluster's term", err, "term", st.Term)
			}
		}
	case !n.isReplica():
		if err := n.haDemote(p); err != nil {
			h.stepFailed("step down to replica failed; retrying", err, "primary", p.ID)
		}
	case *n.upstream.Load() != p.ReplAddr:
		if _, err := n.Follow(n.ctx, p.ReplAddr); err != nil {
			h.stepFailed("follow the cluster's primary", err, "primary", p.ID)
		}
	default:
		h.rewindIfDiverged(p)
	}
}

// stepFailed logs a failed reconcile step once, not every retry.
func (h *haNode) stepFailed(msg string, err error, args ...any) {
	h.status.Lock()
	repeat := h.status.stepErr == msg+err.Error()
	h.status.stepErr = msg + err.Error()
	h.status.Unlock()
	if !repeat {
		h.n.logger.Error(msg, append(args, "err", err)...)
	}
}

// haPromote makes this replica the primary of st.Term, as the cluster
// state says.
func (n *Node) haPromote(st ha.State) error {
	n.promoteMu.Lock()
	defer n.promoteMu.Unlock()
	if !n.isReplica() {
		return nil
	}
	kind, reason := ha.KindFailover, "the cluster state made this node the primary"
	for i := len(st.Events) - 1; i >= 0; i-- {
		if e := st.Events[i]; e.Term == st.Term && e.New == n.cfg.NodeID {
			kind, reason = e.Kind, e.Reason
			break
		}
	}
	n.ha.promoting.Store(true)
	kick(n.ha.kickLease) // renew while draining: this node is alive
	_, err := n.promoteLocked(n.ctx, st.Term, kind, reason)
	n.ha.promoting.Store(false)
	if err == nil {
		kick(n.ha.kickLease)
	}
	return err
}

// adoptTerm moves a primary to the cluster's newer term (it crashed between
// the state's Promote and saving the term).
func (n *Node) adoptTerm(term uint64) error {
	n.promoteMu.Lock()
	defer n.promoteMu.Unlock()
	n.fence()
	defer func() {
		n.unfence()
		kick(n.ha.kickLease)
	}()
	if err := n.terms.add(term, n.log.End()); err != nil {
		return err
	}
	if err := saveTerm(n.cfg.DataDir, term); err != nil {
		return err
	}
	n.term.Store(term)
	return nil
}

// haDemote turns this primary into a replica of p, the cluster's primary.
func (n *Node) haDemote(p ha.Member) error {
	n.promoteMu.Lock()
	defer n.promoteMu.Unlock()
	if n.isReplica() {
		return nil
	}
	n.ha.revoke()
	// Fail pending commit waits first: the writer may be blocked in one.
	n.waiter.Fence(errLeaseLost)
	end := n.fence()
	if err := n.demote(p.ReplAddr, end, "demote", "the cluster state made "+p.ID+" the primary; following it"); err != nil {
		return err
	}
	n.logger.Warn("stepped down: following the cluster's primary", "primary", p.ID, "lsn", end.String())
	return nil
}

// rewindIfDiverged rewinds this replica to its fork point when the
// primary has refused it as diverged.
func (h *haNode) rewindIfDiverged(p ha.Member) {
	n := h.n
	cs := n.clientStatus()
	switch cs.LastErrorCode {
	case stream.CodeSlotLost, stream.CodeStartNotAvailable:
		// The primary no longer has the records this replica needs.
		if !cs.Connected {
			if err := n.requestReseed("the primary " + p.ID + " cannot serve this replica's position: " + cs.LastError); err != nil {
				n.logger.Error("re-seed", "err", err)
			}
		}
		return
	}
	if cs.LastErrorCode != stream.CodeDiverged || cs.Connected {
		return
	}
	h.status.Lock()
	seen := !cs.LastErrorAt.After(h.status.divergedAt)
	h.status.divergedAt = cs.LastErrorAt
	h.status.Unlock()
	if seen {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	var pp Position
	if err := h.peers.get(ctx, p.HTTPAddr, "/cluster/position", &pp); err != nil {
		h.noteRewind(fmt.Errorf("ask the primary %s for its term history: %w", p.ID, err))
		return
	}
	if pp.Role != "primary" || pp.Term < h.cluster.State().Term {
		// Not promoted yet: its history lacks the new term. Look again.
		h.status.Lock()
		h.status.divergedAt = time.Time{}
		h.status.Unlock()
		return
	}
	fork := forkPoint(pp.Terms, n.lastTerm.Load())
	if fork >= n.log.End() {
		err := fmt.Errorf("the primary %s refused this replica as diverged, but its history (term %d ends at %s) does not fork this log (ends at %s)",
			p.ID, n.lastTerm.Load(), fork, n.log.End())
		h.noteRewind(err)
		if rerr := n.requestReseed(err.Error()); rerr != nil {
			n.logger.Error("re-seed", "err", rerr)
		}
		return
	}
	msg, err := n.Rewind(ctx, fork)
	if err != nil {
		err = fmt.Errorf("automatic rewind to the fork point %s failed: %w", fork, err)
		h.noteRewind(err)
		if rerr := n.requestReseed(err.Error()); rerr != nil {
			n.logger.Error("re-seed", "err", rerr)
		}
		return
	}
	h.noteRewind(nil)
	n.logger.Warn("rewound a diverged log to follow the cluster's primary", "primary", p.ID, "result", msg)
	ev := ha.Event{At: n.wall(), Kind: ha.KindRewind, Old: n.cfg.NodeID, New: p.ID, Term: n.term.Load(), LSN: fork, Reason: msg}
	if err := h.propose(ctx, ha.RecordEvent{Event: ev}); err != nil {
		n.logger.Warn("record the rewind in the cluster history", "err", err)
	}
}

func (h *haNode) noteRewind(err error) {
	h.status.Lock()
	defer h.status.Unlock()
	if err == nil {
		h.status.rewindErr = ""
		return
	}
	if h.status.rewindErr != err.Error() {
		h.n.logger.Error("rewind", "err", err)
	}
	h.status.rewindErr = err.Error()
}

// forkPoint is where term last ended in a primary's term history: the
// start of the first later term (the maximum LSN if none).
func forkPoint(terms []TermStart, last uint64) lsn.LSN {
	for _, e := range terms {
		if e.Term > last {
			return e.Start
		}
	}
	return lsn.LSN(^uint64(0))
}

// releaseLease gives the lease up when a primary shuts down, so the
// failover manager need not wait for it to expire.
func (n *Node) releaseLease() {
	h := n.ha
	if h == nil || n.isReplica() || !n.isReady() || !n.mayWrite() || h.forced.Load() {
		return
	}
	n.promoteMu.Lock()
	defer n.promoteMu.Unlock()
	if n.isReplica() {
		return
	}
	h.hold.Store(true)
	n.stopWriter()
	<-*n.writerDone.Load()
	h.revoke()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := h.propose(ctx, ha.ReleaseLease{Holder: n.cfg.NodeID, Term: n.term.Load(), Now: n.wall()})
	if err != nil {
		n.logger.Warn("shutting down: could not release the lease; the cluster fails over once it expires", "err", err)
		return
	}
	n.logger.Info("shutting down: released the primary's lease for a prompt failover")
}

// syncCommitConfig makes the waiter enforce the cluster's commit config.
func (h *haNode) syncCommitConfig(st ha.State) {
	if st.Commit.Mode == "" {
		return
	}
	n := h.n
	cur := n.waiter.State()
	cfg, err := commitwait.Parse(st.Commit.SyncStandbys)
	if err != nil {
		return
	}
	mode, err := commitwait.ParseMode(st.Commit.Mode)
	if err != nil {
		return
	}
	if cur.Config.String() == cfg.String() && cur.Mode == mode && cur.Timeout == st.Commit.Timeout {
		return
	}
	if err := n.waiter.SetConfig(cfg, mode, st.Commit.Timeout); err != nil {
		n.logger.Error("apply the cluster's commit config", "err", err)
		return
	}
	n.logger.Info("commit config from the cluster state", "sync_standbys", cfg.String(), "mode", mode.String(), "timeout", st.Commit.Timeout)
}

// haSwitchover hands the primary role to target (a member id or HTTP
// address) through the cluster state: stop writes, wait until the target
// has applied everything, release the lease, promote the target in the
// next term, and follow it.
func (n *Node) haSwitchover(ctx context.Context, target string) (string, error) {
	h := n.ha
	n.promoteMu.Lock()
	defer n.promoteMu.Unlock()
	st := h.cluster.State()
	self := n.cfg.NodeID
	if n.isReplica() || st.Primary != self {
		return "", &promoteError{fmt.Sprintf("this node is not the cluster's primary (the primary is %q): run the switchover there", st.Primary)}
	}
	if err := n.failure(); err != nil {
		return "", &promoteError{"this primary's write path has failed (" + err.Error() + "); restart it before any switchover"}
	}
	var m ha.Member
	for _, c := range st.Members {
		if c.ID == target || c.HTTPAddr == target {
			m = c
		}
	}
	switch {
	case m.ID == "":
		return "", &promoteError{fmt.Sprintf("switchover target %q is not a member id or HTTP address of this cluster; see tandem cluster members", target)}
	case m.ID == self:
		return "", &promoteError{"switchover target " + target + " is this node, already the primary"}
	case m.NoFailover:
		return "", &promoteError{fmt.Sprintf("switchover target %s is tagged nofailover; clear it with tandem cluster set-nofailover first", m.ID)}
	}
	c, err := client.New(m.HTTPAddr, client.WithSourceAddr(n.cfg.SourceAddr))
	if err != nil {
		return "", err
	}
	defer c.Close()
	if role, _, err := nodeRole(ctx, c); err != nil || role != "replica" {
		return "", &promoteError{fmt.Sprintf("switchover target %s is not a running replica (role %q, %v)", m.ID, role, err)}
	}

	start := time.Now()
	end := n.fence()
	abort := func(err error) (string, error) {
		h.hold.Store(false)
		n.unfence()
		kick(h.kickLease)
		return "", fmt.Errorf("switchover to %s aborted, this node is still the primary: %w", m.ID, err)
	}
	cctx, cancel := context.WithTimeout(ctx, switchoverCatchUp)
	err = waitTargetApplied(cctx, c, end)
	cancel()
	if err != nil {
		return abort(err)
	}
	// Stop renewing and writing, then hand the lease and the role over in
	// one command: refused, it leaves this node the primary with its lease.
	h.hold.Store(true)
	h.revoke()
	term := n.term.Load()
	p := ha.Handover{From: self, Term: term, To: m.ID, StartLSN: end, Now: n.wall(),
		Reason: fmt.Sprintf("switchover from %s at LSN %s", self, end)}
	if err := h.propose(ctx, p); err != nil {
		if s := h.cluster.State(); s.Primary != m.ID || s.Term != term+1 {
			return abort(fmt.Errorf("hand over to %s: %w", m.ID, err))
		}
	}
	newTerm := term + 1
	// Writes resume once the target holds its lease.
	wctx, cancel := context.WithTimeout(ctx, switchoverCatchUp)
	_, err = h.waitState(wctx, func(s ha.State) bool { return s.Lease.Holder == m.ID && s.Lease.Term == newTerm })
	cancel()
	unavailable := time.Since(start)
	if err != nil {
		n.logger.Warn("switchover: the new primary has not taken its lease yet", "primary", m.ID, "err", err)
	}
	derr := n.demote(m.ReplAddr, end, "switchover", "handed the primary role over to "+m.ID+"; following it")
	h.hold.Store(false)
	if derr != nil {
		return "", fmt.Errorf("switchover: %s is the primary now, but this node could not follow it: %w (the cluster retries)", m.ID, derr)
	}
	n.logger.Warn("switchover done", "new_primary", m.ID, "lsn", end.String(), "unavailable", unavailable.String())
	return fmt.Sprintf("switched over to %s (term %d) at LSN %s; writes were refused for %v; this node now follows it",
		m.ID, newTerm, end, unavailable.Round(time.Millisecond)), nil
}

// ClusterStatus is the cluster section of /status.
type ClusterStatus struct {
	RaftAddr    string          `json:"raft_addr"`
	RaftLeader  string          `json:"raft_leader"`
	IsLeader    bool            `json:"is_raft_leader"`
	Primary     string          `json:"primary"`
	Term        uint64          `json:"term"`
	Lease       ha.Lease        `json:"lease"`
	LeaseLeftMs int64           `json:"lease_left_ms"`
	MayWrite    bool            `json:"may_write"`
	Forced      bool            `json:"forced_promote,omitempty"`
	Commit      ha.CommitConfig `json:"commit"`
	Members     []ha.Member     `json:"members"`
	History     []ha.Event      `json:"history,omitempty"`
	Failover    string          `json:"last_failover,omitempty"`
	FailoverAt  time.Time       `json:"last_failover_at,omitzero"`
	RenewError  string          `json:"lease_renew_error,omitempty"`
	RewindError string          `json:"rewind_error,omitempty"`
}

func (h *haNode) clusterStatus() *ClusterStatus {
	st := h.cluster.State()
	leader, _ := h.cluster.Leader()
	cs := &ClusterStatus{RaftAddr: h.cluster.Addr(), RaftLeader: leader, IsLeader: h.cluster.IsLeader(), Primary: st.Primary, Term: st.Term,
		Lease: st.Lease, Commit: st.Commit, Members: st.SortedMembers(), History: st.Events, Forced: h.forced.Load()}
	if st.Lease.Holder != "" {
		cs.LeaseLeftMs = max(time.Until(st.Lease.Expires).Milliseconds(), 0)
	}
	cs.MayWrite = !h.n.isReplica() && h.n.mayWrite()
	h.status.Lock()
	cs.Failover, cs.FailoverAt, cs.RenewError, cs.RewindError = h.status.lastFailover, h.status.lastFailoverAt, h.status.renewErr, h.status.rewindErr
	h.status.Unlock()
	return cs
}
