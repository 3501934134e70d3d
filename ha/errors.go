package ha

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Callers branch on them with errors.Is;
// the values they come in (*CommandError, *NotLeaderError,
// *NotEnoughRepliesError) say what happened, where, and what to do.
var (
	// ErrBadCommand reports a command that cannot be decoded (unknown type
	// or version, bad JSON) or has a missing or invalid field.
	ErrBadCommand = errors.New("ha: bad command")
	// ErrUnknownMember reports a command naming a member the cluster does
	// not have.
	ErrUnknownMember = errors.New("ha: unknown member")
	// ErrMemberConflict reports an AddMember whose address another member
	// already uses, or a RemoveMember of the current primary.
	ErrMemberConflict = errors.New("ha: member conflict")
	// ErrNotPrimary reports a lease command from a node that is not the
	// current primary.
	ErrNotPrimary = errors.New("ha: not the primary")
	// ErrStaleTerm reports a command carrying a term other than the one it
	// must carry: a lease renewal from an older term, or a Promote that
	// does not start exactly the next term.
	ErrStaleTerm = errors.New("ha: wrong term")
	// ErrLeaseHeld reports a Promote, or another node's renewal, while the
	// current primary's lease has not expired. This is what fences: no new
	// term starts while the old primary may still write.
	ErrLeaseHeld = errors.New("ha: lease held")
	// ErrNoFailover reports a Promote of a member tagged nofailover.
	ErrNoFailover = errors.New("ha: member is tagged nofailover")

	// ErrNotLeader reports Apply, Join or Remove on a node that is not the
	// raft leader. It comes as a *NotLeaderError naming the leader.
	ErrNotLeader = errors.New("ha: not the raft leader")
	// ErrClosed reports a call on, or interrupted by, a closed Cluster.
	ErrClosed = errors.New("ha: closed")
	// ErrBadConfig reports a Config that fails Validate.
	ErrBadConfig = errors.New("ha: bad config")

	// ErrNotEnoughReplies reports a failover decision that cannot be made
	// safely yet: too few synchronous standbys answered. It comes as a
	// *NotEnoughRepliesError saying how many more are needed.
	ErrNotEnoughReplies = errors.New("ha: not enough replies to choose safely")
	// ErrNoCandidate reports that no reachable, eligible member covers
	// every acknowledged commit.
	ErrNoCandidate = errors.New("ha: no safe failover candidate")
	// ErrLagTooLarge reports an asynchronous failover whose best candidate
	// is further behind the old primary than MaxLagOnFailover allows.
	ErrLagTooLarge = errors.New("ha: best candidate lags too far behind")
)

// CommandError reports a command that the state machine refused. Every
// replica refuses the same command the same way, since the checks read only
// the state and the command. It unwraps to one of the sentinel errors.
type CommandError struct {
	Type string // the command's type, e.g. "promote"
	Err  error  // the sentinel: ErrBadCommand, ErrLeaseHeld, ...
	Msg  string // what is wrong and what to do
}

// Error names the command and says what is wrong.
func (e *CommandError) Error() string {
	return fmt.Sprintf("%v: %s: %s", e.Err, e.Type, e.Msg)
}

// Unwrap returns the sentinel.
func (e *CommandError) Unwrap() error { return e.Err }

func reject(typ string, sentinel error, format string, args ...any) error {
	return &CommandError{Type: typ, Err: sentinel, Msg: fmt.Sprintf(format, args...)}
}

// NotLeaderError reports a call that only the raft leader may serve. It
// unwraps to ErrNotLeader. LeaderID and LeaderAddr are empty while no
// leader is known (an election is under way): retry later.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string // the leader's raft address
}

// Error names the leader, when one is known.
func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "ha: not the raft leader, and no leader is known yet; retry after the election"
	}
	return fmt.Sprintf("ha: not the raft leader; the leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Unwrap returns ErrNotLeader.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }
