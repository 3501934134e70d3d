package nodetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/node"
)

// pollInterval is how often the Wait helpers look again.
const pollInterval = 5 * time.Millisecond

// DefaultTimeout is the deadline of WaitConverged.
const DefaultTimeout = 20 * time.Second

// WaitFor polls cond until it reports true, and fails the test with what
// and cond's last note when timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("nodetest: waiting for %s: %v", what, err)
	}
}

// Poll polls cond until it reports true, or returns an error with cond's
// last note once timeout has passed.
func Poll(timeout time.Duration, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		ok, note := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %v; last: %s", timeout, note)
		}
		<-tick.C
	}
}

// status returns a node's status document.
func status(n *node.Node) *node.Status {
	s, err := n.Status(context.Background())
	if err != nil {
		panic(fmt.Sprintf("nodetest: status of %s: %v", n.ID(), err)) // Status never fails today
	}
	return s.(*node.Status)
}

// Status returns a running node's status.
func (c *Cluster) Status(t testing.TB, name string) *node.Status {
	t.Helper()
	return status(c.must(t, name))
}

func statusLine(s *node.Status) string {
	line := fmt.Sprintf("%s %s ready=%v applied=%s durable=%s", s.Node.ID, s.Node.Role, s.Node.Ready, s.DB.AppliedLSN, s.Log.Durable)
	if u := s.Upstream; u != nil {
		line += fmt.Sprintf(" upstream{state=%s connected=%v flushed=%s primary=%s stopped=%v err=%q apply_err=%q}",
			u.State, u.Connected, u.FlushedLSN, u.PrimaryLSN, u.Stopped, u.LastError, u.Error)
	}
	return line
}

// Applied returns how far a running node's database has applied the log;
// zero while it seeds.
func (c *Cluster) Applied(t testing.TB, name string) lsn.LSN {
	t.Helper()
	return c.Status(t, name).DB.AppliedLSN
}

// WaitApplied waits until node name has applied at.
func (c *Cluster) WaitApplied(t testing.TB, name string, at lsn.LSN, timeout time.Duration) {
	t.Helper()
	n := c.must(t, name)
	WaitFor(t, timeout, fmt.Sprintf("%s to apply LSN %s", name, at), func() (bool, string) {
		s := status(n)
		return s.Node.Ready && s.DB.AppliedLSN >= at, statusLine(s)
	})
}

// Checksum returns the digest of node name's user tables.
func (c *Cluster) Checksum(t testing.TB, name string) string {
	t.Helper()
	sum, err := checksum(c.must(t, name))
	if err != nil {
		t.Fatalf("nodetest: checksum of %s: %v", name, err)
	}
	return sum
}

func checksum(n *node.Node) (string, error) {
	ctx, cancel := ctx()
	defer cancel()
	return n.DB().Checksum(ctx)
}

// WaitConverged waits until every named node has applied its primary's
// whole durable log and all have the same checksum. The primary is the
// root of the first node's upstream chain, whether named or not.
func (c *Cluster) WaitConverged(t testing.TB, names ...string) {
	t.Helper()
	if len(names) == 0 {
		t.Fatal("nodetest: WaitConverged of no node")
	}
	primary := c.must(t, c.root(names[0]))
	nodes := make([]*node.Node, len(names))
	for i, name := range names {
		nodes[i] = c.must(t, name)
	}
	WaitFor(t, DefaultTimeout, "convergence of "+strings.Join(names, ", "), func() (bool, string) {
		end := status(primary).Log.Durable
		var notes []string
		for _, n := range nodes {
			s := status(n)
			if !s.Node.Ready || s.DB.AppliedLSN != end {
				return false, fmt.Sprintf("primary %s durable %s; %s", primary.ID(), end, statusLine(s))
			}
		}
		var first string
		for i, n := range nodes {
			sum, err := checksum(n)
			if err != nil {
				return false, err.Error()
			}
			notes = append(notes, n.ID()+"="+sum)
			if i == 0 {
				first = sum
			} else if sum != first {
				return false, "checksums differ: " + strings.Join(notes, " ")
			}
		}
		// Nothing was written meanwhile, so the checksums are of LSN end.
		return status(primary).Log.Durable == end, "primary moved on while checksumming"
	})
}
