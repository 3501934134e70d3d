package rlog

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tandem-db/tandem/lsn"
)

// Errors returned by this package. Callers branch on them with errors.Is.
var (
	// ErrNotContiguous reports replicated records whose LSNs do not
	// continue the log: a gap or an overlap with what it holds.
	ErrNotContiguous = errors.New("rlog: records are not contiguous with the log")

	// ErrCorrupt reports a record or segment whose bytes fail verification.
	// Errors found in a log file are *CorruptError values that unwrap to it.
	ErrCorrupt = errors.New("rlog: corrupt log")
	// ErrTruncated reports input that ends before the record it starts.
	ErrTruncated = errors.New("rlog: record truncated")
	// ErrTooLarge reports a record larger than MaxRecordSize.
	ErrTooLarge = errors.New("rlog: record too large")
	// ErrBadVersion reports a record or segment written in a format version
	// this build does not know.
	ErrBadVersion = errors.New("rlog: unknown format version")
	// ErrClosed reports use of a closed Log or Reader.
	ErrClosed = errors.New("rlog: log closed")
	// ErrCompacted reports an LSN before the first retained record: the
	// segment holding it was removed by RemoveBefore.
	ErrCompacted = errors.New("rlog: LSN compacted away")
	// ErrNotBoundary reports an LSN that is not the start of a record.
	ErrNotBoundary = errors.New("rlog: LSN is not a record boundary")
	// ErrBeyondEnd reports an LSN past the end of the log.
	ErrBeyondEnd = errors.New("rlog: LSN beyond the end of the log")
	// ErrRewound reports a Reader whose position was discarded by
	// TruncateAfter.
	ErrRewound = errors.New("rlog: log rewound behind reader")
	// ErrFailed reports a log that stopped after a write or fsync error.
	// It wraps the original error. The log must be closed and reopened,
	// which re-reads what actually reached the disk.
	ErrFailed = errors.New("rlog: log failed after an I/O error; reopen it to recover from disk")
)

// CorruptError describes a corrupt record or segment found in a log file.
// It unwraps to ErrCorrupt.
type CorruptError struct {
	Segment string  // segment file name, e.g. "0000000000000000.seg"
	LSN     lsn.LSN // LSN of the bad record (or of the segment start)
	Offset  int64   // byte offset of the bad record in the segment file
	Reason  string  // what failed verification
}

// Error says what is wrong, where, and what to do about it.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("rlog: corrupt log: segment %s, LSN %s, file offset %d: %s; "+
		"restore the segment from a replica or archive; Tandem will not skip it",
		e.Segment, e.LSN, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// failedError builds the sticky error of a failed log.
func failedError(cause error) error {
	return fmt.Errorf("%w: %w", ErrFailed, cause)
}

// reason renders an error for CorruptError.Reason, without the package
// prefixes that the CorruptError message already carries.
func reason(err error) string {
	return strings.ReplaceAll(err.Error(), "rlog: ", "")
}
