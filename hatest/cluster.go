package hatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/crashtest"
)

// Options configure a Cluster.
type Options struct {
	// Binary is the tandem binary (see crashtest.Build).
	Binary string
	// Secret is every member's --cluster-secret; empty picks a random one.
	Secret string
	// Args are flags every member gets, after its own.
	Args []string
	// ReadyTimeout bounds each start; 0 means 30 s.
	ReadyTimeout time.Duration
	// Proxies puts a proxy in front of every member's replication
	// address (advertised with --repl-advertise) and has each member dial
	// from its own loopback IP (--source-addr), so that Hold can make
	// chosen replicas fall behind.
	Proxies bool
}

// Cluster is a set of `tandem serve` processes forming one HA cluster.
// t.Cleanup kills every member and, when the test failed, logs the end of
// each member's stderr.
type Cluster struct {
	t    testing.TB
	opts Options
	dir  string

	mu      sync.Mutex
	members []*Member // in start order; guarded by mu
}

// Member is one member of the cluster: fixed addresses and data dir, and
// the processes started on them.
type Member struct {
	ID       string
	HTTPAddr string
	ReplAddr string
	RaftAddr string
	DataDir  string
	// UUID is the node's origin UUID, the first part of the GTIDs it
	// writes as primary.
	UUID string
	// With Options.Proxies: the address the other members stream from,
	// and the IP this member dials from.
	ReplAdvertise string
	SourceIP      string

	proxy *proxy

	args  []string          // the member's own flags, the same on every start
	procs []*crashtest.Proc // every start; the last may be running
	// down is set while the test has the member stopped, so its exit is
	// expected and loads leave it alone.
	down bool
}

// NewCluster returns a cluster with no members yet.
func NewCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Binary == "" {
		t.Fatal("hatest: Options.Binary is empty: build the tandem binary first (crashtest.Build)")
	}
	if opts.Secret == "" {
		b := make([]byte, 16)
		rand.Read(b)
		opts.Secret = hex.EncodeToString(b)
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	c := &Cluster{t: t, opts: opts, dir: t.TempDir()}
	t.Cleanup(c.cleanup)
	return c
}

func (c *Cluster) cleanup() {
	c.mu.Lock()
	members := slices.Clone(c.members)
	c.mu.Unlock()
	for _, m := range members {
		if m.proxy != nil {
			defer m.proxy.stop() // after the member: it holds connections open
		}
		for i, p := range m.procs {
			_ = p.Kill() // the node is gone either way
			if c.t.Failed() && i >= len(m.procs)-2 {
				c.t.Logf("stderr of %s, start #%d of %d (raft lines left out):\n%s", m.ID, i+1, len(m.procs),
					crashtest.Tail(withoutRaft(p.Stderr()), 6000))
			}
		}
	}
}

// withoutRaft drops raft's own log lines, which repeat connection errors
// to a killed member many times a second.
func withoutRaft(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if !strings.Contains(line, "component=raft") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// Start starts a new member with its own extra flags. The first member
// bootstraps the cluster; later ones join through the first running
// member. Each gets fixed loopback addresses, kept across restarts.
func (c *Cluster) Start(id string, args ...string) *Member {
	c.t.Helper()
	c.mu.Lock()
	var via string
	for _, m := range c.members {
		if m.ID == id {
			c.mu.Unlock()
			c.t.Fatalf("hatest: member %s started twice; use Restart", id)
		}
		if via == "" && !m.down {
			via = m.HTTPAddr
		}
	}
	first := len(c.members) == 0
	c.mu.Unlock()
	own := slices.Clone(args)
	switch {
	case first:
		own = append(own, "--bootstrap")
	case via == "":
		c.t.Fatalf("hatest: member %s has no running member to join through", id)
	default:
		own = append(own, "--join", via)
	}
	m := &Member{ID: id, DataDir: filepath.Join(c.dir, id), args: own}
	var err error
	for range 5 {
		// The addresses are free until a member records them; a port taken
		// meanwhile is picked again.
		ports, perr := FreePorts(4)
		if perr != nil {
			c.t.Fatal(perr)
		}
		m.HTTPAddr, m.ReplAddr, m.RaftAddr = ports[0], ports[1], ports[2]
		if c.opts.Proxies {
			if err = c.startProxy(m, ports[3]); err != nil {
				continue
			}
		}
		var p *crashtest.Proc
		if p, err = crashtest.Start(context.Background(), c.procOptions(m)); err == nil {
			m.procs = append(m.procs, p)
			break
		}
		if m.proxy != nil {
			m.proxy.stop()
			m.proxy = nil
		}
		var se *crashtest.StartError
		if !errors.As(err, &se) || !strings.Contains(se.Stderr, "address already in use") {
			break
		}
	}
	if err != nil {
		c.t.Fatalf("hatest: start %s: %v", id, err)
	}
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
	st := c.mustStatus(m)
	m.UUID = st.Node.UUID
	return m
}

// startProxy starts the proxy in front of m's replication address; m
// dials from its own loopback IP, 127.0.0.(11+n) for the n-th member.
func (c *Cluster) startProxy(m *Member, addr string) error {
	p, err := newProxy(addr, m.ReplAddr)
	if err != nil {
		return err
	}
	c.mu.Lock()
	m.SourceIP = fmt.Sprintf("127.0.0.%d", 11+len(c.members))
	c.mu.Unlock()
	m.proxy, m.ReplAdvertise = p, addr
	return nil
}

// Hold stops the replication stream from primary to the replicas: the
// proxy in front of primary forwards nothing more to or from them, so
// they fall behind. Cut ends the hold. It needs Options.Proxies.
func (c *Cluster) Hold(primary string, replicas ...string) {
	c.t.Helper()
	p := c.Member(primary).proxy
	if p == nil {
		c.t.Fatal("hatest: Hold needs Options.Proxies")
	}
	var ips []string
	for _, id := range replicas {
		ips = append(ips, c.Member(id).SourceIP)
	}
	p.hold(ips...)
}

// Cut resets the held connections to primary, dropping what they were
// held from receiving, and lets new connections through.
func (c *Cluster) Cut(primary string) {
	c.t.Helper()
	c.Member(primary).proxy.cut()
}

func (c *Cluster) procOptions(m *Member) crashtest.Options {
	args := []string{"--repl-addr", m.ReplAddr, "--raft-addr", m.RaftAddr, "--cluster-secret", c.opts.Secret}
	if m.proxy != nil {
		args = append(args, "--repl-advertise", m.ReplAdvertise, "--source-addr", m.SourceIP)
	}
	args = append(append(args, m.args...), c.opts.Args...)
	return crashtest.Options{Binary: c.opts.Binary, NodeID: m.ID, DataDir: m.DataDir, HTTPAddr: m.HTTPAddr,
		Args: args, ReadyTimeout: c.opts.ReadyTimeout}
}

// Restart starts a stopped member again with the same flags, addresses
// and data dir.
func (c *Cluster) Restart(id string) {
	c.t.Helper()
	m := c.Member(id)
	if p := m.proc(); p != nil {
		select {
		case <-p.Done():
		default:
			c.t.Fatalf("hatest: restart %s: it is still running", id)
		}
	}
	p, err := crashtest.Start(context.Background(), c.procOptions(m))
	if err != nil {
		c.t.Fatalf("hatest: restart %s on %s: %v", id, m.HTTPAddr, err)
	}
	c.mu.Lock()
	m.procs = append(m.procs, p)
	m.down = false
	c.mu.Unlock()
}

// Kill SIGKILLs a member and waits until it has gone.
func (c *Cluster) Kill(id string) {
	c.t.Helper()
	m := c.Member(id)
	c.mu.Lock()
	m.down = true
	c.mu.Unlock()
	if err := m.proc().Kill(); err != nil {
		c.t.Fatalf("hatest: kill %s: %v", id, err)
	}
}

// Member returns the member id; it fails the test when there is none.
func (c *Cluster) Member(id string) *Member {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		if m.ID == id {
			return m
		}
	}
	c.t.Fatalf("hatest: no member %s", id)
	return nil
}

func (m *Member) proc() *crashtest.Proc {
	if len(m.procs) == 0 {
		return nil
	}
	return m.procs[len(m.procs)-1]
}

// Running returns the ids of the members the test has not stopped.
func (c *Cluster) Running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, m := range c.members {
		if !m.down {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// Live returns the HTTP addresses of the members the test has not
// stopped: where a Load sends its writes. Safe for concurrent use.
func (c *Cluster) Live() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var addrs []string
	for _, m := range c.members {
		if !m.down {
			addrs = append(addrs, m.HTTPAddr)
		}
	}
	return addrs
}

// Origin returns the member whose UUID starts gtid, or "".
func (c *Cluster) Origin(gtid string) string {
	uuid, _, _ := strings.Cut(gtid, ":")
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		if m.UUID == uuid {
			return m.ID
		}
	}
	return ""
}

// CheckExits fails the test when a member exited that the test did not
// stop. Every wait of the harness calls it.
func (c *Cluster) CheckExits() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		p := m.proc()
		if m.down || p == nil {
			continue
		}
		select {
		case <-p.Done():
		default:
			continue
		}
		m.down = true // report it once
		c.t.Fatalf("hatest: member %s exited with code %d while the test expected it to run; stderr (raft lines left out):\n%s",
			m.ID, p.ExitCode(), crashtest.Tail(withoutRaft(p.Stderr()), 6000))
	}
}

// client returns a client for a member with a short timeout; the caller
// closes it.
func (m *Member) client(timeout time.Duration) *client.Client {
	cl, err := client.New(m.HTTPAddr, client.WithTimeout(timeout), client.WithMaxConns(2))
	if err != nil {
		panic(err) // a host:port address always parses
	}
	return cl
}

// Exec runs one write statement on a member (a replica forwards it) at
// the given commit level and fails the test on any error.
func (c *Cluster) Exec(id, commit, sql string, args ...any) *client.ExecuteResponse {
	c.t.Helper()
	cl := c.Member(id).client(20 * time.Second)
	defer cl.Close()
	resp, err := cl.Execute(context.Background(), []client.Statement{{SQL: sql, Args: args}}, client.ExecOptions{Commit: commit})
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		c.CheckExits()
		c.t.Fatalf("hatest: execute %q on %s: %v", sql, id, err)
	}
	return resp
}
