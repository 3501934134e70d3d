package rlog

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tandem-db/tandem/lsn"
)

// readerBufferSize is the read buffer of a Reader.
const readerBufferSize = 64 << 10

// Reader reads the log in order from an LSN, following it as it grows and
// across segment files. It only returns durable records. A Reader is used
// by one goroutine; many Readers may run at once.
type Reader struct {
	l       *Log
	pos     lsn.LSN
	seg     *segment // segment the open file belongs to
	f       File
	src     boundedReader
	br      *bufio.Reader
	rewinds uint64
	closed  bool
	err     error                 // sticky ErrRewound
	hdr     [frameHeaderSize]byte // kept here so reads do not allocate it
}

// NewReader returns a Reader whose first record is the one at from. from
// must be a record boundary (ErrNotBoundary otherwise) or the end of the
// log; before First it is ErrCompacted, past End ErrBeyondEnd.
func (l *Log) NewReader(from lsn.LSN) (*Reader, error) {
	l.mu.Lock()
	if l.isClosed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	seg, err := l.findLocked(from)
	end, rewinds := l.End(), l.rewinds
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	r := &Reader{l: l, pos: from, rewinds: rewinds, br: bufio.NewReaderSize(nil, readerBufferSize)}
	if from == end || from == seg.first {
		return r, nil
	}
	if err := r.open(seg); err != nil {
		return nil, err
	}
	if err := checkBoundary(r.f, seg, from, end); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

// checkBoundary reports whether a record starting at LSN at, and ending by
// limit, is found at at's offset in seg's file f.
func checkBoundary(f File, seg *segment, at, limit lsn.LSN) error {
	notBoundary := func(why string) error {
		return fmt.Errorf("%w: LSN %s in segment %s: %s", ErrNotBoundary, at, seg.name, why)
	}
	limit = min(limit, seg.End())
	if at+frameHeaderSize > limit {
		return notBoundary("too close to the end for a record to start there")
	}
	var hdr [frameHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], seg.offset(at)); err != nil {
		return fmt.Errorf("read segment %s: %w", seg.name, err)
	}
	n, err := bodyLen(binary.BigEndian.Uint32(hdr[:]))
	if err != nil || at+lsn.LSN(n) > limit {
		return notBoundary("no record frame starts there")
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, seg.offset(at)); err != nil {
		return fmt.Errorf("read segment %s: %w", seg.name, err)
	}
	rec, _, err := DecodeRecord(b)
	if err != nil {
		return notBoundary(reason(err))
	}
	if rec.LSN != at {
		return notBoundary(fmt.Sprintf("the record there says LSN %s", rec.LSN))
	}
	return nil
}

// Position returns the LSN of the next record the Reader will return.
func (r *Reader) Position() lsn.LSN { return r.pos }

// Next returns the next durable record, waiting until one is synced, ctx
// ends (its error is returned) or the log closes (ErrClosed). A record
// whose bytes fail verification is a *CorruptError; a position whose
// segment was removed is ErrCompacted. The record, payload included, is
// the caller's: the Reader does not reuse it.
func (r *Reader) Next(ctx context.Context) (*Record, error) {
	for {
		rec, wait, err := r.next()
		if err != io.EOF {
			return rec, err
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-r.l.done:
			return nil, ErrClosed
		}
	}
}

// TryNext is Next without waiting: at the durable end it returns io.EOF.
func (r *Reader) TryNext() (*Record, error) {
	rec, _, err := r.next()
	return rec, err
}

// next reads the next durable record. At the durable end it returns io.EOF
// and a channel that is closed when the durable end next moves.
func (r *Reader) next() (*Record, <-chan struct{}, error) {
	if r.closed {
		return nil, nil, ErrClosed
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	for retried := false; ; retried = true {
		l := r.l
		l.mu.Lock()
		if l.isClosed {
			l.mu.Unlock()
			return nil, nil, ErrClosed
		}
		if first := l.First(); r.pos < first {
			l.mu.Unlock()
			return nil, nil, fmt.Errorf("%w: reader at LSN %s, first retained LSN is %s", ErrCompacted, r.pos, first)
		}
		if l.rewinds != r.rewinds {
			// Buffered bytes may belong to discarded records: start afresh.
			r.rewinds = l.rewinds
			r.closeFile()
			if end := l.End(); r.pos > end {
				l.mu.Unlock()
				// Sticky: once the log grows past r.pos again, r.pos may
				// fall inside a new record.
				r.err = fmt.Errorf("%w: reader at LSN %s, log now ends at %s", ErrRewound, r.pos, end)
				return nil, nil, r.err
			}
		}
		durable, wait := l.Durable(), l.notify
		if r.pos >= durable {
			l.mu.Unlock()
			return nil, wait, io.EOF
		}
		seg := r.seg
		if seg == nil || r.pos >= seg.End() {
			seg, _ = l.findLocked(r.pos) // r.pos is within [First, Durable)
		}
		limit := min(durable, seg.End())
		l.mu.Unlock()

		if seg != r.seg {
			if err := r.open(seg); err != nil {
				if r.l.First() > r.pos && !retried {
					continue // removed under us: report ErrCompacted
				}
				return nil, nil, err
			}
		}
		r.src.limit = seg.offset(limit)
		rec, err := r.read(seg, limit)
		if err != nil {
			l.mu.Lock()
			changed := l.rewinds != r.rewinds || l.First() > r.pos
			l.mu.Unlock()
			if changed && !retried {
				continue // the log was cut or compacted while we read
			}
			return nil, nil, err
		}
		r.pos = rec.End()
		return rec, nil, nil
	}
}

// open switches the Reader to seg's file, positioned at r.pos.
func (r *Reader) open(seg *segment) error {
	r.closeFile()
	f, err := r.l.fs.OpenFile(r.l.path(seg.name), os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("rlog: open segment %s: %w", seg.name, err)
	}
	r.f, r.seg = f, seg
	r.src = boundedReader{f: f, off: seg.offset(r.pos), limit: seg.offset(r.pos)}
	r.br.Reset(&r.src)
	return nil
}

// read decodes the record at r.pos, which must end by limit.
func (r *Reader) read(seg *segment, limit lsn.LSN) (*Record, error) {
	corrupt := func(why string) error {
		return &CorruptError{Segment: seg.name, LSN: r.pos, Offset: seg.offset(r.pos), Reason: why}
	}
	readErr := func(err error) error {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return corrupt("the segment file ends inside a durable record")
		}
		return fmt.Errorf("rlog: read segment %s at LSN %s: %w", seg.name, r.pos, err)
	}
	hdr := r.hdr[:]
	if _, err := io.ReadFull(r.br, hdr); err != nil {
		return nil, readErr(err)
	}
	n, err := bodyLen(binary.BigEndian.Uint32(hdr))
	if err != nil {
		return nil, corrupt(reason(err))
	}
	if r.pos+lsn.LSN(n) > limit {
		return nil, corrupt(fmt.Sprintf("record of %d bytes runs past the durable end %s", n, limit))
	}
	b := make([]byte, n)
	copy(b, hdr)
	if _, err := io.ReadFull(r.br, b[frameHeaderSize:]); err != nil {
		return nil, readErr(err)
	}
	rec, _, err := DecodeRecord(b)
	if err != nil {
		return nil, corrupt(reason(err))
	}
	if rec.LSN != r.pos {
		return nil, corrupt(fmt.Sprintf("record says LSN %s but sits at LSN %s", rec.LSN, r.pos))
	}
	return &rec, nil
}

func (r *Reader) closeFile() {
	if r.f != nil {
		_ = r.f.Close() // read-only: nothing to lose
		r.f, r.seg = nil, nil
	}
}

// Close releases the Reader's file. Further calls return ErrClosed.
func (r *Reader) Close() error {
	r.closeFile()
	r.closed = true
	return nil
}

// boundedReader reads a file sequentially, never past limit, so the
// Reader's buffer never holds bytes that are not yet durable.
type boundedReader struct {
	f          File
	off, limit int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.off >= b.limit {
		return 0, io.EOF
	}
	if left := b.limit - b.off; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.f.ReadAt(p, b.off)
	b.off += int64(n)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return n, err
}
