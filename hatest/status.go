package hatest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/lsn"
)

// pollInterval is how often the waits look again.
const pollInterval = 10 * time.Millisecond

// Status is the part of GET /status the harness reads.
type Status struct {
	Node struct {
		ID    string `json:"id"`
		UUID  string `json:"uuid"`
		Role  string `json:"role"`
		Term  uint64 `json:"term"`
		Ready bool   `json:"ready"`
		Error string `json:"error"`
	} `json:"node"`
	Log struct {
		End     lsn.LSN `json:"end_lsn"`
		Durable lsn.LSN `json:"durable_lsn"`
	} `json:"log"`
	DB struct {
		Applied lsn.LSN `json:"applied_lsn"`
	} `json:"db"`
	Upstream *struct {
		Upstream  string `json:"upstream"`
		Connected bool   `json:"connected"`
		State     string `json:"state"`
	} `json:"upstream"`
	Cluster *struct {
		RaftLeader  string `json:"raft_leader"`
		Primary     string `json:"primary"`
		Term        uint64 `json:"term"`
		MayWrite    bool   `json:"may_write"`
		Failover    string `json:"last_failover"`
		RenewError  string `json:"lease_renew_error"`
		RewindError string `json:"rewind_error"`
	} `json:"cluster"`
}

// Writable reports whether the member says it is the cluster's primary
// and holds the lease.
func (s Status) Writable() bool {
	return s.Node.Role == "primary" && s.Cluster != nil && s.Cluster.MayWrite && s.Cluster.Primary == s.Node.ID
}

// Summary is a one-line view for failure messages.
func (s Status) Summary() string {
	b := fmt.Sprintf("%s %s term %d applied %s durable %s", s.Node.ID, s.Node.Role, s.Node.Term, s.DB.Applied, s.Log.Durable)
	if s.Node.Error != "" {
		b += " error=" + s.Node.Error
	}
	if u := s.Upstream; u != nil {
		b += fmt.Sprintf(" upstream=%s connected=%v %s", u.Upstream, u.Connected, u.State)
	}
	if cs := s.Cluster; cs != nil {
		b += fmt.Sprintf(" [cluster primary %s term %d may_write %v raft_leader %s]", cs.Primary, cs.Term, cs.MayWrite, cs.RaftLeader)
		for _, e := range []string{cs.Failover, cs.RenewError, cs.RewindError} {
			if e != "" {
				b += " " + e
			}
		}
	}
	return b
}

// Status returns a member's /status.
func (c *Cluster) Status(id string) (Status, error) {
	return c.status(c.Member(id))
}

func (c *Cluster) status(m *Member) (Status, error) {
	cl := m.client(2 * time.Second)
	defer cl.Close()
	raw, err := cl.Status(context.Background())
	if err != nil {
		return Status{}, err
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return Status{}, err
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return Status{}, fmt.Errorf("decode the status of %s: %w", m.ID, err)
	}
	return s, nil
}

func (c *Cluster) mustStatus(m *Member) Status {
	c.t.Helper()
	s, err := c.status(m)
	if err != nil {
		c.CheckExits()
		c.t.Fatalf("hatest: status of %s: %v", m.ID, err)
	}
	return s
}

// Poll polls cond until it holds, and fails the test with what and cond's
// last note once timeout has passed. It fails at once when a member
// exited that the test did not stop.
func (c *Cluster) Poll(timeout time.Duration, what string, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		c.CheckExits()
		ok, note := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("hatest: waiting %v for %s; last: %s", timeout, what, note)
		}
		<-tick.C
	}
}

// WaitPrimary waits until a running member is the cluster's primary and
// holds the lease, and returns its id.
func (c *Cluster) WaitPrimary(timeout time.Duration) string {
	c.t.Helper()
	var got string
	c.Poll(timeout, "a primary that holds the lease", func() (bool, string) {
		var notes []string
		for _, id := range c.Running() {
			s, err := c.Status(id)
			if err != nil {
				notes = append(notes, fmt.Sprintf("%s: %v", id, err))
				continue
			}
			if s.Writable() {
				got = id
				return true, ""
			}
			notes = append(notes, s.Summary())
		}
		return false, strings.Join(notes, "; ")
	})
	return got
}

// WaitConverged waits until every running member answers, one of them is
// the primary, every member has applied the primary's durable log end and
// the table reads the same on all; it returns the table's rows.
func (c *Cluster) WaitConverged(timeout time.Duration, table string) map[int64]string {
	c.t.Helper()
	return c.WaitConvergedOn(timeout, table)
}

// WaitConvergedOn is WaitConverged for some members only (all running
// members when none are named); the primary must be one of them.
func (c *Cluster) WaitConvergedOn(timeout time.Duration, table string, only ...string) map[int64]string {
	c.t.Helper()
	var rows map[int64]string
	what := "every member to converge on the primary's log end and contents"
	if len(only) > 0 {
		what = strings.Join(only, ", ") + " to converge on the primary's log end and contents"
	}
	c.Poll(timeout, what, func() (bool, string) {
		ids := only
		if len(ids) == 0 {
			ids = c.Running()
		}
		sts := map[string]Status{}
		primary := ""
		var notes []string
		for _, id := range ids {
			s, err := c.Status(id)
			if err != nil {
				return false, fmt.Sprintf("%s: %v", id, err)
			}
			sts[id] = s
			notes = append(notes, s.Summary())
			if s.Node.Role == "primary" {
				primary = id
			}
		}
		if primary == "" {
			return false, "no primary; " + strings.Join(notes, "; ")
		}
		end := sts[primary].Log.Durable
		for _, id := range ids {
			if s := sts[id]; s.DB.Applied != end || (id != primary && s.Node.Role != "replica") {
				return false, fmt.Sprintf("%s has applied %s, the primary %s's durable end is %s; %s",
					id, s.DB.Applied, primary, end, strings.Join(notes, "; "))
			}
		}
		sums := map[string]string{}
		for _, id := range ids {
			r, err := c.Rows(id, table)
			if err != nil {
				return false, err.Error()
			}
			sums[id] = checksum(r)
			if id == primary {
				rows = r
			}
		}
		for _, id := range ids {
			if sums[id] != sums[primary] {
				return false, fmt.Sprintf("table %s: checksums differ at the same LSN %s: %v", table, end, sums)
			}
		}
		return true, ""
	})
	return rows
}

// Rows reads a table of (id INTEGER PRIMARY KEY, v TEXT) on one member,
// locally (level none).
func (c *Cluster) Rows(id, table string) (map[int64]string, error) {
	cl := c.Member(id).client(10 * time.Second)
	defer cl.Close()
	resp, err := cl.Query(context.Background(), client.SQL("SELECT id, v FROM "+table), client.QueryOptions{Level: "none"})
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("read table %s on %s: %w", table, id, err)
	}
	out := make(map[int64]string, len(resp.Results[0].Values))
	for _, v := range resp.Results[0].Values {
		k, ok1 := v[0].(int64)
		s, ok2 := v[1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("table %s on %s: row %v: want (integer, text)", table, id, v)
		}
		out[k] = s
	}
	return out, nil
}

// MustRows is Rows that fails the test on an error.
func (c *Cluster) MustRows(id, table string) map[int64]string {
	c.t.Helper()
	r, err := c.Rows(id, table)
	if err != nil {
		c.CheckExits()
		c.t.Fatal(err)
	}
	return r
}

// checksum hashes rows in id order.
func checksum(rows map[int64]string) string {
	h := sha256.New()
	for _, id := range sortedKeys(rows) {
		fmt.Fprintf(h, "%d\t%q\n", id, rows[id])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
