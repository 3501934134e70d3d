package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tandem-db/tandem/ha"
)

// CheckPrimaries requires that no term had two primaries: across every
// /status sample of the run, each term names at most one node as primary.
// It also requires that every acknowledged write came from a node that
// was seen as primary (the GTID's origin is the node's UUID).
//
// In an HA cluster a deposed primary keeps its role until it hears of its
// successor, but not its lease: the check is on may_write, the node's own
// "I may accept writes now". No term may have two nodes that reported
// may_write, and no monitor round may find two nodes that may write at
// once (see checkWriters).
func CheckPrimaries(ev *Evidence) Verdict {
	v := newVerdict("single-primary")
	byTerm := map[uint64][]string{}
	primaryUUIDs := map[string]string{}
	for _, s := range ev.Samples {
		if !s.Up {
			continue
		}
		v.Counts["samples"]++
		if s.Role != "primary" {
			continue
		}
		if !slices.Contains(byTerm[s.Term], s.Node) {
			byTerm[s.Term] = append(byTerm[s.Term], s.Node)
		}
		primaryUUIDs[s.UUID] = s.Node
	}
	v.Counts["terms"] = int64(len(byTerm))
	if v.Counts["samples"] == 0 {
		v.Status = Unknown
		v.note("no node answered /status during the run")
		return v
	}
	terms := make([]uint64, 0, len(byTerm))
	for t := range byTerm {
		terms = append(terms, t)
	}
	slices.Sort(terms)
	for _, t := range terms {
		if ids := byTerm[t]; len(ids) > 1 {
			v.Counts["terms_with_two_primaries"]++
			v.fail("term %d had %d primaries: %s", t, len(ids), strings.Join(ids, ", "))
		}
	}
	if ev.HA {
		checkWriters(&v, ev.Samples)
	}
	for _, op := range ev.Ops {
		if !op.IsWrite() || op.Result != OK || op.GTID == "" {
			continue
		}
		origin, _, _ := strings.Cut(op.GTID, ":")
		if _, ok := primaryUUIDs[origin]; !ok {
			v.Counts["writes_from_non_primary"]++
			v.fail("op %d was acknowledged with gtid %s, whose origin was never seen as primary", op.ID, op.GTID)
		}
	}
	return v
}

// writerWindow is the span within which two may_write answers prove that
// two nodes could write at once. Fencing leaves at least the lease margin
// (ha.Config.LeaseMargin, 100 ms by default) of real time between the
// moment the old primary stops writing and the one the failover manager
// acts, whatever the nodes' wall clocks say (ha/DESIGN.md), and the new
// primary renews before it writes: two writable answers given within less
// than that cannot both be right. Answers further apart prove nothing,
// since the monitor asks every node at once but each answers when it gets
// to it.
var writerWindow = ha.DefaultConfig().LeaseMargin

// checkWriters checks the may_write answers of an HA cluster: at most one
// writer per term, and no round of the monitor with two writers.
func checkWriters(v *Verdict, samples []Sample) {
	byTerm := map[uint64][]string{}
	byRound := map[int][]Sample{}
	var rounds []int
	for _, s := range samples {
		if !s.Up || !s.MayWrite {
			continue
		}
		v.Counts["writable_samples"]++
		if !slices.Contains(byTerm[s.Term], s.Node) {
			byTerm[s.Term] = append(byTerm[s.Term], s.Node)
		}
		if _, ok := byRound[s.Round]; !ok {
			rounds = append(rounds, s.Round)
		}
		byRound[s.Round] = append(byRound[s.Round], s)
	}
	v.Counts["writer_terms"] = int64(len(byTerm))
	terms := make([]uint64, 0, len(byTerm))
	for t := range byTerm {
		terms = append(terms, t)
	}
	slices.Sort(terms)
	for _, t := range terms {
		if ids := byTerm[t]; len(ids) > 1 {
			v.Counts["terms_with_two_writers"]++
			v.fail("term %d: %s each reported may_write (two primaries accepting writes in one term)", t, strings.Join(ids, ", "))
		}
	}
	slices.Sort(rounds)
	for _, r := range rounds {
		ss := byRound[r]
		if len(ss) < 2 {
			continue
		}
		from, to := ss[0].At, ss[0].At+ss[0].Took
		var who []string
		for _, s := range ss {
			from, to = min(from, s.At), max(to, s.At+s.Took)
			who = append(who, fmt.Sprintf("%s (term %d, answered in %v)", s.Node, s.Term, s.Took.Round(time.Millisecond)))
		}
		v.Counts["rounds_with_two_writers"]++
		if to-from < writerWindow {
			v.fail("at %.3fs %s all reported may_write within %v", from.Seconds(), strings.Join(who, ", "), (to - from).Round(time.Millisecond))
			continue
		}
		v.note("at %.3fs %s reported may_write in one round, but over %v: not proof of two writers at once", from.Seconds(), strings.Join(who, ", "), (to - from).Round(time.Millisecond))
	}
}
