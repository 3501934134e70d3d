package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandem-db/tandem/client"
)

// Cluster is the run's nodes, as child processes, and the proxies in
// front of them: one per node for clients, one per replica for its
// replication link upstream (or, in HA mode, one per listener of every
// node, see newHACluster).
type Cluster struct {
	cfg    *Config
	dir    string
	secret string
	nodes  []*Node
	logs   []io.Closer
}

// Node is one member of the cluster: n1 is the primary, the others stream
// from it through their upstream proxy. In HA mode n1 bootstraps the
// cluster, the others join it, and the cluster state picks the primary.
type Node struct {
	ID      string
	DataDir string
	// Client is the proxy between the workload's clients and the node's
	// HTTP API; Upstream the proxy between a replica and its upstream's
	// replication address (nil on the primary, and in HA mode).
	Client   *Proxy
	Upstream *Proxy
	// HA mode only: Source is the loopback IP the node dials the others
	// from (--source-addr), and Raft, Repl and Peer are the proxies in
	// front of its raft, replication and HTTP listeners, the addresses it
	// advertises to the other members.
	Source           string
	Raft, Repl, Peer *Proxy

	spec procSpec

	mu       sync.Mutex
	p        *proc // nil while down
	paused   bool
	starting bool
}

// newCluster creates the proxies and data dirs; Start starts the nodes.
func newCluster(cfg *Config, dir string) (*Cluster, error) {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, dir: dir, secret: hex.EncodeToString(secret)}
	if cfg.HA {
		return c, c.addHANodes()
	}
	var standbys []string
	for i := 2; i <= cfg.Nodes; i++ {
		standbys = append(standbys, "n"+strconv.Itoa(i))
	}
	for i := 1; i <= cfg.Nodes; i++ {
		id := "n" + strconv.Itoa(i)
		n := &Node{ID: id, DataDir: filepath.Join(dir, id)}
		args := []string{"--cluster-secret", c.secret, "--segment-size", strconv.FormatInt(cfg.SegmentSize, 10),
			"--heartbeat", "200ms", "--write-timeout", cfg.OpTimeout.String()}
		if i == 1 {
			if cfg.commitRank() >= commitRank("remote_write") && len(standbys) > 0 {
				args = append(args, "--sync-standbys", fmt.Sprintf("ANY 1 (%s)", strings.Join(standbys, ",")),
					"--sync-mode", "strict", "--sync-timeout", cfg.SyncTimeout.String())
			}
		} else {
			primary := c.nodes[0]
			up, err := NewProxy(primary.ID+"->"+id, primary.replAddr, cfg.Seed+uint64(i)*7919)
			if err != nil {
				c.Close()
				return nil, err
			}
			n.Upstream = up
			args = append(args, "--primary", up.Addr())
		}
		cp, err := NewProxy("client->"+id, n.httpAddr, cfg.Seed+uint64(i)*104729)
		if err != nil {
			c.Close()
			return nil, err
		}
		n.Client = cp
		logw, err := c.nodeLog(id)
		if err != nil {
			c.Close()
			return nil, err
		}
		n.spec = procSpec{binary: cfg.Binary, id: id, dataDir: n.DataDir, args: args, log: logw}
		c.nodes = append(c.nodes, n)
	}
	return c, nil
}

// nodeLog opens the node's log file in cfg.Out; nil without an Out dir.
func (c *Cluster) nodeLog(id string) (io.Writer, error) {
	if c.cfg.Out == "" {
		return nil, nil
	}
	f, err := os.OpenFile(filepath.Join(c.cfg.Out, id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("chaos: node log: %w", err)
	}
	c.logs = append(c.logs, f)
	return f, nil
}

// Nodes returns the members, the primary first.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns the member named id, or nil.
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Proxies returns every link's proxy.
func (c *Cluster) Proxies() []*Proxy {
	var out []*Proxy
	for _, n := range c.nodes {
		out = append(out, n.proxies()...)
	}
	return out
}

// proxies are the node's proxies: its upstream link (not in HA mode), its
// client link, and in HA mode its raft, replication and peer HTTP ones.
func (n *Node) proxies() []*Proxy {
	var out []*Proxy
	for _, p := range []*Proxy{n.Upstream, n.Client, n.Raft, n.Repl, n.Peer} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// Proxy returns the proxy of the named link, or nil.
func (c *Cluster) Proxy(name string) *Proxy {
	for _, p := range c.Proxies() {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// Close stops every node and proxy.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, n.Stop())
	}
	for _, n := range c.nodes {
		for _, p := range n.proxies() {
			errs = append(errs, p.Close())
		}
	}
	for _, l := range c.logs {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// Start starts the node, which must be down, and waits for /readyz.
func (n *Node) Start(ctx context.Context) error {
	return n.StartWith(ctx, nil)
}

// StartWith starts the node with extra `tandem serve` flags.
func (n *Node) StartWith(ctx context.Context, extra []string) error {
	n.mu.Lock()
	if n.starting || n.p != nil && !n.p.exited() {
		n.mu.Unlock()
		return fmt.Errorf("chaos: start %s: already running", n.ID)
	}
	n.starting = true
	n.mu.Unlock()
	spec := n.spec
	spec.args = append(append([]string(nil), spec.args...), extra...)
	// The process is the node's from the moment it runs (its proxies
	// reach it), while the lock is not held for the wait.
	p, repl, err := startProc(ctx, spec, func(p *proc) {
		n.mu.Lock()
		n.p, n.paused = p, false
		n.mu.Unlock()
	})
	n.mu.Lock()
	defer n.mu.Unlock()
	n.starting = false
	if err != nil {
		return err
	}
	p.replAddr = repl
	return nil
}

// Kill sends SIGKILL and waits for the process to go.
func (n *Node) Kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return nil
	}
	err := n.p.kill()
	n.p, n.paused = nil, false
	return err
}

// Stop stops the node cleanly (SIGTERM), killing it if it hangs.
func (n *Node) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return nil
	}
	err := n.p.stop()
	n.p, n.paused = nil, false
	return err
}

// Pause sends SIGSTOP; Resume sends SIGCONT.
func (n *Node) Pause() error { return n.setPaused(true) }

// Resume sends SIGCONT to a paused node.
func (n *Node) Resume() error { return n.setPaused(false) }

func (n *Node) setPaused(on bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return fmt.Errorf("chaos: %s is down", n.ID)
	}
	sig := syscall.SIGCONT
	if on {
		sig = syscall.SIGSTOP
	}
	if err := n.p.signal(sig); err != nil {
		return err
	}
	n.paused = on
	return nil
}

// Up reports whether the node's process runs (paused or not).
func (n *Node) Up() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p != nil && !n.p.exited()
}

// Paused reports whether the node is stopped by SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// httpAddr is the node's HTTP address, or "" while it is down.
func (n *Node) httpAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil || n.p.exited() {
		return ""
	}
	return n.p.httpAddr
}

// raftAddr is the node's raft address, or "" while it is down or not an
// HA member.
func (n *Node) raftAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil || n.p.exited() {
		return ""
	}
	return n.p.raftAddr
}

// replAddr is the node's replication address, or "" while it is down.
func (n *Node) replAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil || n.p.exited() {
		return ""
	}
	return n.p.replAddr
}

// Stderr returns the end of the current process's stderr.
func (n *Node) Stderr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return ""
	}
	return n.p.stderr.String()
}

// Direct returns a client that talks to the node's HTTP API without a
// proxy: the harness's own view, which faults do not touch.
func (n *Node) Direct(timeout time.Duration) (*client.Client, error) {
	addr := n.httpAddr()
	if addr == "" {
		return nil, fmt.Errorf("chaos: %s is down", n.ID)
	}
	return client.New(addr, client.WithTimeout(timeout), client.WithMaxConns(2))
}
