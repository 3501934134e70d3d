package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-db/tandem/client"
)

// quiescePoll is how often quiesce looks again.
const quiescePoll = 20 * time.Millisecond

// quiesce waits until every node answers and every replica has applied
// the primary's durable log end, which no write moves any more.
func quiesce(ctx context.Context, c *Cluster, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(quiescePoll)
	defer tick.Stop()
	note := ""
	check := converged
	if c.cfg.HA {
		check = convergedHA
	}
	for {
		ok, n := check(ctx, c)
		if ok {
			return nil
		}
		if ctx.Err() == nil {
			note = n
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: the cluster did not converge within %v; last: %s", timeout, note)
		case <-tick.C:
		}
	}
}

func converged(ctx context.Context, c *Cluster) (bool, string) {
	var notes []string
	var end string
	ok := true
	for i, n := range c.Nodes() {
		cl, err := n.Direct(time.Second)
		if err != nil {
			return false, err.Error()
		}
		st, err := statusOf(ctx, cl)
		cl.Close()
		if err != nil {
			return false, fmt.Sprintf("%s: %v", n.ID, err)
		}
		if i == 0 {
			end = st.Durable.String()
			if st.Applied != st.Durable {
				ok = false
			}
		} else if st.Applied.String() != end {
			ok = false
		}
		notes = append(notes, fmt.Sprintf("%s %s ready=%v applied=%s durable=%s%s", n.ID, st.Role, st.Ready, st.Applied, st.Durable, errSuffix(st.Error)))
	}
	return ok, strings.Join(notes, "; ")
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " error=" + e
}

// settleAttempts bounds how often settledContents reads again.
const settleAttempts = 3

// settledContents reads every node's contents, and while they differ
// waits for the cluster to quiesce and reads them again, a few times: a
// write whose client gave up during a fault (forwarded into a partition
// that has healed since) may still commit after the last quiesce. A real
// divergence stays; a late commit does not.
func settledContents(ctx context.Context, c *Cluster, tables []string, timeout time.Duration) []NodeContent {
	out := readContents(ctx, c, tables)
	for i := 1; i < settleAttempts && !sameContents(out); i++ {
		if quiesce(ctx, c, timeout) != nil {
			break
		}
		out = readContents(ctx, c, tables)
	}
	return out
}

func sameContents(cs []NodeContent) bool {
	for _, nc := range cs {
		if nc.Err != "" || nc.Applied != cs[0].Applied || nc.Checksum != cs[0].Checksum {
			return false
		}
	}
	return true
}

// readContents reads every node's applied LSN and a checksum of the
// tables, locally (level none), straight from each node.
func readContents(ctx context.Context, c *Cluster, tables []string) []NodeContent {
	var out []NodeContent
	for _, n := range c.Nodes() {
		nc := NodeContent{Node: n.ID}
		if err := nodeContent(ctx, n, tables, &nc); err != nil {
			nc.Err = err.Error()
		}
		out = append(out, nc)
	}
	return out
}

func nodeContent(ctx context.Context, n *Node, tables []string, nc *NodeContent) error {
	cl, err := n.Direct(10 * time.Second)
	if err != nil {
		return err
	}
	defer cl.Close()
	st, err := statusOf(ctx, cl)
	if err != nil {
		return err
	}
	nc.Applied = st.Applied.String()
	h := sha256.New()
	for _, t := range tables {
		resp, err := cl.Query(ctx, client.SQL("SELECT * FROM "+t+" ORDER BY 1"), client.QueryOptions{Level: "none"})
		if err == nil {
			err = resp.Err()
		}
		if err != nil {
			return fmt.Errorf("read table %s: %w", t, err)
		}
		rows := resp.Results[0].Values
		nc.Rows += int64(len(rows))
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\n%s\n", t, b)
	}
	nc.Checksum = hex.EncodeToString(h.Sum(nil))
	return nil
}
