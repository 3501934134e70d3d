package rlog

import (
	"encoding/binary"
	"errors"
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
	// Size is the bytes the header and the records take. The file itself
	// may be longer: a segment is preallocated to Options.SegmentSize and
	// the bytes after its last record are zeros.
	Size int64
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

// size returns the bytes the header and the records take: the logical size,
// which a preallocated file exceeds.
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

// createSegment creates the file of a new, empty segment starting at first,
// preallocates it to prealloc bytes when prealloc is above the header size
// and the file can (see preallocate), and makes its header, its size and
// its directory entry durable. The log writes to the returned file at the
// segment's logical end, with WriteAt.
func createSegment(fsys FS, dir string, first lsn.LSN, prealloc int64) (File, error) {
	name := filepath.Join(dir, SegmentName(first))
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	hdr := appendSegmentHeader(make([]byte, 0, SegmentHeaderSize), first)
	if _, err := f.WriteAt(hdr, 0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write segment header %s: %w", SegmentName(first), err)
	}
	if prealloc > SegmentHeaderSize {
		if _, err := preallocate(f, prealloc); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("preallocate segment %s: %w", SegmentName(first), err)
		}
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

// preallocate extends f to size bytes, zero-filled and allocated, when f
// is a Preallocator, and reports whether it did. A file or file system
// that cannot preallocate is not an error: the log works without, each
// write extending the file as it goes.
func preallocate(f File, size int64) (bool, error) {
	p, ok := f.(Preallocator)
	if !ok {
		return false, nil
	}
	if err := p.Preallocate(size); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
