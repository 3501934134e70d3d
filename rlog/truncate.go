package rlog

import (
	"fmt"
	"os"

	"github.com/tandem-db/tandem/lsn"
)

// TruncateAfter discards every record after end, which must be a record
// boundary at or after First, and makes the cut durable; the log then ends
// at end and appends continue there. Rewind uses it to drop a diverged
// tail. Readers positioned past end get ErrRewound.
//
// Later segments are removed newest first, each removal made durable
// before the next, and the segment holding end is cut last; a crash part
// way leaves a valid log that is a prefix of the old one ending at or after
// end, so calling TruncateAfter again finishes the job. An I/O error fails
// the log.
func (l *Log) TruncateAfter(end lsn.LSN) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	cur := l.End()
	if end == cur {
		return nil
	}
	l.rmu.Lock()
	defer l.rmu.Unlock()
	l.mu.Lock()
	seg, err := l.findLocked(end)
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if end != seg.first {
		f, err := l.fs.OpenFile(l.path(seg.name), os.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("rlog: open segment %s: %w", seg.name, err)
		}
		err = checkBoundary(f, seg, end, cur)
		_ = f.Close()
		if err != nil {
			return err
		}
	}
	// Everything before end must be durable before anything is cut.
	if l.Durable() < end {
		if err := l.active.Sync(); err != nil {
			return l.fail(fmt.Errorf("sync segment %s: %w", l.tail.name, err))
		}
	}

	// Publish first, so readers stop short of the bytes about to go.
	l.mu.Lock()
	i := len(l.segs) - 1
	for l.segs[i] != seg {
		i--
	}
	later := l.segs[i+1:]
	l.segs = l.segs[: i+1 : i+1]
	seg.end.Store(uint64(end))
	l.end.Store(uint64(end))
	l.durable.Store(uint64(end))
	l.rewinds++
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()

	if len(later) > 0 {
		err := l.active.Close()
		l.active = nil
		if err != nil {
			return l.fail(fmt.Errorf("close segment %s: %w", l.tail.name, err))
		}
		for j := len(later) - 1; j >= 0; j-- {
			if err := l.fs.Remove(l.path(later[j].name)); err != nil {
				return l.fail(fmt.Errorf("remove segment %s: %w", later[j].name, err))
			}
			if err := l.fs.SyncDir(l.opts.Dir); err != nil {
				return l.fail(fmt.Errorf("sync directory %s: %w", l.opts.Dir, err))
			}
		}
		f, err := l.fs.OpenFile(l.path(seg.name), os.O_RDWR, 0)
		if err != nil {
			return l.fail(fmt.Errorf("open segment %s: %w", seg.name, err))
		}
		l.active, l.tail = f, seg
	}
	// Truncating and preallocating again leaves zeros after end, which
	// recovery reads as the segment's unused space.
	if err := l.active.Truncate(seg.offset(end)); err != nil {
		return l.fail(fmt.Errorf("truncate segment %s at LSN %s: %w", seg.name, end, err))
	}
	if seg.offset(end) < l.preallocSize() {
		if _, err := preallocate(l.active, l.preallocSize()); err != nil {
			return l.fail(fmt.Errorf("preallocate segment %s: %w", seg.name, err))
		}
	}
	if err := l.active.Sync(); err != nil {
		return l.fail(fmt.Errorf("sync segment %s: %w", seg.name, err))
	}
	return nil
}
