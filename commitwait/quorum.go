package commitwait

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/lsn"
)

// Positions are the LSNs a standby reports, as in pg_stat_replication:
// every record ending at or before Write is written to its log, at or
// before Flush is fsynced there, and at or before Apply is visible to reads
// on it.
type Positions struct {
	Write, Flush, Apply lsn.LSN
}

// String returns "write 0/00000010 flush 0/00000010 apply 0/00000008".
func (p Positions) String() string {
	return fmt.Sprintf("write %s flush %s apply %s", p.Write, p.Flush, p.Apply)
}

// nLevels is the number of commit levels that wait on standbys.
const nLevels = 3

// levelWords name a Positions field for each level index.
var levelWords = [nLevels]string{"write", "flush", "apply"}

// remoteLevels are the commit levels that wait on standbys, by level index.
var remoteLevels = [nLevels]command.CommitLevel{
	command.CommitRemoteWrite, command.CommitRemoteFlush, command.CommitRemoteApply,
}

// levelIndex maps a commit level that waits on standbys to 0..2.
func levelIndex(l command.CommitLevel) (int, bool) {
	switch l {
	case command.CommitRemoteWrite:
		return 0, true
	case command.CommitRemoteFlush:
		return 1, true
	case command.CommitRemoteApply:
		return 2, true
	}
	return 0, false
}

// at returns the position a level index reads.
func (p Positions) at(i int) lsn.LSN {
	switch i {
	case 0:
		return p.Write
	case 1:
		return p.Flush
	}
	return p.Apply
}

// Acked returns the highest LSN that the quorum cfg names has acknowledged
// at the level's position (Write for remote_write, Flush for remote_flush,
// Apply for remote_apply). Every record ending at or before it is
// acknowledged. standbys holds the connected standbys by name.
//
// FIRST k: the k connected standbys of highest priority (list order;
// standbys that only Wildcard matches share its priority and are ordered by
// name) form the sync set, and Acked is the least of their positions; with
// fewer than k connected it is 0. ANY k: Acked is the k-th largest position
// among the connected standbys the list matches; with fewer than k it is 0.
//
// Acked is 0 for an async config and for a level that does not wait on
// standbys. Each Positions field is read as given; none implies another.
func Acked(cfg Config, level command.CommitLevel, standbys map[string]Positions) lsn.LSN {
	i, ok := levelIndex(level)
	if !ok {
		return 0
	}
	return ackedAll(cfg, standbys)[i]
}

// ackedAll computes Acked for the three levels in one pass.
func ackedAll(cfg Config, standbys map[string]Positions) [nLevels]lsn.LSN {
	var acked [nLevels]lsn.LSN
	k := cfg.K
	if cfg.Async() || k < 1 {
		return acked
	}
	cands := candidates(cfg, standbys)
	if len(cands) < k {
		return acked
	}
	switch cfg.Method {
	case First:
		for i := range nLevels {
			m := cands[0].pos.at(i)
			for _, c := range cands[1:k] {
				m = min(m, c.pos.at(i))
			}
			acked[i] = m
		}
	case Any:
		vals := make([]lsn.LSN, len(cands))
		for i := range nLevels {
			for j, c := range cands {
				vals[j] = c.pos.at(i)
			}
			slices.SortFunc(vals, func(a, b lsn.LSN) int { return cmp.Compare(b, a) })
			acked[i] = vals[k-1]
		}
	}
	return acked
}

// candidate is a connected standby that the config lists.
type candidate struct {
	name string
	prio int
	pos  Positions
}

// candidates returns the connected standbys the config lists, highest
// priority first, ties (standbys matched by the same Wildcard) by name.
func candidates(cfg Config, standbys map[string]Positions) []candidate {
	cands := make([]candidate, 0, len(standbys))
	for name, p := range standbys {
		if prio := cfg.Priority(name); prio > 0 && name != "" {
			cands = append(cands, candidate{name, prio, p})
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.prio, b.prio), cmp.Compare(a.name, b.name))
	})
	return cands
}

// Sync states, as pg_stat_replication.sync_state reports them.
const (
	// StateSync is a standby in the FIRST k sync set.
	StateSync = "sync"
	// StatePotential is a listed standby outside the FIRST k sync set; it
	// moves in when a sync standby disconnects.
	StatePotential = "potential"
	// StateQuorum is a listed standby under ANY k.
	StateQuorum = "quorum"
	// StateAsync is a standby the config does not list.
	StateAsync = "async"
)

// SyncStates returns the sync state of each connected standby, as
// pg_stat_replication.sync_state does. FIRST k: the k highest-priority
// connected standbys are "sync" (all of them when fewer than k are
// connected) and the other listed ones "potential"; ANY k: every listed one
// is "quorum"; a standby the list does not match is "async".
func SyncStates(cfg Config, standbys map[string]Positions) map[string]string {
	states := make(map[string]string, len(standbys))
	for name := range standbys {
		states[name] = StateAsync
	}
	if cfg.Async() {
		return states
	}
	for i, c := range candidates(cfg, standbys) {
		switch {
		case cfg.Method == Any:
			states[c.name] = StateQuorum
		case i < cfg.K:
			states[c.name] = StateSync
		default:
			states[c.name] = StatePotential
		}
	}
	return states
}

// sortedNames returns the map's keys in order.
func sortedNames(standbys map[string]Positions) []string {
	names := make([]string, 0, len(standbys))
	for n := range standbys {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
