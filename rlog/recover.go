package rlog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/tandem-db/tandem/lsn"
)

// RecoveryInfo reports what Open found on disk and what it repaired.
type RecoveryInfo struct {
	Segments int     `json:"segments"`  // segment files after recovery
	Records  int     `json:"records"`   // valid records scanned
	First    lsn.LSN `json:"first_lsn"` // first retained LSN
	End      lsn.LSN `json:"end_lsn"`   // end of the log after recovery
	// Cut is set when a torn tail was cut off the last segment.
	Cut bool `json:"cut"`
	// CutAt is the LSN where the torn tail started, now the end of the log.
	CutAt lsn.LSN `json:"cut_at"`
	// CutBytes is the number of bytes cut, up to the last non-zero one:
	// the zeros after them (a preallocated segment's unused space) are
	// not counted.
	CutBytes int64 `json:"cut_bytes"`
	// Removed lists incomplete last segment files (a crash while creating
	// them) that were removed.
	Removed []string `json:"removed,omitempty"`
	// Last is the header (no payload) of the log's last record, zero when
	// the segments scanned hold none.
	Last Record `json:"-"`
}

// scanBufferSize is the read buffer of a recovery scan.
const scanBufferSize = 256 << 10

// recover builds the segment list from the files in the directory,
// verifying every record, and leaves the last segment open for appends.
func (l *Log) recover() error {
	dir := l.opts.Dir
	firsts, err := l.listSegments()
	if err != nil {
		return err
	}
	if len(firsts) > 0 {
		last := firsts[len(firsts)-1]
		removed, err := l.removeIncomplete(last)
		if err != nil {
			return err
		}
		if removed {
			firsts = firsts[:len(firsts)-1]
			if len(firsts) == 0 {
				// The only segment was incomplete: the log starts where it did.
				l.opts.StartLSN = last
			}
		}
	}
	if len(firsts) == 0 {
		f, err := createSegment(l.fs, dir, l.opts.StartLSN, l.preallocSize())
		if err != nil {
			return err
		}
		l.active = f
		l.segs = []*segment{newSegment(l.opts.StartLSN, l.opts.StartLSN)}
		return nil
	}
	for i, first := range firsts {
		isLast := i == len(firsts)-1
		name := SegmentName(first)
		if i > 0 {
			if prev := l.segs[i-1].End(); prev != first {
				return &CorruptError{Segment: name, LSN: prev, Reason: fmt.Sprintf(
					"gap in the log: the previous segment ends at LSN %s but this one starts at %s", prev, first)}
			}
		}
		flag := os.O_RDONLY
		if isLast {
			flag = os.O_RDWR
		}
		f, err := l.fs.OpenFile(filepath.Join(dir, name), flag, 0)
		if err != nil {
			return fmt.Errorf("open segment %s: %w", name, err)
		}
		seg, err := l.recoverSegment(f, first, isLast)
		if err == nil && isLast {
			// A process crash leaves written records unsynced; they are
			// about to be reported durable, so sync them now.
			if err = f.Sync(); err != nil {
				err = fmt.Errorf("sync segment %s: %w", name, err)
			}
		}
		if err != nil || !isLast {
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("close segment %s: %w", name, cerr)
			}
		}
		if err != nil {
			return err
		}
		l.segs = append(l.segs, seg)
		if isLast {
			l.active = f
		}
	}
	return nil
}

// listSegments returns the first LSNs of the segment files, sorted.
func (l *Log) listSegments() ([]lsn.LSN, error) {
	entries, err := l.fs.ReadDir(l.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("list log directory: %w", err)
	}
	var firsts []lsn.LSN
	for _, e := range entries {
		if first, ok := ParseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			firsts = append(firsts, first)
		}
	}
	slices.Sort(firsts)
	return firsts, nil
}

// removeIncomplete removes the last segment if a crash while creating it
// left it without a valid header and without any valid record.
func (l *Log) removeIncomplete(first lsn.LSN) (bool, error) {
	name := SegmentName(first)
	path := filepath.Join(l.opts.Dir, name)
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return false, fmt.Errorf("open segment %s: %w", name, err)
	}
	defer f.Close()
	herr := readSegmentHeader(f, first)
	if herr == nil {
		return false, nil
	}
	if !errors.Is(herr, ErrCorrupt) && !errors.Is(herr, ErrTruncated) && !errors.Is(herr, ErrBadVersion) {
		return false, fmt.Errorf("read segment %s: %w", name, herr)
	}
	data, err := readFrom(f, 0)
	if err != nil {
		return false, fmt.Errorf("read segment %s: %w", name, err)
	}
	if validRecordAfter(data, 0, first, -1) {
		return false, &CorruptError{Segment: name, LSN: first, Reason: fmt.Sprintf(
			"bad segment header (%s) in a segment that holds valid records", reason(herr))}
	}
	if err := l.fs.Remove(path); err != nil {
		return false, fmt.Errorf("remove incomplete segment %s: %w", name, err)
	}
	if err := l.fs.SyncDir(l.opts.Dir); err != nil {
		return false, fmt.Errorf("sync directory %s: %w", l.opts.Dir, err)
	}
	l.logger.Warn("removed incomplete last segment", "segment", name, "bytes", len(data), "reason", reason(herr))
	l.recovered.Removed = append(l.recovered.Removed, name)
	return true, nil
}

// recoverSegment verifies one segment and returns it. Zeros after the last
// record, up to the end of the file, are not a record: they are the unused
// part of a preallocated segment (or of a file a crash extended before the
// data came), and the segment ends at that record. In the last segment a
// torn tail is cut and the file preallocated again; anywhere else a bad
// record is a *CorruptError.
func (l *Log) recoverSegment(f File, first lsn.LSN, isLast bool) (*segment, error) {
	name := SegmentName(first)
	if err := readSegmentHeader(f, first); err != nil {
		return nil, &CorruptError{Segment: name, LSN: first, Reason: "bad segment header: " + reason(err)}
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat segment %s: %w", name, err)
	}
	size := fi.Size()
	end, n, last, bad, err := scanRecords(f, size, first)
	if err != nil {
		return nil, fmt.Errorf("read segment %s: %w", name, err)
	}
	l.recovered.Records += n
	if n > 0 {
		l.recovered.Last = last
	}
	seg := newSegment(first, end)
	off := seg.offset(end)
	if bad != nil {
		dataEnd, err := lastNonZero(f, off, size)
		if err != nil {
			return nil, fmt.Errorf("read segment %s: %w", name, err)
		}
		if dataEnd > off {
			if err := l.cutTornTail(f, seg, dataEnd, bad, isLast); err != nil {
				return nil, err
			}
			size = off
		}
	}
	if isLast && size < l.preallocSize() {
		if _, err := preallocate(f, l.preallocSize()); err != nil {
			return nil, fmt.Errorf("preallocate segment %s: %w", name, err)
		}
	}
	return seg, nil
}

// cutTornTail cuts the bad bytes after seg's valid records, which end at
// file offset seg.size() and are followed by non-zero bytes up to dataEnd,
// if they are a torn tail: the segment is the last, no valid record
// follows, and the floor is not above the cut. Otherwise it returns a
// *CorruptError and changes nothing.
func (l *Log) cutTornTail(f File, seg *segment, dataEnd int64, bad error, isLast bool) error {
	end, off := seg.End(), seg.size()
	corrupt := &CorruptError{Segment: seg.name, LSN: end, Offset: off, Reason: reason(bad)}
	if !isLast {
		return corrupt
	}
	tail, err := readFrom(f, off)
	if err != nil {
		return fmt.Errorf("read segment %s: %w", seg.name, err)
	}
	if validRecordAfter(tail, off, seg.first, 0) {
		corrupt.Reason += "; valid records follow it, so this is not a torn tail"
		return corrupt
	}
	if end < l.opts.Floor {
		corrupt.Reason += fmt.Sprintf("; the database has already applied up to LSN %s, so this record was durable and this is not a torn tail", l.opts.Floor)
		return corrupt
	}
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("cut torn tail of segment %s: %w", seg.name, err)
	}
	cut := dataEnd - off
	l.logger.Warn("cut torn tail", "segment", seg.name, "lsn", end.String(), "bytes", cut, "reason", reason(bad))
	l.recovered.Cut, l.recovered.CutAt, l.recovered.CutBytes = true, end, cut
	return nil
}

// scanRecords reads the records of a segment of size bytes in order. It
// returns the end of the valid prefix, the number of valid records, and
// why the record at the end of the prefix is bad (nil when the prefix is
// the whole file). err reports a failure to read.
func scanRecords(f File, size int64, first lsn.LSN) (end lsn.LSN, n int, last Record, bad, err error) {
	br := bufio.NewReaderSize(io.NewSectionReader(f, SegmentHeaderSize, size-SegmentHeaderSize), scanBufferSize)
	off, pos := int64(SegmentHeaderSize), first
	var buf []byte
	for off < size {
		if left := size - off; left < frameHeaderSize {
			return pos, n, last, fmt.Errorf("%w: %d stray bytes, less than a frame header", ErrTruncated, left), nil
		}
		buf = slices.Grow(buf[:0], frameHeaderSize)[:frameHeaderSize]
		if _, err := io.ReadFull(br, buf); err != nil {
			return pos, n, last, nil, err
		}
		rn, berr := bodyLen(binary.BigEndian.Uint32(buf))
		if berr != nil {
			return pos, n, last, berr, nil
		}
		if left := size - off; int64(rn) > left {
			return pos, n, last, fmt.Errorf("%w: record of %d bytes, but only %d left in the file", ErrTruncated, rn, left), nil
		}
		buf = slices.Grow(buf, rn-frameHeaderSize)[:rn]
		if _, err := io.ReadFull(br, buf[frameHeaderSize:]); err != nil {
			return pos, n, last, nil, err
		}
		rec, _, derr := DecodeRecord(buf)
		if derr != nil {
			return pos, n, last, derr, nil
		}
		if rec.LSN != pos {
			return pos, n, last, fmt.Errorf("%w: record says LSN %s but sits at LSN %s", ErrCorrupt, rec.LSN, pos), nil
		}
		rec.Payload = nil // only the header is kept
		last = rec
		off += int64(rn)
		pos += lsn.LSN(rn)
		n++
	}
	return pos, n, last, nil, nil
}

// validRecordAfter reports whether data, read from file offset base of the
// segment starting at first, holds a valid record (good CRC and an LSN
// field equal to its position) at any index after skip.
func validRecordAfter(data []byte, base int64, first lsn.LSN, skip int) bool {
	for q := skip + 1; q+RecordOverhead <= len(data); q++ {
		fileOff := base + int64(q)
		if fileOff < SegmentHeaderSize {
			continue
		}
		length := binary.BigEndian.Uint32(data[q:])
		if length < bodyFixedSize || int64(length) > int64(len(data)-q-frameHeaderSize) {
			continue
		}
		at := first + lsn.LSN(fileOff-SegmentHeaderSize)
		if lsn.LSN(binary.BigEndian.Uint64(data[q+frameHeaderSize+bodyLSNOffset:])) != at {
			continue // cheap filter before the CRC
		}
		if rec, _, err := DecodeRecord(data[q:]); err == nil && rec.LSN == at {
			return true
		}
	}
	return false
}

// lastNonZero returns the file offset just after the last non-zero byte of
// f between off and size, or off when those bytes are all zeros.
func lastNonZero(f File, off, size int64) (int64, error) {
	if size <= off {
		return off, nil
	}
	buf := make([]byte, min(size-off, scanBufferSize))
	zeros := make([]byte, len(buf))
	end := off
	for pos := off; pos < size; {
		chunk := buf[:min(int64(len(buf)), size-pos)]
		n, err := f.ReadAt(chunk, pos)
		if err != nil && err != io.EOF {
			return 0, err
		}
		if n == 0 {
			break // the file is shorter than size said
		}
		chunk = chunk[:n]
		if !bytes.Equal(chunk, zeros[:n]) {
			i := len(chunk) - 1
			for chunk[i] == 0 {
				i--
			}
			end = pos + int64(i) + 1
		}
		pos += int64(n)
	}
	return end, nil
}

// readFrom reads a file from offset off to its end.
func readFrom(f File, off int64) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() <= off {
		return nil, nil
	}
	b := make([]byte, fi.Size()-off)
	n, err := f.ReadAt(b, off)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return b[:n], nil
}
