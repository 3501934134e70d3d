package ha

import (
	"maps"
	"slices"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

// MaxEvents is how many events State keeps; older ones are dropped first.
const MaxEvents = 100

// State is the cluster state that raft replicates: who the members are, who
// is primary in which term, since which LSN each term ran, the commit config
// every primary enforces, the primary's lease, and a bounded history of
// events. Every replica holds the same State after applying the same
// commands; State.Apply is its only mutator.
type State struct {
	Members     map[string]Member `json:"members"`
	Primary     string            `json:"primary,omitempty"`
	Term        uint64            `json:"term"`
	TermHistory []TermStart       `json:"term_history,omitempty"`
	Commit      CommitConfig      `json:"commit"`
	Lease       Lease             `json:"lease"`
	Events      []Event           `json:"events,omitempty"`
}

// Member is one node of the cluster as the cluster state knows it.
type Member struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"http_addr"`
	ReplAddr string `json:"repl_addr,omitempty"`
	RaftAddr string `json:"raft_addr"`
	// Priority breaks ties between failover candidates that are equally up
	// to date: larger wins; 0 is the default, negative values rank below
	// it. It never makes a less up-to-date candidate win.
	Priority int `json:"priority,omitempty"`
	// NoFailover keeps the member from ever being promoted.
	NoFailover bool `json:"nofailover,omitempty"`
	// Voter says whether the member votes in raft. Non-voters (read
	// replicas) can still be failover candidates; they never decide an
	// election.
	Voter bool `json:"voter"`
}

// TermStart records that Primary began writing term Term at StartLSN: its
// log up to StartLSN is the history it inherited, and everything after
// StartLSN in any older term is divergent. Rewind reads these to find a
// returning ex-primary's fork point.
type TermStart struct {
	Term     uint64    `json:"term"`
	StartLSN lsn.LSN   `json:"start_lsn"`
	Primary  string    `json:"primary"`
	At       time.Time `json:"at"`
}

// CommitConfig is the synchronous commit config every primary enforces.
type CommitConfig struct {
	// SyncStandbys is in commitwait.Parse syntax, stored in canonical form;
	// "" is asynchronous.
	SyncStandbys string `json:"sync_standbys,omitempty"`
	// Mode is "strict" or "fallback" (commitwait.ParseMode).
	Mode    string        `json:"mode,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
}

// Lease is the primary's right to write. The primary renews it through raft
// well before it expires; no Promote can start a new term until it has
// expired by the proposer's clock. The zero Lease is held by no one.
type Lease struct {
	Holder  string    `json:"holder,omitempty"`
	Term    uint64    `json:"term,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	// FlushedLSN is the primary's durable LSN when it last renewed: the
	// failover decision's "last known LSN" of the old primary.
	FlushedLSN lsn.LSN `json:"flushed_lsn,omitempty"`
	// Duration is how long the holder's latest renewal asked for
	// (Until − Now): a failover manager waits at least this long after it
	// sees a renewal, whatever its own configured duration.
	Duration time.Duration `json:"duration,omitempty"`
	// Released says the holder gave the lease up (it stopped writing
	// first): a failover need not wait for the lease to run out.
	Released bool `json:"released,omitempty"`
}

// Same reports whether two leases are the same grant (times compared as
// instants).
func (l Lease) Same(o Lease) bool {
	return l.Holder == o.Holder && l.Term == o.Term && l.Expires.Equal(o.Expires) &&
		l.FlushedLSN == o.FlushedLSN && l.Duration == o.Duration && l.Released == o.Released
}

// Held reports whether someone holds the lease at now.
func (l Lease) Held(now time.Time) bool {
	return l.Holder != "" && !now.After(l.Expires)
}

// Event kinds.
const (
	KindFailover   = "failover"
	KindSwitchover = "switchover"
	KindPromote    = "promote"
	KindRewind     = "rewind"
	KindMember     = "member"
)

// Event is one entry of the cluster's history, shown by status.
type Event struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Old    string    `json:"old,omitempty"`
	New    string    `json:"new,omitempty"`
	Term   uint64    `json:"term,omitempty"`
	LSN    lsn.LSN   `json:"lsn,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

func validEventKind(k string) bool {
	switch k {
	case KindFailover, KindSwitchover, KindPromote, KindRewind, KindMember:
		return true
	}
	return false
}

// Clone returns a deep copy, so a caller may keep it while commands apply.
func (s State) Clone() State {
	c := s
	c.Members = maps.Clone(s.Members)
	if c.Members == nil {
		c.Members = map[string]Member{}
	}
	c.TermHistory = slices.Clone(s.TermHistory)
	c.Events = slices.Clone(s.Events)
	return c
}

// SortedMembers returns the members ordered by id.
func (s State) SortedMembers() []Member {
	ids := slices.Sorted(maps.Keys(s.Members))
	out := make([]Member, len(ids))
	for i, id := range ids {
		out[i] = s.Members[id]
	}
	return out
}

// record appends an event, dropping the oldest beyond MaxEvents.
func (s *State) record(e Event) {
	s.Events = append(s.Events, e)
	if n := len(s.Events) - MaxEvents; n > 0 {
		s.Events = slices.Delete(s.Events, 0, n)
	}
}
