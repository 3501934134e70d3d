package rlog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/tandem-db/tandem/lsn"
)

// maxKeptBuffer caps the encode buffer kept between Appends, so one huge
// record does not pin its memory forever.
const maxKeptBuffer = 4 << 20

// Log is a replication log in one directory.
//
// Append, Sync, TruncateAfter and Close belong to the writer: one goroutine
// (they are serialized, but interleaving them from several goroutines makes
// little sense). Every other method, and Readers, may be used from any
// goroutine concurrently with the writer.
type Log struct {
	opts      Options
	fs        FS
	logger    *slog.Logger
	recovered RecoveryInfo

	// Writer state.
	wmu    sync.Mutex
	active File     // file of the last segment, written at its logical end
	tail   *segment // the last segment
	buf    []byte   // encode buffer, reused
	failed error    // sticky, wraps ErrFailed
	closed bool

	// rmu serializes changes to the head and the tail of the segment list
	// (RemoveBefore, TruncateAfter) without blocking appends.
	rmu sync.Mutex

	// Shared state.
	mu       sync.Mutex
	segs     []*segment    // sorted by first LSN; contiguous
	notify   chan struct{} // closed and replaced when durable advances
	done     chan struct{} // closed by Close
	holds    map[*Hold]struct{}
	rewinds  uint64 // counts TruncateAfter calls that cut something
	isClosed bool

	first, end, durable atomic.Uint64
}

// Open opens the log in opts.Dir, creating it if needed, and recovers it:
// every record is verified and a torn tail is cut (see Recovered). Zero
// fields of opts take their values from DefaultOptions. A corrupt log
// returns a *CorruptError.
func Open(opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	l := &Log{
		opts:   opts,
		fs:     opts.FS,
		logger: opts.Logger,
		notify: make(chan struct{}),
		done:   make(chan struct{}),
		holds:  make(map[*Hold]struct{}),
	}
	if err := l.fs.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("rlog: create log directory: %w", err)
	}
	if err := l.recover(); err != nil {
		if l.active != nil {
			_ = l.active.Close()
		}
		return nil, fmt.Errorf("rlog: open %s: %w", opts.Dir, err)
	}
	l.tail = l.segs[len(l.segs)-1]
	end := l.tail.End()
	l.first.Store(uint64(l.segs[0].first))
	l.end.Store(uint64(end))
	l.durable.Store(uint64(end))
	l.recovered.Segments = len(l.segs)
	l.recovered.First, l.recovered.End = l.segs[0].first, end
	return l, nil
}

// Recovered reports what Open found and repaired.
func (l *Log) Recovered() RecoveryInfo { return l.recovered }

// Dir returns the directory of the log.
func (l *Log) Dir() string { return l.opts.Dir }

// First returns the LSN of the first retained record.
func (l *Log) First() lsn.LSN { return lsn.LSN(l.first.Load()) }

// End returns the LSN just after the last written record.
func (l *Log) End() lsn.LSN { return lsn.LSN(l.end.Load()) }

// Durable returns the LSN up to which records are synced to disk. Readers
// never go beyond it.
func (l *Log) Durable() lsn.LSN { return lsn.LSN(l.durable.Load()) }

// Append assigns each record its LSN (setting rec.LSN), encodes them and
// writes them at the end of the log, with one write per segment touched.
// It returns the new end. Append does not fsync, except that before it
// rolls to a new segment it makes the old one durable. The records are
// either all accepted or, for ErrTooLarge, none; any write error fails the
// log (ErrFailed).
func (l *Log) Append(recs ...*Record) (lsn.LSN, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return l.End(), err
	}
	for _, r := range recs {
		if n := r.Size(); n > MaxRecordSize {
			return l.End(), fmt.Errorf("%w: record of %d bytes (payload %d), limit %d; split the transaction",
				ErrTooLarge, n, len(r.Payload), MaxRecordSize)
		}
	}
	end := l.End()
	used := l.tail.size()
	l.buf = l.buf[:0]
	for _, r := range recs {
		n := int64(r.Size())
		if used+int64(len(l.buf))+n > l.opts.SegmentSize && used+int64(len(l.buf)) > SegmentHeaderSize {
			if err := l.flush(); err != nil {
				return l.End(), err
			}
			if err := l.roll(end); err != nil {
				return l.End(), err
			}
			used = SegmentHeaderSize
		}
		r.LSN = end
		l.buf = AppendRecord(l.buf, r)
		end += lsn.LSN(n)
	}
	if err := l.flush(); err != nil {
		return l.End(), err
	}
	if cap(l.buf) > maxKeptBuffer {
		l.buf = nil
	}
	return end, nil
}

// flush writes the encode buffer to the last segment and publishes the new end.
func (l *Log) flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	n, err := l.active.WriteAt(l.buf, l.tail.size())
	if err == nil && n != len(l.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return l.fail(fmt.Errorf("write segment %s at LSN %s: %w", l.tail.name, l.End(), err))
	}
	end := l.End() + lsn.LSN(len(l.buf))
	l.tail.end.Store(uint64(end))
	l.end.Store(uint64(end))
	l.buf = l.buf[:0]
	return nil
}

// roll syncs and closes the last segment and starts a new one at end. The
// old segment's unused preallocated space is given back first, so every
// segment but the last is exactly as long as its records.
func (l *Log) roll(end lsn.LSN) error {
	if err := l.trimTail(); err != nil {
		return l.fail(err)
	}
	if err := l.active.Sync(); err != nil {
		return l.fail(fmt.Errorf("sync segment %s: %w", l.tail.name, err))
	}
	l.publishDurable(end)
	err := l.active.Close()
	l.active = nil
	if err != nil {
		return l.fail(fmt.Errorf("close segment %s: %w", l.tail.name, err))
	}
	f, err := createSegment(l.fs, l.opts.Dir, end, l.preallocSize())
	if err != nil {
		return l.fail(err)
	}
	seg := newSegment(end, end)
	l.mu.Lock()
	l.segs = append(l.segs, seg)
	l.mu.Unlock()
	l.active, l.tail = f, seg
	return nil
}

// trimTail truncates the last segment's file to its logical size when it
// is longer (preallocated). The bytes cut are zeros, so a crash before or
// after the cut leaves the same log.
func (l *Log) trimTail() error {
	fi, err := l.active.Stat()
	if err != nil {
		return fmt.Errorf("stat segment %s: %w", l.tail.name, err)
	}
	if size := l.tail.size(); fi.Size() > size {
		if err := l.active.Truncate(size); err != nil {
			return fmt.Errorf("trim segment %s to %d bytes: %w", l.tail.name, size, err)
		}
	}
	return nil
}

// preallocSize returns the size new segment files are preallocated to, 0
// when preallocation is off.
func (l *Log) preallocSize() int64 {
	if l.opts.NoPreallocate {
		return 0
	}
	return l.opts.SegmentSize
}

// Sync makes every written record durable and wakes the readers waiting
// for it. An fsync error fails the log: it cannot be retried safely.
func (l *Log) Sync() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	end := l.End()
	if end == l.Durable() {
		return nil
	}
	if err := l.active.Sync(); err != nil {
		return l.fail(fmt.Errorf("sync segment %s: %w", l.tail.name, err))
	}
	l.publishDurable(end)
	return nil
}

// publishDurable advances the durable end and wakes waiting readers.
func (l *Log) publishDurable(d lsn.LSN) {
	l.mu.Lock()
	l.durable.Store(uint64(d))
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

// writable returns why the writer cannot proceed, if it cannot.
func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	return l.failed
}

// fail makes the log failed for good and returns the sticky error.
func (l *Log) fail(cause error) error {
	l.failed = failedError(cause)
	return l.failed
}

// Err returns the sticky error of a failed log, or nil.
func (l *Log) Err() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.failed
}

// Close syncs what was written (unless the log failed), closes the log and
// wakes blocked readers with ErrClosed. Closing twice is a no-op.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return nil
	}
	var errs []error
	if l.failed == nil && l.End() != l.Durable() {
		if err := l.active.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("rlog: sync segment %s: %w", l.tail.name, err))
		} else {
			l.publishDurable(l.End())
		}
	}
	if l.active != nil {
		if err := l.active.Close(); err != nil {
			errs = append(errs, fmt.Errorf("rlog: close segment %s: %w", l.tail.name, err))
		}
		l.active = nil
	}
	l.closed = true
	l.mu.Lock()
	l.isClosed = true
	close(l.done)
	l.mu.Unlock()
	return errors.Join(errs...)
}

// Locate returns the segment file holding LSN at and the byte offset of at
// in it. It does not check that a record starts at at.
func (l *Log) Locate(at lsn.LSN) (segmentName string, offset int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seg, err := l.findLocked(at)
	if err != nil {
		return "", 0, err
	}
	return seg.name, seg.offset(at), nil
}

// findLocked returns the segment holding LSN at (the last segment when at
// is the end). l.mu must be held.
func (l *Log) findLocked(at lsn.LSN) (*segment, error) {
	if first := l.First(); at < first {
		return nil, fmt.Errorf("%w: LSN %s is before the first retained LSN %s", ErrCompacted, at, first)
	}
	if end := l.End(); at > end {
		return nil, fmt.Errorf("%w: LSN %s is past the end %s", ErrBeyondEnd, at, end)
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > at })
	return l.segs[i-1], nil
}

// Segments describes the segment files, oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = s.info()
	}
	return out
}

// Size returns the bytes the segments' headers and records take, which is
// less than the files' total size while the last one is preallocated.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.segs {
		n += s.size()
	}
	return n
}

func (l *Log) path(name string) string { return filepath.Join(l.opts.Dir, name) }

// AppendReplicated appends records that already carry their LSNs, as a
// replica receives them from its upstream: the first must start at End()
// and each must follow the previous one. The log keeps the upstream's LSNs,
// so a position means the same record on every node. Nothing is written
// when the check fails.
func (l *Log) AppendReplicated(recs ...*Record) (lsn.LSN, error) {
	want := l.End()
	for _, r := range recs {
		if r.LSN != want {
			return l.End(), fmt.Errorf("%w: record %s carries LSN %s, but the log continues at %s",
				ErrNotContiguous, r.GTID, r.LSN, want)
		}
		want = r.End()
	}
	return l.Append(recs...)
}
