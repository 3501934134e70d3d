package ha

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

// CommandVersion is the version of the command encoding this package writes
// and reads. A node refuses a command of another version rather than
// guessing its meaning; a new version may be proposed only once every
// member runs code that reads it.
const CommandVersion = 1

// Command is a change to the cluster state. Commands are pure values: all
// they need, including the time, travels inside them, so every replica
// applies them to the same result.
type Command interface {
	// CommandType names the command in its encoding, e.g. "promote".
	CommandType() string
	// apply checks the command against s and, only if it is valid,
	// changes s.
	apply(s *State) error
}

// AddMember adds a member, or replaces the one with the same ID (a node
// that rejoins with new addresses).
type AddMember struct {
	Member Member    `json:"member"`
	Now    time.Time `json:"now"`
}

// RemoveMember removes a member that is not the current primary.
type RemoveMember struct {
	ID  string    `json:"id"`
	Now time.Time `json:"now"`
}

// SetPriority sets a member's failover priority (larger wins ties).
type SetPriority struct {
	ID       string    `json:"id"`
	Priority int       `json:"priority"`
	Now      time.Time `json:"now"`
}

// SetTags sets a member's tags.
type SetTags struct {
	ID         string    `json:"id"`
	NoFailover bool      `json:"nofailover"`
	Now        time.Time `json:"now"`
}

// RenewLease extends the primary's lease to Until. Holder must be the
// primary of term Term; no one else may take a lease that has not expired,
// and a renewal never shortens the lease (an earlier Until leaves it as
// it is, and records FlushedLSN). Now and Until are read from the
// primary's clock when it sends the renewal; the primary stops writing a
// safety margin before Until unless a later renewal succeeds (LeaseTimer).
type RenewLease struct {
	Holder     string    `json:"holder"`
	Term       uint64    `json:"term"`
	Until      time.Time `json:"until"`
	Now        time.Time `json:"now"`
	FlushedLSN lsn.LSN   `json:"flushed_lsn"`
}

// ReleaseLease gives the lease up before it expires, so a switchover's
// Promote need not wait. The holder must have stopped writing before it
// proposes this: once committed, a new term may start at once.
type ReleaseLease struct {
	Holder string    `json:"holder"`
	Term   uint64    `json:"term"`
	Now    time.Time `json:"now"`
}

// Promote makes NewPrimary the primary of term NewTerm, which starts at
// StartLSN. NewTerm must be Term+1 (the first Promote of a cluster may
// adopt any term ≥ 1, the bootstrapping node's own), the lease must have
// expired by Now, and the new primary must be a member without the
// nofailover tag. It clears the lease (the new primary renews before it
// writes), appends TermHistory and records an Event of Kind.
type Promote struct {
	NewPrimary string    `json:"new_primary"`
	NewTerm    uint64    `json:"new_term"`
	StartLSN   lsn.LSN   `json:"start_lsn"`
	Kind       string    `json:"kind"` // failover, switchover or promote
	Reason     string    `json:"reason"`
	Now        time.Time `json:"now"`
	// ExpectLease, when set, is the lease the proposer saw expire: the
	// Promote is refused if the lease has changed since (a renewal that
	// got in first), so a proposer whose clock runs ahead cannot promote
	// over a primary that just renewed.
	ExpectLease *Lease `json:"expect_lease,omitempty"`
}

// Handover is a planned switchover in one step: the primary From, which
// holds the lease of term Term and has stopped writing, gives the role to
// To, which starts term Term+1 at StartLSN. It releases the lease and
// promotes To together, so a refused handover (To tagged nofailover meanwhile,
// say) leaves From the primary with its lease, never a cluster without one.
type Handover struct {
	From     string    `json:"from"`
	Term     uint64    `json:"term"`
	To       string    `json:"to"`
	StartLSN lsn.LSN   `json:"start_lsn"`
	Reason   string    `json:"reason"`
	Now      time.Time `json:"now"`
}

// SetCommitConfig sets the synchronous commit config.
type SetCommitConfig struct {
	SyncStandbys string        `json:"sync_standbys"`
	Mode         string        `json:"mode"`
	Timeout      time.Duration `json:"timeout"`
}

// RecordEvent appends an event to the history: a rewind, say, which only
// the rewinding node knows about.
type RecordEvent struct {
	Event Event `json:"event"`
}

func (AddMember) CommandType() string       { return "add_member" }
func (RemoveMember) CommandType() string    { return "remove_member" }
func (SetPriority) CommandType() string     { return "set_priority" }
func (SetTags) CommandType() string         { return "set_tags" }
func (RenewLease) CommandType() string      { return "renew_lease" }
func (ReleaseLease) CommandType() string    { return "release_lease" }
func (Promote) CommandType() string         { return "promote" }
func (Handover) CommandType() string        { return "handover" }
func (SetCommitConfig) CommandType() string { return "set_commit_config" }
func (RecordEvent) CommandType() string     { return "record_event" }

// commandTypes makes an empty command of each type, for Decode.
var commandTypes = map[string]func() Command{
	"add_member":        func() Command { return &AddMember{} },
	"remove_member":     func() Command { return &RemoveMember{} },
	"set_priority":      func() Command { return &SetPriority{} },
	"set_tags":          func() Command { return &SetTags{} },
	"renew_lease":       func() Command { return &RenewLease{} },
	"release_lease":     func() Command { return &ReleaseLease{} },
	"promote":           func() Command { return &Promote{} },
	"handover":          func() Command { return &Handover{} },
	"set_commit_config": func() Command { return &SetCommitConfig{} },
	"record_event":      func() Command { return &RecordEvent{} },
}

// envelope is a command's encoding:
//
//	{"v":1,"type":"promote","cmd":{"new_primary":"n2",...}}
type envelope struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	Cmd  json.RawMessage `json:"cmd"`
}

// Encode returns the command's encoding, the bytes a raft log entry holds.
func Encode(c Command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", c.CommandType(), err)
	}
	return json.Marshal(envelope{V: CommandVersion, Type: c.CommandType(), Cmd: body})
}

// Decode reads a command that Encode wrote. It refuses other versions,
// unknown types and unknown fields, since applying a command it does not
// fully understand would let this replica's state drift from the others'.
func Decode(b []byte) (Command, error) {
	var e envelope
	if err := strictUnmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if e.V != CommandVersion {
		return nil, fmt.Errorf("%w: version %d, this node reads version %d; upgrade every member before proposing newer commands",
			ErrBadCommand, e.V, CommandVersion)
	}
	mk, ok := commandTypes[e.Type]
	if !ok {
		return nil, fmt.Errorf("%w: unknown type %q", ErrBadCommand, e.Type)
	}
	c := mk()
	if err := strictUnmarshal(e.Cmd, c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadCommand, e.Type, err)
	}
	return deref(c), nil
}

// deref turns the *T that Decode filled into the T that callers build.
func deref(c Command) Command {
	switch c := c.(type) {
	case *AddMember:
		return *c
	case *RemoveMember:
		return *c
	case *SetPriority:
		return *c
	case *SetTags:
		return *c
	case *RenewLease:
		return *c
	case *ReleaseLease:
		return *c
	case *Promote:
		return *c
	case *Handover:
		return *c
	case *SetCommitConfig:
		return *c
	case *RecordEvent:
		return *c
	}
	return c
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}
