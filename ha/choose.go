package ha

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tandem-db/tandem/commitwait"
	"github.com/tandem-db/tandem/lsn"
)

// Reply is what a failover candidate answered when asked where its log
// ends.
type Reply struct {
	// FlushedLSN is the end of the candidate's durable (fsynced) log.
	FlushedLSN lsn.LSN `json:"flushed_lsn"`
	// Term is the term of the last record in that log. Logs are ordered by
	// (Term, FlushedLSN), as raft orders them: a log that ends in an older
	// term may be longer and still lack the newer term's commits.
	Term uint64 `json:"term"`
	// Reachable is false for a candidate that was asked and did not answer;
	// its other fields are then meaningless.
	Reachable bool `json:"reachable"`
}

// Input is everything Choose decides from.
type Input struct {
	// OldPrimary is the primary being replaced; it is never chosen and its
	// own reply, if any, is ignored.
	OldPrimary string
	// OldPrimaryLSN is the old primary's last known durable LSN
	// (Lease.FlushedLSN): the reference for the async lag limit.
	OldPrimaryLSN lsn.LSN
	// Term is the cluster's current term, the old primary's. A reply from
	// a later term means someone wrote outside the consensus.
	Term uint64
	// Commit is the sync standby config that acknowledged commits obeyed.
	Commit commitwait.Config
	// Members are the cluster's members; only they can be chosen.
	Members map[string]Member
	// Replies are the answers of the candidates asked, by member id.
	Replies map[string]Reply
	// MaxLagOnFailover is how many bytes an asynchronous failover may lose:
	// the best candidate's lag behind OldPrimaryLSN may not exceed it.
	MaxLagOnFailover uint64
	// Force chooses the best eligible candidate even where that may lose
	// acknowledged commits (too few sync replies, lag beyond the limit, the
	// most recent log on a node that cannot be promoted). Only an operator
	// sets it; the Decision then says MayLoseData.
	Force bool
}

// Decision is Choose's answer: whom to promote and why.
type Decision struct {
	Primary string
	// LSN and Term are where the chosen candidate's log ends: the new
	// term starts at LSN.
	LSN  lsn.LSN
	Term uint64
	// Lag is how far LSN is behind the old primary's last known LSN.
	Lag uint64
	// MayLoseData is set when Force overrode a safety rule.
	MayLoseData bool
	// Reason says which replies were considered and why this one won.
	Reason string
}

// Choose picks the failover candidate. It is a pure function of its input;
// ha/DESIGN.md states the rules and why they lose no acknowledged commit.
//
// Eligible: a member other than the old primary, not tagged nofailover,
// that replied; voters and non-voters alike. The candidate is the eligible
// one with the most recent log, by (Term, FlushedLSN); ties go to the
// larger Priority, then the smaller id. Synchronous config (FIRST k or ANY
// k over n listed standbys; FIRST counts as ANY, since which k were
// synchronous when the primary died is unknown): at least n-k+1 listed
// standbys must have replied, and the candidate's log must be at least as
// recent as every listed reply. Asynchronous: the candidate may lag the
// old primary by at most MaxLagOnFailover.
func Choose(in Input) (Decision, error) {
	var replied, unreachable, ignored, cands []string
	var maxAll, top Reply
	var maxAllIDs []string
	for _, id := range slices.Sorted(maps.Keys(in.Replies)) {
		r := in.Replies[id]
		switch {
		case id == in.OldPrimary:
			ignored = append(ignored, id+" (old primary)")
			continue
		case !r.Reachable:
			unreachable = append(unreachable, id)
			continue
		case in.Term > 0 && r.Term > in.Term:
			return Decision{}, fmt.Errorf("%w: %s reports term %d, beyond the cluster's term %d: a node wrote outside the consensus; resolve by hand",
				ErrNoCandidate, id, r.Term, in.Term)
		}
		replied = append(replied, id)
		maxAll, maxAllIDs = keepMax(maxAll, maxAllIDs, r, id)
		if len(eligible(in, []string{id})) == 1 {
			top, cands = keepMax(top, cands, r, id)
		}
	}
	// Under a sync config, count the listed standbys' replies first: too
	// few, and no decision is safe whoever replied.
	var listed, have, missing, maxListedIDs []string
	var maxListed Reply
	need := 0
	if !in.Commit.Async() {
		listed = listedStandbys(in)
		need = len(listed) - in.Commit.K + 1
		for _, id := range listed {
			if r, ok := in.Replies[id]; ok && r.Reachable {
				have = append(have, id)
				maxListed, maxListedIDs = keepMax(maxListed, maxListedIDs, r, id)
			} else {
				missing = append(missing, id)
			}
		}
		if len(have) < need && !in.Force {
			return Decision{}, &NotEnoughRepliesError{Config: in.Commit.String(), Need: need, Have: have, Missing: missing}
		}
	}
	if len(cands) == 0 {
		return Decision{}, fmt.Errorf("%w: no eligible member replied (replied: %s; unreachable: %s; cannot be promoted: %s)",
			ErrNoCandidate, orNone(replied), orNone(unreachable), orNone(describeIneligible(in, replied)))
	}
	d := decide(in, cands)
	var notes []string
	if comparePos(top, maxAll) < 0 {
		notes = append(notes, fmt.Sprintf("the most recent log (term %d, %s) is on %s, which cannot be promoted",
			maxAll.Term, maxAll.FlushedLSN, strings.Join(maxAllIDs, ",")))
	}
	if in.Commit.Async() {
		notes = append(notes, fmt.Sprintf("async: lag %d bytes behind the old primary's %s (limit %d)", d.Lag, in.OldPrimaryLSN, in.MaxLagOnFailover))
		if d.Lag > in.MaxLagOnFailover {
			if !in.Force {
				return Decision{}, fmt.Errorf("%w: best candidate %s at %s is %d bytes behind the old primary's %s, over the limit of %d; wait for the old primary to return, or force",
					ErrLagTooLarge, d.Primary, d.LSN, d.Lag, in.OldPrimaryLSN, in.MaxLagOnFailover)
			}
			d.MayLoseData = true
			notes = append(notes, "FORCED past the lag limit: acknowledged commits may be lost")
		}
	} else {
		notes = append([]string{fmt.Sprintf("%s: %d of %d listed standbys replied (need %d)", in.Commit, len(have), len(listed), max(need, 0))}, notes...)
		if len(have) < need {
			d.MayLoseData = true
			notes = append(notes, fmt.Sprintf("FORCED with %d fewer replies than needed: acknowledged commits may be lost", need-len(have)))
		}
		if len(have) > 0 && comparePos(top, maxListed) < 0 {
			if !in.Force {
				return Decision{}, fmt.Errorf("%w: %s's log (term %d, %s) may hold acknowledged commits that every eligible candidate lacks (the best, %s, is at term %d, %s): %s; clear nofailover or let a candidate catch up from it",
					ErrNoCandidate, strings.Join(maxListedIDs, ","), maxListed.Term, maxListed.FlushedLSN, d.Primary, top.Term, top.FlushedLSN, describeIneligible(in, maxListedIDs))
			}
			d.MayLoseData = true
			notes = append(notes, fmt.Sprintf("FORCED behind %s's log: acknowledged commits may be lost", strings.Join(maxListedIDs, ",")))
		}
	}
	notes = append(notes, fmt.Sprintf("chose %s (term %d, %s): most recent eligible log", d.Primary, d.Term, d.LSN))
	var b strings.Builder
	b.WriteString(strings.Join(notes, "; "))
	fmt.Fprintf(&b, "; replies: %s", describeReplies(in, replied))
	if len(unreachable) > 0 {
		fmt.Fprintf(&b, "; unreachable: %s", strings.Join(unreachable, ","))
	}
	if len(ignored) > 0 {
		fmt.Fprintf(&b, "; ignored: %s", strings.Join(ignored, ","))
	}
	d.Reason = b.String()
	return d, nil
}

// keepMax folds r (from id) into the most recent position seen so far and
// the ids that hold it.
func keepMax(best Reply, ids []string, r Reply, id string) (Reply, []string) {
	switch c := comparePos(r, best); {
	case len(ids) == 0 || c > 0:
		return r, []string{id}
	case c == 0:
		return best, append(ids, id)
	}
	return best, ids
}

// decide picks among equally recent candidates: larger Priority, then the
// smaller id.
func decide(in Input, ids []string) Decision {
	id := slices.MinFunc(ids, func(a, b string) int {
		return cmp.Or(cmp.Compare(in.Members[b].Priority, in.Members[a].Priority), cmp.Compare(a, b))
	})
	r := in.Replies[id]
	return Decision{Primary: id, LSN: r.FlushedLSN, Term: r.Term, Lag: in.OldPrimaryLSN.Sub(r.FlushedLSN)}
}

// comparePos orders logs by (Term, FlushedLSN).
func comparePos(a, b Reply) int {
	return cmp.Or(cmp.Compare(a.Term, b.Term), cmp.Compare(a.FlushedLSN, b.FlushedLSN))
}

// listedStandbys returns the standbys the sync config counts, without the
// old primary (a primary never acknowledges its own commits): the listed
// names, or every other member under '*'.
func listedStandbys(in Input) []string {
	set := map[string]bool{}
	for _, n := range in.Commit.Names {
		if n == commitwait.Wildcard {
			for id := range in.Members {
				set[id] = true
			}
		} else {
			set[n] = true
		}
	}
	delete(set, in.OldPrimary)
	return slices.Sorted(maps.Keys(set))
}

// eligible keeps the ids that may be promoted.
func eligible(in Input, ids []string) []string {
	var out []string
	for _, id := range ids {
		if m, ok := in.Members[id]; ok && !m.NoFailover && id != in.OldPrimary {
			out = append(out, id)
		}
	}
	return out
}

func describeIneligible(in Input, ids []string) string {
	var out []string
	for _, id := range ids {
		m, ok := in.Members[id]
		switch {
		case !ok:
			out = append(out, id+" not a member")
		case m.NoFailover:
			out = append(out, id+" nofailover")
		}
	}
	return strings.Join(out, ", ")
}

func describeReplies(in Input, ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		r := in.Replies[id]
		parts[i] = fmt.Sprintf("%s term %d %s", id, r.Term, r.FlushedLSN)
		if m, ok := in.Members[id]; !ok {
			parts[i] += " (not a member)"
		} else {
			if m.Priority != 0 {
				parts[i] += fmt.Sprintf(" priority %d", m.Priority)
			}
			if m.NoFailover {
				parts[i] += " nofailover"
			}
		}
	}
	return strings.Join(parts, ", ")
}

func orNone(s any) string {
	switch v := s.(type) {
	case []string:
		if len(v) > 0 {
			return strings.Join(v, ",")
		}
	case string:
		if v != "" {
			return v
		}
	}
	return "none"
}

// NotEnoughRepliesError reports a synchronous failover that cannot be
// decided safely yet. It unwraps to ErrNotEnoughReplies.
type NotEnoughRepliesError struct {
	Config  string   // the sync standby config
	Need    int      // n-k+1
	Have    []string // listed standbys that replied
	Missing []string // listed standbys that did not
}

// Error says how many more replies are needed, and from whom.
func (e *NotEnoughRepliesError) Error() string {
	return fmt.Sprintf("%v: under %s an acknowledged commit may be on any k of the listed standbys, so %d of them must reply; have %d (%s): need %d more, from %s",
		ErrNotEnoughReplies, e.Config, e.Need, len(e.Have), orNone(e.Have), e.Need-len(e.Have), strings.Join(e.Missing, " or "))
}

// Unwrap returns ErrNotEnoughReplies.
func (e *NotEnoughRepliesError) Unwrap() error { return ErrNotEnoughReplies }
