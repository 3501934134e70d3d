package chaos

import (
	"slices"
	"strings"
)

// CheckPrimaries requires that no term had two primaries: across every
// /status sample of the run, each term names at most one node as primary.
// It also requires that every acknowledged write came from a node that
// was seen as primary (the GTID's origin is the node's UUID).
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
