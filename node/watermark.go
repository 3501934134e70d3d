package node

import (
	"context"
	"sync"

	"github.com/tandem-db/tandem/lsn"
)

// watermark is an LSN that only grows, with waiters woken when it passes
// what they wait for.
type watermark struct {
	mu  sync.Mutex
	pos lsn.LSN
	ch  chan struct{} // closed and replaced on every advance
}

func newWatermark(at lsn.LSN) *watermark { return &watermark{pos: at, ch: make(chan struct{})} }

func (w *watermark) get() (lsn.LSN, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pos, w.ch
}

func (w *watermark) advance(to lsn.LSN) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if to <= w.pos {
		return
	}
	w.pos = to
	close(w.ch)
	w.ch = make(chan struct{})
}

// wait blocks until the watermark reaches at or ctx ends.
func (w *watermark) wait(ctx context.Context, at lsn.LSN) error {
	for {
		pos, ch := w.get()
		if pos >= at {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
