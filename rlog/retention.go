package rlog

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/tandem-db/tandem/lsn"
)

// Hold keeps the log from removing records at or after its position. A
// replication slot, an archiver or a running backup each take one.
type Hold struct {
	l    *Log
	name string
	at   lsn.LSN // guarded by l.mu
}

// HoldInfo describes a Hold.
type HoldInfo struct {
	Name string  // who holds the log, e.g. "slot:replica-2"
	LSN  lsn.LSN // records from here on are kept
}

// Hold registers a hold named name at LSN at: RemoveBefore keeps every
// segment with a record that ends after at. Release it when done.
func (l *Log) Hold(name string, at lsn.LSN) *Hold {
	h := &Hold{l: l, name: name, at: at}
	l.mu.Lock()
	l.holds[h] = struct{}{}
	l.mu.Unlock()
	return h
}

// Advance moves the hold forward to at, letting older records go. Moving
// backwards is ignored: the records may already be gone.
func (h *Hold) Advance(at lsn.LSN) {
	h.l.mu.Lock()
	h.at = max(h.at, at)
	h.l.mu.Unlock()
}

// Position returns the LSN the hold keeps.
func (h *Hold) Position() lsn.LSN {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	return h.at
}

// Release removes the hold. Releasing twice is a no-op.
func (h *Hold) Release() {
	h.l.mu.Lock()
	delete(h.l.holds, h)
	h.l.mu.Unlock()
}

// Holds lists the registered holds, sorted by name.
func (l *Log) Holds() []HoldInfo {
	l.mu.Lock()
	out := make([]HoldInfo, 0, len(l.holds))
	for h := range l.holds {
		out = append(out, HoldInfo{Name: h.name, LSN: h.at})
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b HoldInfo) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.LSN, b.LSN))
	})
	return out
}

// RemoveBefore deletes the oldest segments whose records all end at or
// before the smallest of upTo, every hold's position and the durable end.
// The last segment is never removed. It returns the names of the removed
// files. Readers positioned in them get ErrCompacted. It may run
// concurrently with the writer.
func (l *Log) RemoveBefore(upTo lsn.LSN) (removed []string, err error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	l.mu.Lock()
	if l.isClosed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	limit := min(upTo, l.Durable())
	for h := range l.holds {
		limit = min(limit, h.at)
	}
	k := 0
	for k < len(l.segs)-1 && l.segs[k].End() <= limit {
		removed = append(removed, l.segs[k].name)
		k++
	}
	if k > 0 {
		l.segs = slices.Clone(l.segs[k:])
		l.first.Store(uint64(l.segs[0].first))
	}
	l.mu.Unlock()
	if k == 0 {
		return nil, nil
	}
	// The list no longer names these files, so a failed removal leaves a
	// stray old segment that the next Open counts back in: harmless.
	var errs []error
	for _, name := range removed {
		if err := l.fs.Remove(l.path(name)); err != nil {
			errs = append(errs, fmt.Errorf("rlog: remove segment %s: %w", name, err))
		}
	}
	if err := l.fs.SyncDir(l.opts.Dir); err != nil {
		errs = append(errs, fmt.Errorf("rlog: sync directory %s: %w", l.opts.Dir, err))
	}
	return removed, errors.Join(errs...)
}
