package crashtest

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
)

// CopyDir copies the regular files under src into dst, which it creates.
// SQLite's -shm files are left out: they are rebuilt from the WAL on open,
// and a copy of one is only a stale index.
func CopyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular() || strings.HasSuffix(path, "-shm"):
			return nil
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("crashtest: copy: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("crashtest: copy: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("crashtest: copy %s: %w", src, err)
	}
	return out.Close()
}

// Segment is one log segment file of a data directory.
type Segment struct {
	Path  string
	Name  string
	First lsn.LSN
}

// Segments lists the log segment files of a node's data directory, oldest
// first.
func Segments(dataDir string) ([]Segment, error) {
	dir := filepath.Join(dataDir, "log")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("crashtest: list log segments: %w", err)
	}
	var segs []Segment
	for _, e := range entries {
		if first, ok := rlog.ParseSegmentName(e.Name()); ok {
			segs = append(segs, Segment{Path: filepath.Join(dir, e.Name()), Name: e.Name(), First: first})
		}
	}
	slices.SortFunc(segs, func(a, b Segment) int { return cmp.Compare(a.First, b.First) })
	return segs, nil
}

// Frame is one record frame found in a segment file.
type Frame struct {
	Offset int64   // byte offset of the frame in the file
	Size   int     // bytes, frame header included
	LSN    lsn.LSN // LSN of the record
}

// End returns the LSN just after the record.
func (f Frame) End() lsn.LSN { return f.LSN + lsn.LSN(f.Size) }

// Frames walks the record frames of a segment file by their length fields
// and checks each record. It stops with an error at the first bad one, and
// without one where only zero bytes are left: a segment file is
// preallocated, and the zeros after its last record are unused space.
func Frames(seg Segment) ([]Frame, error) {
	b, err := os.ReadFile(seg.Path)
	if err != nil {
		return nil, fmt.Errorf("crashtest: read segment: %w", err)
	}
	var frames []Frame
	for off := int64(rlog.SegmentHeaderSize); off < int64(len(b)); {
		if allZero(b[off:]) {
			break
		}
		if int64(len(b))-off < 4 {
			return frames, fmt.Errorf("crashtest: segment %s: stray bytes at offset %d", seg.Name, off)
		}
		at := seg.First + lsn.LSN(off-rlog.SegmentHeaderSize)
		rec, n, err := rlog.DecodeRecord(b[off:])
		if err != nil {
			return frames, fmt.Errorf("crashtest: segment %s, offset %d (length field %d): %w",
				seg.Name, off, binary.BigEndian.Uint32(b[off:]), err)
		}
		if rec.LSN != at {
			return frames, fmt.Errorf("crashtest: segment %s, offset %d: record says LSN %s, sits at %s", seg.Name, off, rec.LSN, at)
		}
		frames = append(frames, Frame{Offset: off, Size: n, LSN: at})
		off += int64(n)
	}
	return frames, nil
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
