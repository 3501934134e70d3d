package nodetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/crashtest"
	"github.com/tandem-db/tandem/node"
)

// Secret is the cluster secret every harness node shares.
const Secret = "nodetest-cluster-secret-0123456789abcdef"

// startTimeout bounds Start and Restart, a replica's seed included.
const startTimeout = 30 * time.Second

// Options configure a Cluster.
type Options struct {
	// Config edits every node's configuration before the edits given to
	// Start.
	Config func(*node.Config)
}

// Cluster is a set of in-process nodes and the proxies on their
// replication links.
type Cluster struct {
	opts Options
	dir  string
	logs *logBuffer

	mu      sync.Mutex
	members map[string]*member
	order   []string
	proxies map[link]*Proxy
	ha      map[string][3]string // HA members' raft, HTTP and replication addresses
	haOrder []string
}

// link is a directed replication link: down streams from up.
type link struct{ up, down string }

type member struct {
	name     string
	mods     []func(*node.Config)
	upstream string // "" for a primary
	n        *node.Node
}

// NewCluster returns an empty cluster; t.Cleanup stops every node and
// proxy it starts, and prints the nodes' logs if the test failed.
func NewCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{opts: opts, dir: t.TempDir(), logs: newLogBuffer(os.Getenv("NODETEST_LOG") != ""),
		members: make(map[string]*member), proxies: make(map[link]*Proxy)}
	t.Cleanup(func() {
		c.closeAll(t)
		if t.Failed() {
			t.Logf("node logs (last 16 KiB):\n%s", c.logs.tail(16<<10))
		}
	})
	return c
}

// ReplicaOf makes a node a replica of the named member.
func ReplicaOf(upstream string) func(*node.Config) {
	return func(cfg *node.Config) { cfg.Primary = upstream }
}

// Start opens node name with the harness defaults, then opts.Config, then
// mods, and waits until it is ready (a new replica has seeded). A
// Config.Primary that names a member makes the node its replica through
// the link's proxy.
func (c *Cluster) Start(t testing.TB, name string, mods ...func(*node.Config)) *node.Node {
	t.Helper()
	c.mu.Lock()
	if _, ok := c.members[name]; ok {
		c.mu.Unlock()
		t.Fatalf("nodetest: node %s started twice; use Restart", name)
	}
	m := &member{name: name, mods: mods}
	c.members[name] = m
	c.order = append(c.order, name)
	c.mu.Unlock()
	return c.open(t, m)
}

// Restart reopens a stopped node on its data dir with its configuration,
// plus more edits.
func (c *Cluster) Restart(t testing.TB, name string, mods ...func(*node.Config)) *node.Node {
	t.Helper()
	c.mu.Lock()
	m, ok := c.members[name]
	running := ok && m.n != nil
	if ok && !running {
		m.mods = append(m.mods, mods...)
	}
	c.mu.Unlock()
	switch {
	case !ok:
		t.Fatalf("nodetest: restart of unknown node %s", name)
	case running:
		t.Fatalf("nodetest: restart of node %s, which is running; Stop it first", name)
	}
	return c.open(t, m)
}

// Stop closes a node; its data dir stays for Restart.
func (c *Cluster) Stop(t testing.TB, name string) {
	t.Helper()
	c.mu.Lock()
	m := c.members[name]
	var n *node.Node
	if m != nil {
		n, m.n = m.n, nil
	}
	c.mu.Unlock()
	if n == nil {
		t.Fatalf("nodetest: stop of node %s, which is not running", name)
	}
	if err := n.Close(); err != nil {
		t.Errorf("nodetest: close %s: %v", name, err)
	}
}

// config builds a member's configuration; it creates the proxy of the
// member's upstream link on first use.
func (c *Cluster) config(m *member) (node.Config, error) {
	cfg := node.DefaultConfig()
	cfg.NodeID = m.name
	cfg.DataDir = c.DataDir(m.name)
	cfg.HTTPAddr, cfg.ReplAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ClusterSecret = Secret
	cfg.Heartbeat = 200 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if c.opts.Config != nil {
		c.opts.Config(&cfg)
	}
	for _, mod := range m.mods {
		mod(&cfg)
	}
	if cfg.Primary == "" || strings.Contains(cfg.Primary, ":") {
		return cfg, nil // a primary, or an address outside the harness
	}
	up := cfg.Primary
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.members[up]; !ok {
		return cfg, fmt.Errorf("nodetest: node %s replicates from %s, which is not a member of the cluster", m.name, up)
	}
	m.upstream = up
	l := link{up, m.name}
	p := c.proxies[l]
	if p == nil {
		var err error
		if p, err = NewProxy(func() string { return c.replAddr(up) }); err != nil {
			return cfg, err
		}
		c.proxies[l] = p
	}
	cfg.Primary = p.Addr()
	return cfg, nil
}

// replAddr is a member's replication address, or "" while it is down.
func (c *Cluster) replAddr(name string) string {
	c.mu.Lock()
	m := c.members[name]
	var n *node.Node
	if m != nil {
		n = m.n
	}
	c.mu.Unlock()
	if n == nil {
		return ""
	}
	return n.ReplAddr()
}

func (c *Cluster) open(t testing.TB, m *member) *node.Node {
	t.Helper()
	cfg, err := c.config(m)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(cfg)
	if err != nil {
		t.Fatalf("nodetest: open %s: %v", m.name, err)
	}
	c.mu.Lock()
	m.n = n
	c.mu.Unlock()
	WaitFor(t, startTimeout, fmt.Sprintf("node %s ready", m.name), func() (bool, string) {
		st := status(n)
		return st.Node.Ready, statusLine(st)
	})
	return n
}

// Node returns a running node, or nil when it is stopped or unknown.
func (c *Cluster) Node(name string) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.members[name]; m != nil {
		return m.n
	}
	return nil
}

// must returns a running node or fails the test.
func (c *Cluster) must(t testing.TB, name string) *node.Node {
	t.Helper()
	n := c.Node(name)
	if n == nil {
		t.Fatalf("nodetest: node %s is not running", name)
	}
	return n
}

// DataDir returns node name's data directory.
func (c *Cluster) DataDir(name string) string { return filepath.Join(c.dir, name) }

// Proxy returns the proxy on the link from up to down, or nil.
func (c *Cluster) Proxy(up, down string) *Proxy {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proxies[link{up, down}]
}

// Cut partitions the replication link between a and b, whichever
// direction it streams in.
func (c *Cluster) Cut(t testing.TB, a, b string) {
	t.Helper()
	for _, p := range c.linkProxies(t, a, b) {
		p.Cut()
	}
}

// Heal reconnects the replication link between a and b; the replica
// reconnects after its backoff.
func (c *Cluster) Heal(t testing.TB, a, b string) {
	t.Helper()
	for _, p := range c.linkProxies(t, a, b) {
		p.Heal()
	}
}

func (c *Cluster) linkProxies(t testing.TB, a, b string) []*Proxy {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var ps []*Proxy
	for _, l := range []link{{a, b}, {b, a}} {
		if p := c.proxies[l]; p != nil {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		t.Fatalf("nodetest: no replication link between %s and %s", a, b)
	}
	return ps
}

// root follows upstream links from name to the cluster's primary.
func (c *Cluster) root(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range len(c.members) {
		m := c.members[name]
		if m == nil || m.upstream == "" {
			break
		}
		name = m.upstream
	}
	return name
}

// closeAll stops replicas before their upstreams, then the proxies.
func (c *Cluster) closeAll(t testing.TB) {
	c.mu.Lock()
	var nodes []*node.Node
	var names []string
	for i := len(c.order) - 1; i >= 0; i-- {
		if m := c.members[c.order[i]]; m.n != nil {
			nodes, names = append(nodes, m.n), append(names, m.name)
			m.n = nil
		}
	}
	proxies := c.proxies
	c.proxies = map[link]*Proxy{}
	c.mu.Unlock()
	var errs []error
	for i, n := range nodes {
		if err := n.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", names[i], err))
		}
	}
	for _, p := range proxies {
		p.Close()
	}
	if err := errors.Join(errs...); err != nil {
		t.Errorf("nodetest: %v", err)
	}
}

// ctx is the context of one harness call.
func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// HA makes a member of an HA cluster with fixed loopback addresses, kept
// across restarts: the first member the test names bootstraps the cluster
// and the others join it through the first one's HTTP API.
func (c *Cluster) HA(t testing.TB, name string) func(*node.Config) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ha == nil {
		c.ha = map[string][3]string{}
	}
	addrs, ok := c.ha[name]
	if !ok {
		for i := range addrs {
			addrs[i] = freeAddr(t)
		}
		c.ha[name] = addrs
		c.haOrder = append(c.haOrder, name)
	}
	first := c.ha[c.haOrder[0]]
	return func(cfg *node.Config) {
		cfg.RaftAddr, cfg.HTTPAddr, cfg.ReplAddr = addrs[0], addrs[1], addrs[2]
		if c.haOrder[0] == name {
			cfg.Bootstrap = true
		} else {
			cfg.Join = first[1]
		}
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := crashtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
