package rlog

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/tandem-db/tandem/lsn"
)

// Segment header constants; see the package documentation for the layout.
const (
	// SegmentHeaderSize is the size of the header at the start of every
	// segment file.
	SegmentHeaderSize = 24
	// SegmentVersion is the segment format version this build writes.
	SegmentVersion = 1

	segmentMagic  = "TNDMRLOG"
	segmentSuffix = ".seg"
)

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	Name  string  // file name in Options.Dir
	First lsn.LSN // LSN of its first record
	End   lsn.LSN // LSN just after its last record
	Size  int64   // file size in bytes, header included
}

// segment is one file of the log. Only the last segment's end moves.
type segment struct {
	name  string
	first lsn.LSN
	end   atomic.Uint64
}

func newSegment(first, end lsn.LSN) *segment {
	s := &segment{name: SegmentName(first), first: first}
	s.end.Store(uint64(end))
	return s
}

func (s *segment) End() lsn.LSN { return lsn.LSN(s.end.Load()) }

// offset returns the file offset of LSN l, which must lie in the segment.
func (s *segment) offset(l lsn.LSN) int64 { return SegmentHeaderSize + int64(l-s.first) }

// size returns the file size implied by the segment's end.
func (s *segment) size() int64 { return s.offset(s.End()) }

func (s *segment) info() SegmentInfo {
	return SegmentInfo{Name: s.name, First: s.first, End: s.End(), Size: s.size()}
}

// SegmentName returns the file name of the segment whose first LSN is first.
func SegmentName(first lsn.LSN) string {
	return fmt.Sprintf("%016X%s", uint64(first), segmentSuffix)
}

// ParseSegmentName returns the first LSN a segment file name encodes, and
// whether name is a segment file name at all.
func ParseSegmentName(name string) (lsn.LSN, bool) {
	if len(name) != 16+len(segmentSuffix) || name[16:] != segmentSuffix {
		return 0, false
	}
	v, err := strconv.ParseUint(name[:16], 16, 64)
	if err != nil || SegmentName(lsn.LSN(v)) != name {
		return 0, false
	}
	return lsn.LSN(v), true
}

func appendSegmentHeader(dst []byte, first lsn.LSN) []byte {
	start := len(dst)
	dst = append(dst, segmentMagic...)
	dst = binary.BigEndian.AppendUint32(dst, SegmentVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(first))
	return binary.BigEndian.AppendUint32(dst, crcOf(dst[start:]))
}

// decodeSegmentHeader checks a segment header and returns its first LSN.
func decodeSegmentHeader(b []byte) (lsn.LSN, error) {
	if len(b) < SegmentHeaderSize {
		return 0, fmt.Errorf("%w: segment header is %d bytes, want %d", ErrTruncated, len(b), SegmentHeaderSize)
	}
	if string(b[:8]) != segmentMagic {
		return 0, fmt.Errorf("%w: segment header magic %q, want %q", ErrCorrupt, b[:8], segmentMagic)
	}
	if got, want := crcOf(b[:20]), binary.BigEndian.Uint32(b[20:]); got != want {
		return 0, fmt.Errorf("%w: segment header CRC mismatch: computed %08x, stored %08x", ErrCorrupt, got, want)
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != SegmentVersion {
		return 0, fmt.Errorf("%w: segment version %d, this build reads %d", ErrBadVersion, v, SegmentVersion)
	}
	return lsn.LSN(binary.BigEndian.Uint64(b[12:])), nil
}

// readSegmentHeader reads and checks the header of an open segment file
// whose name says it starts at first.
func readSegmentHeader(f File, first lsn.LSN) error {
	var b [SegmentHeaderSize]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && err != io.EOF {
		return err
	}
	got, err := decodeSegmentHeader(b[:n])
	if err != nil {
		return err
	}
	if got != first {
		return fmt.Errorf("%w: segment header says first LSN %s, file name says %s", ErrCorrupt, got, first)
	}
	return nil
}

// createSegment creates the file of a new, empty segment starting at first
// and makes both its header and its directory entry durable. The returned
// file appends.
func createSegment(fsys FS, dir string, first lsn.LSN) (File, error) {
	name := filepath.Join(dir, SegmentName(first))
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	hdr := appendSegmentHeader(make([]byte, 0, SegmentHeaderSize), first)
	if _, err := f.Write(hdr); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write segment header %s: %w", SegmentName(first), err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("sync segment %s: %w", SegmentName(first), err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return f, nil
}
