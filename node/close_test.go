package node

import (
	"io/fs"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-db/tandem/rlog"
)

// gateFS blocks the first MkdirAll (rlog.Open) until released.
type gateFS struct {
	rlog.OSFS
	entered, release chan struct{}
}

func (g *gateFS) MkdirAll(path string, perm fs.FileMode) error {
	select {
	case g.entered <- struct{}{}:
		<-g.release
	default:
	}
	return g.OSFS.MkdirAll(path, perm)
}

// Close while a replica installs its seed stops everything the seed
// started, the replication server included.
func TestNode_CloseDuringSeedInstall(t *testing.T) {
	const secret = "node-test-secret-0123456789abcdef"
	up := openNode(t, t.TempDir(), func(c *Config) { c.ReplAddr, c.ClusterSecret = "127.0.0.1:0", secret })
	execOK(t, up, "CREATE TABLE t(id INTEGER PRIMARY KEY)")

	gate := &gateFS{entered: make(chan struct{}), release: make(chan struct{})}
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.HTTPAddr = "n2", filepath.Join(t.TempDir(), "n2"), ""
	cfg.Primary, cfg.ReplAddr, cfg.ClusterSecret, cfg.LogFS = up.ReplAddr(), "127.0.0.1:0", secret, gate
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-gate.entered: // the seed is in place; storage is opening
	case <-time.After(30 * time.Second):
		n.Close()
		t.Fatal("the replica never installed its seed")
	}
	closed := make(chan error, 1)
	go func() { closed <- n.Close() }()
	<-n.ctx.Done() // Close is past stopping the (not yet started) server
	close(gate.release)
	if err := <-closed; err != nil {
		t.Logf("close: %v", err)
	}
	if srv := n.server.Load(); srv != nil {
		if c, err := net.Dial("tcp", srv.Addr().String()); err == nil {
			c.Close()
			srv.Close()
			t.Fatal("the replication server started during the seed still accepts connections after Close")
		}
	}
}
