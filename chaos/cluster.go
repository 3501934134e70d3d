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
// replication link upstream.
type Cluster struct {
	cfg    *Config
	dir    string
	secret string
	nodes  []*Node
	logs   []io.Closer
}

// Node is one member of the cluster: n1 is the primary, the others stream
// from it through their upstream proxy.
type Node struct {
	ID      string
	DataDir string
	// Client is the proxy between the workload's clients and the node's
	// HTTP API; Upstream the proxy between a replica and its upstream's
	// replication address (nil on the primary).
	Client   *Proxy
	Upstream *Proxy

	spec procSpec

	mu     sync.Mutex
	p      *proc // nil while down
	paused bool
}

// newCluster creates the proxies and data dirs; Start starts the nodes.
func newCluster(cfg *Config, dir string) (*Cluster, error) {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, dir: dir, secret: hex.EncodeToString(secret)}
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
		var logw io.Writer
		if cfg.Out != "" {
			f, err := os.OpenFile(filepath.Join(cfg.Out, id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("chaos: node log: %w", err)
			}
			c.logs = append(c.logs, f)
			logw = f
		}
		n.spec = procSpec{binary: cfg.Binary, id: id, dataDir: n.DataDir, args: args, log: logw}
		c.nodes = append(c.nodes, n)
	}
	return c, nil
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
		if n.Upstream != nil {
			out = append(out, n.Upstream)
		}
		out = append(out, n.Client)
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
		if n.Upstream != nil {
			errs = append(errs, n.Upstream.Close())
		}
		if n.Client != nil {
			errs = append(errs, n.Client.Close())
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
	defer n.mu.Unlock()
	if n.p != nil && !n.p.exited() {
		return fmt.Errorf("chaos: start %s: already running", n.ID)
	}
	spec := n.spec
	spec.args = append(append([]string(nil), spec.args...), extra...)
	p, err := startProc(ctx, spec)
	if err != nil {
		return err
	}
	n.p, n.paused = p, false
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
