package command

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
)

// Errors returned by this package.
var (
	// ErrBadCommitLevel reports an unknown commit level name.
	ErrBadCommitLevel = errors.New("unknown commit level")
	// ErrBadReadLevel reports an unknown read consistency level name.
	ErrBadReadLevel = errors.New("unknown read level")
)

// Statement is one SQL statement with its parameters. Args holds positional
// parameters and Named holds named ones (keys without the leading ':', '@'
// or '$'); at most one of them is set.
type Statement struct {
	SQL   string
	Args  []any
	Named map[string]any
}

// CommitLevel says when a write is acknowledged.
type CommitLevel int

// Commit levels, from weakest to strongest.
const (
	// CommitLocal acknowledges after the record is fsynced to the local log.
	// It is the default.
	CommitLocal CommitLevel = iota
	// CommitOff acknowledges once the record is written to the local log,
	// before the fsync.
	CommitOff
	// CommitRemoteWrite waits until the standbys that count have received
	// and written the record.
	CommitRemoteWrite
	// CommitRemoteFlush waits until they have fsynced it.
	CommitRemoteFlush
	// CommitRemoteApply waits until it is visible to reads on them.
	CommitRemoteApply
)

var commitNames = [...]string{"local", "off", "remote_write", "remote_flush", "remote_apply"}

// String returns the level's name as accepted by ParseCommitLevel.
func (c CommitLevel) String() string {
	if c < 0 || int(c) >= len(commitNames) {
		return fmt.Sprintf("CommitLevel(%d)", int(c))
	}
	return commitNames[c]
}

// ParseCommitLevel reads a level name; "" means local.
func ParseCommitLevel(s string) (CommitLevel, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return CommitLocal, nil
	}
	for i, n := range commitNames {
		if n == s {
			return CommitLevel(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q: use one of %s", ErrBadCommitLevel, s, strings.Join(commitNames[:], ", "))
}

// ReadLevel is the consistency a query asks for.
type ReadLevel int

// Read levels.
const (
	// ReadWeak reads local data on the node that leads writes.
	ReadWeak ReadLevel = iota
	// ReadNone reads local data on whichever node got the request.
	ReadNone
	// ReadStrong is served by the primary holding its lease.
	ReadStrong
	// ReadBounded reads local data when this node's replication lag is at
	// most QueryRequest.MaxLag, and fails otherwise.
	ReadBounded
)

var readNames = [...]string{"weak", "none", "strong", "bounded"}

// String returns the level's name.
func (r ReadLevel) String() string {
	if r < 0 || int(r) >= len(readNames) {
		return fmt.Sprintf("ReadLevel(%d)", int(r))
	}
	return readNames[r]
}

// ParseReadLevel reads a level name; "" means weak.
func ParseReadLevel(s string) (ReadLevel, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return ReadWeak, nil
	}
	for i, n := range readNames {
		if n == s {
			return ReadLevel(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q: use one of %s", ErrBadReadLevel, s, strings.Join(readNames[:], ", "))
}

// ExecuteRequest is a write request: statements that run as one client
// transaction on the primary's writer.
type ExecuteRequest struct {
	Statements []Statement
	// Transaction makes the statements all-or-nothing. Without it each
	// statement runs in its own savepoint: a failing statement is rolled
	// back alone and the others are kept.
	Transaction bool
	Commit      CommitLevel
}

// Result is the outcome of one statement. A write fills LastInsertID and
// RowsAffected; a read fills Columns, Types and Rows. Error is set when the
// statement failed.
type Result struct {
	LastInsertID int64
	RowsAffected int64
	Columns      []string
	Types        []string
	Rows         [][]any
	Error        string
	// Seconds is the time the statement took.
	Seconds float64
}

// ExecuteResponse is the outcome of an ExecuteRequest.
type ExecuteResponse struct {
	Results []Result
	// LSN is the commit LSN: the end of the transaction's log record. It is
	// zero when nothing was written (every statement failed or changed no
	// row), and works as a read-your-writes token.
	LSN lsn.LSN
	// GTID names the transaction; zero when nothing was written.
	GTID gtid.GTID
	// Warning tells the client about a weaker outcome than it asked for,
	// such as a commit while synchronous replication was degraded.
	Warning string
}

// QueryRequest is a read request, served from a read-only connection.
type QueryRequest struct {
	Statements []Statement
	// Transaction runs all statements in one read transaction, so they see
	// one snapshot.
	Transaction bool
	Level       ReadLevel
	// MaxLag is the most replication lag a bounded read accepts.
	MaxLag time.Duration
	// MinLSN makes the read wait (up to MinLSNWait) until this node has
	// applied the LSN, a write's commit LSN: read-your-writes on a replica.
	MinLSN     lsn.LSN
	MinLSNWait time.Duration
}
