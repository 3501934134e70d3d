package rlog

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/tandem-db/tandem/lsn"
)

// DefaultSegmentSize is the segment size DefaultOptions sets: 16 MiB.
const DefaultSegmentSize = 16 << 20

// MinSegmentSize is the smallest allowed Options.SegmentSize: a header and
// one record with an empty payload.
const MinSegmentSize = SegmentHeaderSize + RecordOverhead

// Options configure a Log. Start from DefaultOptions.
type Options struct {
	// Dir holds the segment files; Open creates it if needed.
	Dir string
	// SegmentSize is the size a segment file may reach before the log rolls
	// to a new one. A record larger than it gets a segment of its own. New
	// segment files are preallocated to this size (see NoPreallocate).
	SegmentSize int64
	// NoPreallocate turns preallocation off: segment files then grow with
	// each write. By default each new segment is extended to SegmentSize
	// with fallocate(2) when the file system can, so that the fsync of
	// every commit has no block allocation or file size change to commit.
	NoPreallocate bool
	// StartLSN is the LSN of the first record of a new, empty log (a
	// replica seeded from a snapshot starts at the snapshot's LSN). It is
	// ignored when Dir already holds segments.
	StartLSN lsn.LSN
	// Floor is an LSN the log is known to have held durably, such as the
	// position the database has applied. Recovery never cuts below it: a
	// bad record before Floor is corruption, not a torn tail, and the log
	// refuses to open without changing anything.
	Floor lsn.LSN
	// FS is the file system; OSFS by default, FaultFS in fault tests.
	FS FS
	// Logger receives recovery warnings (a torn tail cut, an incomplete
	// segment removed).
	Logger *slog.Logger
}

// DefaultOptions returns the default options; only Dir is left to set.
func DefaultOptions() Options {
	return Options{
		SegmentSize: DefaultSegmentSize,
		FS:          OSFS{},
		Logger:      slog.Default(),
	}
}

// withDefaults fills zero fields from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.SegmentSize == 0 {
		o.SegmentSize = d.SegmentSize
	}
	if o.FS == nil {
		o.FS = d.FS
	}
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	return o
}

// Validate reports the first problem with the options, if any.
func (o Options) Validate() error {
	switch {
	case o.Dir == "":
		return errors.New("rlog: options: Dir is empty; set the directory that holds the log segments")
	case o.SegmentSize < MinSegmentSize:
		return fmt.Errorf("rlog: options: SegmentSize %d is below the minimum %d", o.SegmentSize, MinSegmentSize)
	case o.FS == nil:
		return errors.New("rlog: options: FS is nil; use OSFS{}")
	case o.Logger == nil:
		return errors.New("rlog: options: Logger is nil")
	}
	return nil
}
