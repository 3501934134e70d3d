package chaos

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HA topology. Every node has four proxies:
//
//	workers (127.0.0.1) --> client->nX --> nX HTTP
//	nY (127.0.0.1Y)     --> nX/http    --> nX HTTP   (join, positions, proposals, forwarded writes)
//	nY (127.0.0.1Y)     --> nX/raft    --> nX raft
//	nY (127.0.0.1Y)     --> nX/repl    --> nX replication
//
// Each node advertises its three peer proxies (--raft-advertise,
// --http-advertise, --repl-advertise) and dials from its own loopback IP
// (--source-addr 127.0.0.1Y), so a peer proxy knows which node a
// connection comes from. Partitioning nX from nY drops, on nX's peer
// proxies, the connections from nY's IP and, on nY's, those from nX's:
// both the connections nY dialed and those nX dialed. Client traffic has
// its own proxy, so a node cut from its peers can still be reached by the
// workload, or be cut from it too (Event.Clients).

// haSourceBase makes node i dial from 127.0.0.(haSourceBase+i).
const haSourceBase = 10

// sourceIP is the loopback IP node i (1-based) dials from.
func sourceIP(i int) string { return "127.0.0." + strconv.Itoa(haSourceBase+i) }

// addHANodes creates the members of an HA cluster and their proxies.
func (c *Cluster) addHANodes() error {
	cfg := c.cfg
	var ids []string
	for i := 1; i <= cfg.Nodes; i++ {
		ids = append(ids, "n"+strconv.Itoa(i))
	}
	for i, id := range ids {
		n := &Node{ID: id, DataDir: filepath.Join(c.dir, id), Source: sourceIP(i + 1)}
		// The client proxy's seed is the non-HA one: the same jitter.
		seed := cfg.Seed + uint64(i+1)*104729
		for _, p := range []struct {
			to     **Proxy
			name   string
			target func() string
		}{
			{&n.Client, "client->" + id, n.httpAddr},
			{&n.Peer, id + "/http", n.httpAddr},
			{&n.Raft, id + "/raft", n.raftAddr},
			{&n.Repl, id + "/repl", n.replAddr},
		} {
			px, err := NewProxy(p.name, p.target, seed)
			if err != nil {
				c.Close()
				return err
			}
			*p.to = px
			seed += 7919
		}
		c.nodes = append(c.nodes, n)
		args := []string{"--cluster-secret", c.secret, "--segment-size", strconv.FormatInt(cfg.SegmentSize, 10),
			"--heartbeat", "200ms", "--write-timeout", cfg.OpTimeout.String(),
			"--source-addr", n.Source, "--raft-advertise", n.Raft.Addr(), "--http-advertise", n.Peer.Addr(),
			"--repl-advertise", n.Repl.Addr()}
		if i == 0 {
			args = append(args, "--bootstrap")
		} else {
			// Ignored once the node holds cluster state (a restart).
			args = append(args, "--join", c.nodes[0].Peer.Addr())
		}
		if cfg.commitRank() >= commitRank("remote_write") && cfg.Nodes > 1 {
			// Every member is listed: the primary of the moment is not
			// counted, so any one other member's ack commits.
			args = append(args, "--sync-standbys", fmt.Sprintf("ANY 1 (%s)", strings.Join(ids, ",")),
				"--sync-mode", "strict", "--sync-timeout", cfg.SyncTimeout.String())
		}
		logw, err := c.nodeLog(id)
		if err != nil {
			c.Close()
			return err
		}
		n.spec = procSpec{binary: cfg.Binary, id: id, dataDir: n.DataDir, args: args, log: logw, raft: true}
	}
	return nil
}

// peerProxies are the proxies the other members dial to reach n.
func (n *Node) peerProxies() []*Proxy { return []*Proxy{n.Raft, n.Repl, n.Peer} }

// reverse swaps Forward and Backward.
func (d Direction) reverse() Direction {
	var r Direction
	if d&Forward != 0 {
		r |= Backward
	}
	if d&Backward != 0 {
		r |= Forward
	}
	return r
}

// cutPair drops the bytes between HA nodes a and b, whoever dialed:
// Forward what a sends to b, Backward what b sends to a. It returns the
// proxies it changed.
func cutPair(a, b *Node, dir Direction) []*Proxy {
	for _, p := range b.peerProxies() {
		p.PartitionFrom(a.Source, dir) // a dialed b: forward is a -> b
	}
	for _, p := range a.peerProxies() {
		p.PartitionFrom(b.Source, dir.reverse()) // b dialed a: forward is b -> a
	}
	return append(a.peerProxies(), b.peerProxies()...)
}

// isolate cuts n from every other member (Forward: what n sends, Backward:
// what it receives), and from the workload's clients too when clients is
// set. It returns the proxies it changed.
func (c *Cluster) isolate(n *Node, dir Direction, clients bool) []*Proxy {
	var touched []*Proxy
	for _, o := range c.nodes {
		if o != n {
			touched = append(touched, cutPair(n, o, dir)...)
		}
	}
	if clients {
		n.Client.Partition(dir.reverse()) // the client dials n: forward is towards n
		touched = append(touched, n.Client)
	}
	return touched
}

// haView is what one node's /status says about itself and the cluster.
type haView struct {
	node *Node
	st   nodeStatus
	err  error
}

// views reads every node's /status at once, straight from each node.
func (c *Cluster) views(ctx context.Context) []haView {
	out := make([]haView, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].node = n
			if n.Paused() {
				out[i].err = fmt.Errorf("%s is paused", n.ID)
				return
			}
			cl, err := n.Direct(time.Second)
			if err != nil {
				out[i].err = err
				return
			}
			defer cl.Close()
			out[i].st, out[i].err = statusOf(ctx, cl)
		}()
	}
	wg.Wait()
	return out
}

// currentPrimary is the node that acts as primary now: the one that may
// write, else the primary that the newest cluster state names.
func (c *Cluster) currentPrimary(ctx context.Context) (*Node, error) {
	vs := c.views(ctx)
	var named string
	var term uint64
	for _, v := range vs {
		if v.err != nil {
			continue
		}
		if v.st.MayWrite {
			return v.node, nil
		}
		if v.st.ClusterPrimary != "" && v.st.ClusterTerm >= term {
			named, term = v.st.ClusterPrimary, v.st.ClusterTerm
		}
	}
	if n := c.Node(named); n != nil {
		return n, nil
	}
	var errs []error
	for _, v := range vs {
		if v.err != nil {
			errs = append(errs, v.err)
		}
	}
	return nil, fmt.Errorf("chaos: no node names a primary: %w", errors.Join(errs...))
}

// convergedHA reports whether the HA cluster has settled: every node
// answers and names the same primary in the same term, that primary holds
// its lease, every other node is its replica, and every node has applied
// the primary's durable log end.
func convergedHA(ctx context.Context, c *Cluster) (bool, string) {
	vs := c.views(ctx)
	var notes []string
	for _, v := range vs {
		if v.err != nil {
			return false, fmt.Sprintf("%s: %v", v.node.ID, v.err)
		}
		notes = append(notes, fmt.Sprintf("%s %s term %d (cluster: primary %s term %d, may_write=%v) ready=%v applied=%s durable=%s%s",
			v.node.ID, v.st.Role, v.st.Term, v.st.ClusterPrimary, v.st.ClusterTerm, v.st.MayWrite, v.st.Ready, v.st.Applied, v.st.Durable, errSuffix(v.st.Error)))
	}
	note := strings.Join(notes, "; ")
	primary, term := vs[0].st.ClusterPrimary, vs[0].st.ClusterTerm
	var end string
	for _, v := range vs {
		if v.st.ClusterPrimary != primary || v.st.ClusterTerm != term || !v.st.Ready || v.st.Error != "" {
			return false, note
		}
		if v.node.ID == primary {
			if v.st.Role != "primary" || !v.st.MayWrite || v.st.Applied != v.st.Durable {
				return false, note
			}
			end = v.st.Durable.String()
		} else if v.st.Role != "replica" {
			return false, note
		}
	}
	if end == "" {
		return false, note
	}
	for _, v := range vs {
		if v.st.Applied.String() != end {
			return false, note
		}
	}
	return true, note
}
