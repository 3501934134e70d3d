package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/crashtest"
	"github.com/tandem-db/tandem/ha"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/node"
)

// freeAddr returns a loopback address with a port that was free a moment
// ago: HA members need fixed ports, since the others dial them.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := crashtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// openMember starts an HA member in process: the first with bootstrap,
// the others joining through join, the first's HTTP address.
func openMember(t *testing.T, id, join string) *node.Node {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.NodeID, cfg.DataDir = id, t.TempDir()
	cfg.RaftAddr, cfg.HTTPAddr, cfg.ReplAddr = freeAddr(t), freeAddr(t), freeAddr(t)
	cfg.ClusterSecret = "cluster-test-secret-0123456789"
	cfg.Bootstrap, cfg.Join = join == "", join
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := node.Open(cfg)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	return n
}

// members runs `tandem cluster members --json` against addr.
func members(t *testing.T, addr string) (membersDoc, map[string]json.RawMessage) {
	t.Helper()
	out, err := runCommand(t, clusterCommand(), "members", "--addr", addr, "--json")
	if err != nil {
		t.Fatalf("cluster members --addr %s --json: %v", addr, err)
	}
	var d membersDoc
	var pos struct {
		Positions map[string]json.RawMessage `json:"positions"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("cluster members --json: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &pos); err != nil {
		t.Fatalf("cluster members --json: %v\n%s", err, out)
	}
	return d, pos.Positions
}

// eventually polls cond until it holds or the deadline passes; cond says
// what it saw, for the failure message.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not after 20s; last saw:\n%s", what, saw)
		}
		time.Sleep(20 * time.Millisecond) // a poll interval, not a synchronisation
	}
}

func TestClusterCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node HA cluster")
	}
	n1 := openMember(t, "n1", "")
	n2 := openMember(t, "n2", n1.HTTPAddr())
	n3 := openMember(t, "n3", n1.HTTPAddr())
	t.Cleanup(func() {
		for _, n := range []*node.Node{n1, n2, n3} {
			if err := n.Close(); err != nil {
				t.Errorf("close %s: %v", n.ID(), err)
			}
		}
	})
	a1, a2 := n1.HTTPAddr(), n2.HTTPAddr()

	t.Run("members", func(t *testing.T) {
		var out string
		eventually(t, "every member answers with its position", func() (bool, string) {
			var err error
			out, err = runCommand(t, clusterCommand(), "members", "--addr", a2)
			if err != nil {
				return false, err.Error()
			}
			return strings.Count(out, "| ok\n") == 3, out
		})
		for _, want := range []string{
			"cluster state as " + a2 + " sees it: primary n1, term 1, raft leader n1\n",
			"lease: held by n1 for term 1, ",
			"commit: asynchronous (no sync standbys)\n",
			" n1 | primary | yes   |        0 | no         | ",
			" n2 | replica | yes   |        0 | no         | ",
			" n3 | replica | yes   |        0 | no         | ",
			"(3 rows)\n",
			"| promote | - -> n1    |    1 | 0/00000000 | bootstrapped the cluster\n",
			"added n3 (raft ",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		d, pos := members(t, a1)
		if got, want := d.State.Primary, "n1"; got != want {
			t.Errorf("--json: primary = %q, want %q", got, want)
		}
		if got, want := len(d.State.Members), 3; got != want {
			t.Errorf("--json: %d members, want %d", got, want)
		}
		var p node.Position
		if err := json.Unmarshal(pos["n2"], &p); err != nil || p.ID != "n2" || p.Role != "replica" || p.Term != 1 {
			t.Errorf("--json: position of n2 = %s (%v), want n2, replica, term 1", pos["n2"], err)
		}
	})

	t.Run("set-priority", func(t *testing.T) {
		// Through a member that is not the raft leader: it passes the
		// change on.
		out, err := runCommand(t, clusterCommand(), "set-priority", "--addr", a2, "n2", "7")
		if err != nil || out != "priority of n2 is now 7\n" {
			t.Fatalf("set-priority n2 7: %q, %v", out, err)
		}
		out, err = runCommand(t, clusterCommand(), "set-priority", "--addr", a1, "--", "n3", "-2")
		if err != nil || out != "priority of n3 is now -2\n" {
			t.Fatalf("set-priority -- n3 -2: %q, %v", out, err)
		}
		eventually(t, "n2 sees the new priorities", func() (bool, string) {
			d, _ := members(t, a2)
			return d.State.Members["n2"].Priority == 7 && d.State.Members["n3"].Priority == -2, fmt.Sprint(d.State.Members)
		})
		out, err = runCommand(t, clusterCommand(), "members", "--addr", a1)
		if err != nil || !strings.Contains(out, " n2 | replica | yes   |        7 |") || !strings.Contains(out, "priority of n2 0 -> 7") {
			t.Errorf("members after set-priority: %v\n%s", err, out)
		}
	})

	t.Run("set-nofailover", func(t *testing.T) {
		out, err := runCommand(t, clusterCommand(), "set-nofailover", "--addr", a1, "n3", "true")
		if err != nil || out != "n3 is tagged nofailover: it will not be promoted\n" {
			t.Fatalf("set-nofailover n3 true: %q, %v", out, err)
		}
		d, _ := members(t, a1)
		if !d.State.Members["n3"].NoFailover || d.State.Members["n2"].NoFailover {
			t.Errorf("after set-nofailover n3 true: members %v", d.State.Members)
		}
		out, err = runCommand(t, clusterCommand(), "set-nofailover", "--addr", a2, "n3", "false")
		if err != nil || out != "n3 is no longer tagged nofailover: it may be promoted\n" {
			t.Fatalf("set-nofailover n3 false: %q, %v", out, err)
		}
		eventually(t, "n3's tag cleared", func() (bool, string) {
			d, _ := members(t, a1)
			return !d.State.Members["n3"].NoFailover, fmt.Sprint(d.State.Members)
		})
	})

	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name  string
			args  []string
			wants []string
		}{
			{"remove the primary", []string{"remove", "--addr", a2, "n1"},
				[]string{"cluster remove n1: ", "HTTP 409", "n1 is the primary of term 1; switch over to another member first"}},
			{"remove an unknown member", []string{"remove", "--addr", a1, "n9"},
				[]string{"cluster remove n9: ", "HTTP 404", `no member "n9"`, "tandem cluster members --addr " + a1 + " lists the member ids"}},
			{"priority of an unknown member", []string{"set-priority", "--addr", a2, "n9", "1"},
				[]string{"cluster set-priority n9 1: ", `no member "n9"`, "lists the member ids"}},
			{"nofailover of an unknown member", []string{"set-nofailover", "--addr", a1, "n9", "true"},
				[]string{"cluster set-nofailover n9 true: ", `no member "n9"`}},
			{"no node listening", []string{"members", "--addr", "127.0.0.1:1"},
				[]string{"cluster members: GET /cluster/members: ", "is a node listening on 127.0.0.1:1?"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := runCommand(t, clusterCommand(), tt.args...)
				if err == nil {
					t.Fatal("no error")
				}
				for _, want := range tt.wants {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error lacks %q:\n%v", want, err)
					}
				}
			})
		}
		d, _ := members(t, a1)
		if got, want := len(d.State.Members), 3; got != want || d.State.Primary != "n1" {
			t.Errorf("after the refusals: %d members, primary %q; want %d, n1", got, d.State.Primary, want)
		}
	})

	t.Run("remove", func(t *testing.T) {
		out, err := runCommand(t, clusterCommand(), "remove", "--addr", a2, "n3")
		if err != nil || !strings.HasPrefix(out, "removed n3 from the cluster") {
			t.Fatalf("remove n3: %q, %v", out, err)
		}
		d, _ := members(t, a1)
		if _, ok := d.State.Members["n3"]; ok || len(d.State.Members) != 2 {
			t.Errorf("after remove n3: members %v", d.State.Members)
		}
		for _, s := range d.Raft {
			if s.ID == "n3" {
				t.Errorf("after remove n3: still in the raft configuration %v", d.Raft)
			}
		}
		out, err = runCommand(t, clusterCommand(), "members", "--addr", a1)
		if err != nil || strings.Contains(out, " n3 |") || !strings.Contains(out, "removed n3") {
			t.Errorf("members after remove n3: %v\n%s", err, out)
		}
		// The removed node still runs; its status says it is out.
		eventually(t, "n3 learns it was removed", func() (bool, string) {
			out, err := runCommand(t, statusCommand(), "--addr", n3.HTTPAddr())
			if err != nil {
				return false, err.Error()
			}
			return strings.Contains(out, "  THIS NODE IS NOT A MEMBER of the cluster state (it was removed)"), out
		})
	})

	t.Run("status", func(t *testing.T) {
		out, err := runCommand(t, statusCommand(), "--addr", a1)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"\ncluster: primary n1, term 1, raft leader n1 (this node); raft ",
			"  lease: held by n1 for term 1, ",
			"; this node may write\n",
			"  members: n1 (primary, this node), n2 (priority 7)\n",
			"member: removed n3\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("status output lacks %q:\n%s", want, out)
			}
		}
	})
}

// A node that is not an HA member says so, and how to make it one.
func TestClusterCommand_NotHA(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.HTTPAddr = "solo", t.TempDir(), "127.0.0.1:0"
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	_, err = runCommand(t, clusterCommand(), "members", "--addr", n.HTTPAddr())
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") || !strings.Contains(err.Error(), "not a member of an HA cluster: start it with --raft-addr") {
		t.Errorf("members of a node without HA: %v", err)
	}
	out, err := runCommand(t, statusCommand(), "--addr", n.HTTPAddr())
	if err != nil || strings.Contains(out, "cluster:") {
		t.Errorf("status of a node without HA has a cluster section: %v\n%s", err, out)
	}
}

// Argument mistakes are caught before any call, saying what is wanted.
func TestClusterCommand_Args(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"remove"}, "cluster remove: want ID, got 0 argument(s)"},
		{[]string{"remove", "n1", "n2"}, "cluster remove: want ID, got 2 argument(s)"},
		{[]string{"set-priority", "n2"}, "cluster set-priority: want ID PRIORITY, got 1 argument(s)"},
		{[]string{"set-priority", "n2", "high"}, `cluster set-priority n2: priority "high" is not an integer`},
		{[]string{"set-priority", "n2", "-1"}, "a negative priority goes after --"},
		{[]string{"set-nofailover", "n2", "maybe"}, `cluster set-nofailover n2: value "maybe": want true or false`},
		{[]string{"set-nofailover", "", "true"}, "got an empty argument"},
	}
	for _, tt := range tests {
		_, err := runCommand(t, clusterCommand(), append(tt.args, "--addr", "127.0.0.1:1")...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestPrintMembers(t *testing.T) {
	at := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	d := &membersDoc{
		Leader: "n2",
		State: ha.State{
			Members: map[string]ha.Member{
				"n1": {ID: "n1", HTTPAddr: "10.0.0.1:4001", ReplAddr: "10.0.0.1:5001", RaftAddr: "10.0.0.1:7001", Voter: true},
				"n2": {ID: "n2", HTTPAddr: "10.0.0.2:4001", ReplAddr: "10.0.0.2:5001", RaftAddr: "10.0.0.2:7001", Voter: true, Priority: 5},
				"n3": {ID: "n3", HTTPAddr: "10.0.0.3:4001", ReplAddr: "10.0.0.3:5001", RaftAddr: "10.0.0.3:7001", NoFailover: true},
				"n4": {ID: "n4", HTTPAddr: "10.0.0.4:4001", ReplAddr: "10.0.0.4:5001", RaftAddr: "10.0.0.4:7001", Voter: true},
			},
			Primary: "n2",
			Term:    2,
			Commit:  ha.CommitConfig{SyncStandbys: "ANY 1 (n1,n3)", Mode: "strict", Timeout: 10 * time.Second},
			Lease:   ha.Lease{Holder: "n2", Term: 2, Expires: statusNow.Add(612 * time.Millisecond), FlushedLSN: 0x12D687},
			Events: []ha.Event{
				{At: at, Kind: ha.KindPromote, New: "n1", Term: 1, Reason: "bootstrapped the cluster"},
				{At: at.Add(time.Second), Kind: ha.KindMember, New: "n2", Reason: "added n2 (raft 10.0.0.2:7001, voter true)"},
				{At: at.Add(59*time.Minute + 500*time.Millisecond), Kind: ha.KindFailover, Old: "n1", New: "n2", Term: 2, LSN: 0x12D600,
					Reason: "the lease of n1 (term 1) expired"},
			},
		},
		Raft: []ha.Server{{ID: "n1", Addr: "10.0.0.1:7001", Voter: true}, {ID: "n2", Addr: "10.0.0.2:7001", Voter: true},
			{ID: "n3", Addr: "10.0.0.3:7001"}, {ID: "n5", Addr: "10.0.0.5:7001", Voter: true}},
	}
	pos := map[string]memberPosition{
		"n1": {Pos: &node.Position{ID: "n1", Role: "primary", Term: 1, FlushedLSN: 0x12D687}},
		"n2": {Pos: &node.Position{ID: "n2", Role: "primary", Term: 2, FlushedLSN: lsn.LSN(0x12D700)}},
		"n3": {Err: &client.HTTPError{Method: "GET", Path: "/cluster/position", StatusCode: 503, Message: "this node is seeding: it has no complete copy"}},
		"n4": {Err: errors.New("GET /cluster/position: dial tcp 10.0.0.4:4001: connect: connection refused (is a node listening on 10.0.0.4:4001?)")},
	}
	var b strings.Builder
	printMembers(&b, "10.0.0.1:4001", d, pos, statusNow)
	want := `cluster state as 10.0.0.1:4001 sees it: primary n2, term 2, raft leader n2
lease: held by n2 for term 2, 612ms left, flushed 0/0012D687 at the last renewal
commit: sync standbys ANY 1 (n1,n3), mode strict, timeout 10s
members:
 id | role    | voter       | priority | nofailover | raft_addr     | http_addr     | repl_addr     | flushed_lsn | term | state
----+---------+-------------+----------+------------+---------------+---------------+---------------+-------------+------+---------------------------------------------------------------------------------------------------------------------------------
 n1 | replica | yes         |        0 | no         | 10.0.0.1:7001 | 10.0.0.1:4001 | 10.0.0.1:5001 | 0/0012D687  |    1 | acting as primary (following the cluster state)
 n2 | primary | yes         |        5 | no         | 10.0.0.2:7001 | 10.0.0.2:4001 | 10.0.0.2:5001 | 0/0012D700  |    2 | ok
 n3 | replica | no          |        0 | yes        | 10.0.0.3:7001 | 10.0.0.3:4001 | 10.0.0.3:5001 | -           | -    | not a candidate: this node is seeding: it has no complete copy
 n4 | replica | not in raft |        0 | no         | 10.0.0.4:7001 | 10.0.0.4:4001 | 10.0.0.4:5001 | -           | -    | unreachable: GET /cluster/position: dial tcp 10.0.0.4:4001: connect: connection refused (is a node listening on 10.0.0.4:4001?)
(4 rows)
raft server n5 at 10.0.0.5:7001 is not a member of the cluster state (a join or remove that stopped half-way)
history:
 at                       | kind     | old -> new | term | lsn        | reason
--------------------------+----------+------------+------+------------+-------------------------------------------
 2026-03-01T11:00:00.000Z | promote  | - -> n1    |    1 | 0/00000000 | bootstrapped the cluster
 2026-03-01T11:00:01.000Z | member   | - -> n2    | -    | -          | added n2 (raft 10.0.0.2:7001, voter true)
 2026-03-01T11:59:00.500Z | failover | n1 -> n2   |    2 | 0/0012D600 | the lease of n1 (term 1) expired
(3 rows)
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestLeaseText(t *testing.T) {
	exp := time.Date(2026, 3, 1, 12, 0, 9, 500_000_000, time.UTC)
	tests := []struct {
		lease ha.Lease
		left  time.Duration
		want  string
	}{
		{ha.Lease{}, 0, "held by no one (n1 has not taken it in this term yet, or released it); the primary writes only while it holds the lease"},
		{ha.Lease{Holder: "n1", Term: 3, Expires: exp, FlushedLSN: 0x100}, 250 * time.Millisecond, "held by n1 for term 3, 250ms left, flushed 0/00000100 at the last renewal"},
		{ha.Lease{Holder: "n1", Term: 3, Expires: exp}, -time.Second, "held by n1 for term 3, EXPIRED at 2026-03-01T12:00:09.500Z, flushed 0/00000000 at the last renewal"},
	}
	for _, tt := range tests {
		if got := leaseText(tt.lease, "n1", tt.left); got != tt.want {
			t.Errorf("leaseText(%+v, %v):\n got %q\nwant %q", tt.lease, tt.left, got, tt.want)
		}
	}
}
