package ha

import (
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/tandem-db/tandem/commitwait"
	"github.com/tandem-db/tandem/lsn"
)

// MaxLeaseDuration bounds how far ahead a renewal may set the lease, so a
// buggy or hostile clock cannot block failover for long.
const MaxLeaseDuration = time.Minute

// idPattern is node.Config's rule for node ids; they are also usable
// unquoted in a sync standby list.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Apply checks c against the state and, only if c is valid, applies it. A
// refused command leaves s unchanged and returns a *CommandError. Apply is
// deterministic: it reads nothing but s and c.
func (s *State) Apply(c Command) error {
	if s.Members == nil {
		s.Members = map[string]Member{}
	}
	return c.apply(s)
}

func (c AddMember) apply(s *State) error {
	m, typ := c.Member, c.CommandType()
	if !idPattern.MatchString(m.ID) {
		return reject(typ, ErrBadCommand, "member id %q: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", m.ID)
	}
	for _, a := range []struct{ name, addr string }{{"raft", m.RaftAddr}, {"http", m.HTTPAddr}, {"repl", m.ReplAddr}} {
		if a.addr == "" && a.name == "repl" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return reject(typ, ErrBadCommand, "member %s: %s address %q is not HOST:PORT", m.ID, a.name, a.addr)
		}
	}
	if err := needNow(typ, c.Now); err != nil {
		return err
	}
	for id, o := range s.Members {
		if id != m.ID && o.RaftAddr == m.RaftAddr {
			return reject(typ, ErrMemberConflict, "member %s: raft address %s is already used by member %s; remove %s first", m.ID, m.RaftAddr, id, id)
		}
	}
	what := "added"
	if _, ok := s.Members[m.ID]; ok {
		what = "updated"
	}
	s.Members[m.ID] = m
	s.record(Event{At: c.Now, Kind: KindMember, New: m.ID, Reason: fmt.Sprintf("%s %s (raft %s, voter %t)", what, m.ID, m.RaftAddr, m.Voter)})
	return nil
}

func (c RemoveMember) apply(s *State) error {
	typ := c.CommandType()
	if _, err := member(s, typ, c.ID); err != nil {
		return err
	}
	if err := needNow(typ, c.Now); err != nil {
		return err
	}
	if c.ID == s.Primary {
		return reject(typ, ErrMemberConflict, "member %s is the primary of term %d; switch over to another member first", c.ID, s.Term)
	}
	delete(s.Members, c.ID)
	s.record(Event{At: c.Now, Kind: KindMember, Old: c.ID, Reason: "removed " + c.ID})
	return nil
}

func (c SetPriority) apply(s *State) error {
	typ := c.CommandType()
	m, err := member(s, typ, c.ID)
	if err != nil {
		return err
	}
	if err := needNow(typ, c.Now); err != nil {
		return err
	}
	old := m.Priority
	m.Priority = c.Priority
	s.Members[c.ID] = m
	s.record(Event{At: c.Now, Kind: KindMember, New: c.ID, Reason: fmt.Sprintf("priority of %s %d -> %d", c.ID, old, c.Priority)})
	return nil
}

func (c SetTags) apply(s *State) error {
	typ := c.CommandType()
	m, err := member(s, typ, c.ID)
	if err != nil {
		return err
	}
	if err := needNow(typ, c.Now); err != nil {
		return err
	}
	m.NoFailover = c.NoFailover
	s.Members[c.ID] = m
	s.record(Event{At: c.Now, Kind: KindMember, New: c.ID, Reason: fmt.Sprintf("tags of %s: nofailover=%t", c.ID, c.NoFailover)})
	return nil
}

func (c RenewLease) apply(s *State) error {
	typ := c.CommandType()
	if err := needNow(typ, c.Now); err != nil {
		return err
	}
	if c.Holder != s.Primary || s.Primary == "" {
		return reject(typ, ErrNotPrimary, "%s asked for the lease but the primary of term %d is %q; stop writing and follow it", c.Holder, s.Term, s.Primary)
	}
	if c.Term != s.Term {
		return reject(typ, ErrStaleTerm, "%s renewed for term %d but the cluster is in term %d", c.Holder, c.Term, s.Term)
	}
	if s.Lease.Held(c.Now) && s.Lease.Holder != c.Holder {
		return reject(typ, ErrLeaseHeld, "lease held by %s until %s", s.Lease.Holder, fmtTime(s.Lease.Expires))
	}
	if !c.Until.After(c.Now) {
		return reject(typ, ErrBadCommand, "until %s is not after now %s", fmtTime(c.Until), fmtTime(c.Now))
	}
	if d := c.Until.Sub(c.Now); d > MaxLeaseDuration {
		return reject(typ, ErrBadCommand, "lease of %s is longer than the %s allowed", d, MaxLeaseDuration)
	}
	// The primary may still act on an earlier renewal whose reply it got
	// (a shorter lease duration after a restart, say), so the lease in the
	// state never ends before any renewal it accepted: it only grows.
	expires := c.Until
	if s.Lease.Holder == c.Holder && s.Lease.Term == c.Term && expires.Before(s.Lease.Expires) {
		expires = s.Lease.Expires
	}
	s.Lease = Lease{Holder: c.Holder, Term: c.Term, Expires: expires, FlushedLSN: c.FlushedLSN, Duration: c.Until.Sub(c.Now)}
	return nil
}

func (c ReleaseLease) apply(s *State) error {
	typ := c.CommandType()
	if err := needNow(typ, c.Now); err != nil {
		return err
	}
	if c.Holder != s.Lease.Holder || c.Term != s.Lease.Term || s.Lease.Holder == "" {
		return reject(typ, ErrNotPrimary, "%s (term %d) does not hold the lease; holder is %q (term %d)", c.Holder, c.Term, s.Lease.Holder, s.Lease.Term)
	}
	// Keep the holder's last known LSN for the failover that follows.
	s.Lease = Lease{Term: c.Term, FlushedLSN: s.Lease.FlushedLSN, Released: true}
	return nil
}

func (c Promote) apply(s *State) error {
	typ := c.CommandType()
	m, err := member(s, typ, c.NewPrimary)
	if err != nil {
		return err
	}
	if err := needNow(typ, c.Now); err != nil {
		return err
	}
	switch c.Kind {
	case KindFailover, KindSwitchover, KindPromote:
	default:
		return reject(typ, ErrBadCommand, "kind %q: use failover, switchover or promote", c.Kind)
	}
	if m.NoFailover {
		return reject(typ, ErrNoFailover, "%s is tagged nofailover; clear the tag first (set_tags) to promote it", c.NewPrimary)
	}
	if len(s.TermHistory) == 0 {
		if c.NewTerm < 1 || c.NewTerm <= s.Term {
			return reject(typ, ErrStaleTerm, "first term %d must be at least 1", c.NewTerm)
		}
	} else if c.NewTerm != s.Term+1 {
		return reject(typ, ErrStaleTerm, "new term %d, want %d (the cluster is in term %d)", c.NewTerm, s.Term+1, s.Term)
	}
	if c.Kind == KindSwitchover && c.NewPrimary == s.Primary {
		return reject(typ, ErrBadCommand, "switchover to %s, which is already the primary", c.NewPrimary)
	}
	if s.Lease.Held(c.Now) {
		return reject(typ, ErrLeaseHeld, "lease held by %s (term %d) until %s, now %s; wait for it to expire or for the holder to release it",
			s.Lease.Holder, s.Lease.Term, fmtTime(s.Lease.Expires), fmtTime(c.Now))
	}
	if c.ExpectLease != nil && !c.ExpectLease.Same(s.Lease) {
		return reject(typ, ErrLeaseHeld, "the lease changed since the proposer waited it out (now held by %q, term %d, until %s): the primary renewed; look again",
			s.Lease.Holder, s.Lease.Term, fmtTime(s.Lease.Expires))
	}
	s.startTerm(c.NewPrimary, c.NewTerm, c.StartLSN, c.Now, c.Kind, c.Reason)
	return nil
}

// startTerm makes primary the primary of term, starting at start: it
// clears the lease (the new primary renews before it writes), keeping the
// last known LSN for a failover that follows before the new primary
// renews, appends the term history and records an event of kind.
func (s *State) startTerm(primary string, term uint64, start lsn.LSN, at time.Time, kind, reason string) {
	old := s.Primary
	s.Primary, s.Term = primary, term
	s.Lease = Lease{FlushedLSN: max(s.Lease.FlushedLSN, start)}
	s.TermHistory = append(s.TermHistory, TermStart{Term: term, StartLSN: start, Primary: primary, At: at})
	s.record(Event{At: at, Kind: kind, Old: old, New: primary, Term: term, LSN: start, Reason: reason})
}

func (c Handover) apply(s *State) error {
	typ := c.CommandType()
	if err := needNow(typ, c.Now); err != nil {
		return err
	}
	if c.From != s.Primary || s.Primary == "" {
		return reject(typ, ErrNotPrimary, "%s handed over, but the primary of term %d is %q", c.From, s.Term, s.Primary)
	}
	if c.Term != s.Term {
		return reject(typ, ErrStaleTerm, "%s handed over term %d but the cluster is in term %d", c.From, c.Term, s.Term)
	}
	if s.Lease.Held(c.Now) && s.Lease.Holder != c.From {
		return reject(typ, ErrLeaseHeld, "lease held by %s until %s", s.Lease.Holder, fmtTime(s.Lease.Expires))
	}
	m, err := member(s, typ, c.To)
	if err != nil {
		return err
	}
	if c.To == c.From {
		return reject(typ, ErrBadCommand, "handover to %s, which is already the primary", c.To)
	}
	if m.NoFailover {
		return reject(typ, ErrNoFailover, "%s is tagged nofailover; clear the tag first (set_tags) to hand over to it", c.To)
	}
	s.startTerm(c.To, c.Term+1, c.StartLSN, c.Now, KindSwitchover, c.Reason)
	return nil
}

func (c SetCommitConfig) apply(s *State) error {
	typ := c.CommandType()
	cfg, err := commitwait.Parse(c.SyncStandbys)
	if err != nil {
		return reject(typ, ErrBadCommand, "%v", err)
	}
	mode, err := commitwait.ParseMode(c.Mode)
	if err != nil {
		return reject(typ, ErrBadCommand, "%v", err)
	}
	if c.Timeout < 0 {
		return reject(typ, ErrBadCommand, "timeout %s is negative", c.Timeout)
	}
	if mode == commitwait.Fallback && c.Timeout == 0 {
		return reject(typ, ErrBadCommand, "fallback mode needs a timeout after which to degrade")
	}
	s.Commit = CommitConfig{SyncStandbys: cfg.String(), Mode: mode.String(), Timeout: c.Timeout}
	return nil
}

func (c RecordEvent) apply(s *State) error {
	typ := c.CommandType()
	if !validEventKind(c.Event.Kind) {
		return reject(typ, ErrBadCommand, "event kind %q: use failover, switchover, promote, rewind or member", c.Event.Kind)
	}
	if err := needNow(typ, c.Event.At); err != nil {
		return err
	}
	s.record(c.Event)
	return nil
}

func member(s *State, typ, id string) (Member, error) {
	m, ok := s.Members[id]
	if !ok {
		return Member{}, reject(typ, ErrUnknownMember, "no member %q; add it first", id)
	}
	return m, nil
}

func needNow(typ string, t time.Time) error {
	if t.IsZero() {
		return reject(typ, ErrBadCommand, "no time: the proposer must set it from its clock")
	}
	return nil
}

// fmtTime prints a time in UTC to the millisecond, as errors and events show it.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
