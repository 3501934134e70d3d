package ha

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestCluster_Replicates(t *testing.T) {
	nodes := startCluster(t, true, true, true)
	bootstrapState(t, nodes)
	s := waitConverged(t, nodes)
	if s.Primary != "n0" || s.Term != 1 || len(s.Members) != 3 || s.Commit.SyncStandbys != "ANY 1 (n1,n2)" {
		t.Fatalf("state = %+v", s)
	}
	servers, err := nodes[2].c.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("Servers = %v, %v", servers, err)
	}
}

func TestCluster_ApplyOnFollowerOrInvalid(t *testing.T) {
	nodes := startCluster(t, true, true)
	l := leader(t, nodes)
	var f *Cluster
	for _, n := range nodes {
		if n.c != l {
			f = n.c
		}
	}
	waitFor(t, 5*time.Second, "the follower to know the leader", func() bool { id, _ := f.Leader(); return id != "" })
	err := f.Apply(context.Background(), SetCommitConfig{})
	var nl *NotLeaderError
	if !errors.As(err, &nl) || !errors.Is(err, ErrNotLeader) || nl.LeaderID != l.ID() || nl.LeaderAddr != l.Addr() {
		t.Fatalf("follower Apply err = %v, want NotLeaderError naming %s at %s", err, l.ID(), l.Addr())
	}
	if err := f.Join("n9", "127.0.0.1:1", true); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower Join err = %v", err)
	}
	if err := l.Apply(context.Background(), SetPriority{ID: "nobody", Priority: 1, Now: time.Now()}); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("invalid command err = %v, want ErrUnknownMember", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Apply(ctx, SetCommitConfig{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled ctx err = %v", err)
	}
}

// TestCluster_LeaderFailover closes the leader (no leadership transfer,
// as on a crash) three times over, measuring how long the others take to
// elect a new one, then reopens it and checks that it catches up.
func TestCluster_LeaderFailover(t *testing.T) {
	nodes := startCluster(t, true, true, true)
	bootstrapState(t, nodes)
	var times []time.Duration
	for round := range 3 {
		l := leader(t, nodes)
		var old *testNode
		for _, n := range nodes {
			if n.c == l {
				old = n
			}
		}
		old.close(t)
		start := time.Now()
		nl := leader(t, nodes)
		times = append(times, time.Since(start))
		apply(t, nl, RecordEvent{Event{At: time.Now(), Kind: KindMember, Reason: fmt.Sprintf("round %d: %s led", round, nl.ID())}})
		openNode(t, old)
		s := waitConverged(t, nodes)
		if got, want := len(s.Events), 3+1+round+1; got != want {
			t.Fatalf("round %d: %d events, want %d", round, got, want)
		}
	}
	slices.Sort(times)
	t.Logf("re-election after the leader closed: %v (median %v, max %v)", times, times[len(times)/2], times[len(times)-1])
	if times[len(times)-1] > 3*time.Second {
		t.Fatalf("re-election took %v", times[len(times)-1])
	}
}

// TestCluster_NonVoterNeverLeads: a non-voter follows but never campaigns,
// even when the leader goes away.
func TestCluster_NonVoterNeverLeads(t *testing.T) {
	nodes := startCluster(t, true, true, true, false)
	watch := nodes[3].c.WatchLeadership()
	bootstrapState(t, nodes)
	waitConverged(t, nodes)
	nodes[0].close(t) // n0 bootstrapped, so it leads
	nl := leader(t, nodes)
	if nl == nodes[3].c {
		t.Fatal("the non-voter became leader")
	}
	apply(t, nl, SetPriority{ID: "n3", Priority: 7, Now: time.Now()})
	waitConverged(t, nodes)
	servers, err := nodes[3].c.Servers()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.ID == "n3" && s.Voter {
			t.Fatalf("n3 is a voter in %v", servers)
		}
	}
	for {
		select {
		case v := <-watch:
			if v {
				t.Fatal("the non-voter was told it leads")
			}
			continue
		default:
		}
		break
	}
}

// TestCluster_SnapshotRestore forces a snapshot on a follower, closes it,
// changes the state, reopens it: it restores the snapshot, then catches up.
func TestCluster_SnapshotRestore(t *testing.T) {
	nodes := startCluster(t, true, true, true)
	bootstrapState(t, nodes)
	waitConverged(t, nodes)
	f := nodes[2]
	if f.c.IsLeader() {
		f = nodes[1]
	}
	if err := f.c.snapshot(); err != nil {
		t.Fatal(err)
	}
	snaps, _ := filepath.Glob(filepath.Join(f.cfg.DataDir, "raft", "snapshots", "*", "state.bin"))
	if len(snaps) != 1 {
		t.Fatalf("snapshots on disk: %v", snaps)
	}
	f.close(t)
	apply(t, leader(t, nodes), SetTags{ID: "n1", NoFailover: true, Now: time.Now()})
	openNode(t, f)
	s := waitConverged(t, nodes)
	if !s.Members["n1"].NoFailover {
		t.Fatalf("state after restart: %+v", s.Members)
	}
}

// TestCluster_Restart: a single node keeps its state across a restart, and
// Bootstrap on a node with state is ignored.
func TestCluster_Restart(t *testing.T) {
	nodes := startCluster(t, true)
	bootstrapState(t, nodes)
	want := nodes[0].c.State()
	if err := nodes[0].c.snapshot(); err != nil {
		t.Fatal(err)
	}
	apply(t, nodes[0].c, SetPriority{ID: "n0", Priority: 3, Now: time.Now()})
	want.Members["n0"] = Member{ID: "n0", RaftAddr: want.Members["n0"].RaftAddr, HTTPAddr: "127.0.0.1:4001", Voter: true, Priority: 3}
	nodes[0].close(t)
	openNode(t, nodes[0])
	l := leader(t, nodes)
	waitFor(t, 5*time.Second, "the restarted node to replay its log", func() bool {
		return l.State().Members["n0"].Priority == 3
	})
	got := l.State()
	got.Events, want.Events = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestCluster_JoinIsIdempotent(t *testing.T) {
	nodes := startCluster(t, true, true)
	l := leader(t, nodes)
	for _, voter := range []bool{true, false, false, true} {
		if err := l.Join("n1", nodes[1].c.Addr(), voter); err != nil {
			t.Fatalf("join voter=%t: %v", voter, err)
		}
		servers, err := l.Servers()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := servers, []Server{{"n0", nodes[0].c.Addr(), true}, {"n1", nodes[1].c.Addr(), voter}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("servers = %v, want %v", got, want)
		}
	}
	if err := l.Remove("n1"); err != nil {
		t.Fatal(err)
	}
	if servers, _ := l.Servers(); len(servers) != 1 {
		t.Fatalf("after Remove: %v", servers)
	}
}

func TestCluster_WatchState(t *testing.T) {
	nodes := startCluster(t, true)
	ch := nodes[0].c.WatchState()
	lead := nodes[0].c.WatchLeadership()
	waitFor(t, 5*time.Second, "leadership to be reported", func() bool {
		select {
		case v := <-lead:
			return v
		default:
			return false
		}
	})
	apply(t, nodes[0].c, SetCommitConfig{SyncStandbys: "n1"})
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no state change signal")
	}
	nodes[0].close(t)
	if _, ok := <-ch; ok {
		// a signal may still be buffered; the channel must then close
		if _, ok := <-ch; ok {
			t.Fatal("WatchState channel not closed by Close")
		}
	}
}

// TestCluster_LeaseFences drives the lease through raft as the node will:
// the primary renews with a LeaseTimer; a Promote is refused while the
// lease is held; once the primary stops renewing, its timer stops writes
// before the Promote can pass, and its late renewals are refused.
func TestCluster_LeaseFences(t *testing.T) {
	nodes := startCluster(t, true, true, true)
	bootstrapState(t, nodes) // n0 primary of term 1, lease until now+1s
	l := leader(t, nodes)
	lt, err := nodes[0].cfg.LeaseTimer()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	renew := func() error {
		r := lt.Renewal("n0", 1, time.Now(), 4096)
		err := l.Apply(ctx, r)
		if err == nil {
			lt.Renewed(r)
		}
		return err
	}
	promote := func() error {
		return l.Apply(ctx, Promote{NewPrimary: "n1", NewTerm: 2, StartLSN: 4096, Kind: KindFailover, Reason: "test", Now: time.Now()})
	}
	for range 3 {
		if err := renew(); err != nil {
			t.Fatal(err)
		}
		if !lt.MayWrite(time.Now()) {
			t.Fatal("primary may not write right after a renewal")
		}
		if err := promote(); !errors.Is(err, ErrLeaseHeld) {
			t.Fatalf("promote under a held lease: err = %v, want ErrLeaseHeld", err)
		}
	}
	// The primary goes silent. Poll the promote the way a manager would.
	var promotedAt time.Time
	waitFor(t, 5*time.Second, "the lease to expire and the promote to pass", func() bool {
		err := promote()
		if err != nil && !errors.Is(err, ErrLeaseHeld) {
			t.Fatalf("promote: %v", err)
		}
		promotedAt = time.Now()
		return err == nil
	})
	if lt.MayWrite(promotedAt) {
		t.Fatalf("old primary may still write at the promote (deadline %s, promoted %s)", lt.Deadline(), promotedAt)
	}
	if err := renew(); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("late renewal of the old primary: err = %v, want ErrNotPrimary", err)
	}
	s := waitConverged(t, nodes)
	if s.Primary != "n1" || s.Term != 2 || s.Lease.Holder != "" || len(s.TermHistory) != 2 {
		t.Fatalf("state after failover: primary %s term %d lease %+v history %v", s.Primary, s.Term, s.Lease, s.TermHistory)
	}
}
