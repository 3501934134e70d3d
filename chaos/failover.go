package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// waitWritable waits until n is a primary that holds its lease.
func waitWritable(ctx context.Context, n *Node) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		if cl, err := n.Direct(time.Second); err == nil {
			st, err := statusOf(ctx, cl)
			cl.Close()
			switch {
			case err != nil:
				last = err.Error()
			case st.MayWrite:
				return nil
			default:
				last = fmt.Sprintf("role %s, term %d, cluster primary %q term %d, may_write false", st.Role, st.Term, st.ClusterPrimary, st.ClusterTerm)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: %s never held the primary's lease: %s", n.ID, last)
		case <-tick.C:
		}
	}
}

// clusterHistory is the cluster's role events as n's /status has them.
func clusterHistory(ctx context.Context, n *Node) []clusterEvent {
	cl, err := n.Direct(5 * time.Second)
	if err != nil {
		return nil
	}
	defer cl.Close()
	st, err := statusOf(ctx, cl)
	if err != nil {
		return nil
	}
	return st.History
}

// LostFile is one DATA_DIR/lost-transactions/<term>-<lsn>.jsonl file: the
// transactions a rewind discarded from a diverged log.
type LostFile struct {
	Node string    `json:"node"`
	Name string    `json:"name"`
	Txns []LostTxn `json:"transactions"`
	Err  string    `json:"error,omitempty"`
}

// LostTxn is one discarded transaction, as the node lists it.
type LostTxn struct {
	GTID    string       `json:"gtid"`
	LSN     string       `json:"lsn"`
	Changes []LostChange `json:"changes"`
}

// LostChange is one row change of a discarded transaction.
type LostChange struct {
	Table  string `json:"table"`
	Op     string `json:"op"`
	Before []any  `json:"before,omitempty"`
	After  []any  `json:"after,omitempty"`
}

// readLostFiles reads every node's lost-transactions files.
func readLostFiles(c *Cluster) []LostFile {
	var out []LostFile
	for _, n := range c.Nodes() {
		paths, _ := filepath.Glob(filepath.Join(n.DataDir, "lost-transactions", "*.jsonl"))
		slices.Sort(paths)
		for _, p := range paths {
			lf := LostFile{Node: n.ID, Name: filepath.Base(p)}
			if err := readLostFile(p, &lf); err != nil {
				lf.Err = err.Error()
			}
			out = append(out, lf)
		}
	}
	return out
}

func readLostFile(path string, lf *LostFile) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	for dec.More() {
		var t LostTxn
		if err := dec.Decode(&t); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		lf.Txns = append(lf.Txns, t)
	}
	return nil
}

// listedOps indexes the lost-transactions files by GTID and by the op ID
// a transaction inserted (a row of chaos_ops or the set's element): what
// a lost acknowledged write is looked up by.
func listedOps(files []LostFile) (byGTID map[string]string, byID map[int64]string) {
	byGTID, byID = map[string]string{}, map[int64]string{}
	for _, f := range files {
		where := f.Node + ":" + f.Name
		for _, t := range f.Txns {
			byGTID[t.GTID] = where
			for _, ch := range t.Changes {
				if ch.Op != "INSERT" || len(ch.After) == 0 {
					continue
				}
				if ch.Table != "chaos_ops" && ch.Table != "items" {
					continue
				}
				if id, ok := ch.After[0].(float64); ok {
					byID[int64(id)] = where
				}
			}
		}
	}
	return byGTID, byID
}

// Failover is a role event of the HA cluster: a failover, switchover or
// promotion (a new primary and term), or a rewind of a diverged node.
type Failover struct {
	At     time.Duration `json:"at_ns"`
	Kind   string        `json:"kind"`
	Old    string        `json:"old,omitempty"`
	New    string        `json:"new,omitempty"`
	Term   uint64        `json:"term,omitempty"`
	LSN    string        `json:"lsn,omitempty"`
	Reason string        `json:"reason,omitempty"`
	// WriteGap, for a new primary, is how long no write was acknowledged
	// around it: from the last acknowledged write before the event to the
	// first after it.
	WriteGap time.Duration `json:"write_gap_ns,omitempty"`
}

// failovers turns the cluster's history into run offsets, keeping the
// events of the run, with the write gap around each new primary.
func failovers(ev *Evidence) []Failover {
	var acks []time.Duration
	for _, op := range ev.Ops {
		if op.IsWrite() && op.Result == OK {
			acks = append(acks, op.Return)
		}
	}
	slices.Sort(acks)
	var out []Failover
	for _, e := range ev.History {
		at := e.At.Sub(ev.Start)
		if at < 0 || e.Kind == "member" {
			continue
		}
		f := Failover{At: at, Kind: e.Kind, Old: e.Old, New: e.New, Term: e.Term, LSN: e.LSN, Reason: e.Reason}
		if e.Kind != "rewind" {
			i, _ := slices.BinarySearch(acks, at)
			if i > 0 && i < len(acks) {
				f.WriteGap = acks[i] - acks[i-1]
			}
		}
		out = append(out, f)
	}
	return out
}

// RoleChange is a node seen in another role or term than in its previous
// sample that answered.
type RoleChange struct {
	At   time.Duration `json:"at_ns"`
	Node string        `json:"node"`
	From string        `json:"from"`
	To   string        `json:"to"`
}

// roleChanges lists the role and term changes the monitor saw.
func roleChanges(samples []Sample) []RoleChange {
	last := map[string]string{}
	var out []RoleChange
	for _, s := range samples {
		if !s.Up || s.Role == "" {
			continue
		}
		now := fmt.Sprintf("%s term %d", s.Role, s.Term)
		if prev, ok := last[s.Node]; ok && prev != now {
			out = append(out, RoleChange{At: s.At, Node: s.Node, From: prev, To: now})
		}
		last[s.Node] = now
	}
	slices.SortStableFunc(out, func(a, b RoleChange) int { return int(a.At - b.At) })
	return out
}
