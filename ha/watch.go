package ha

import "sync"

// watchers hands the latest value of something to any number of
// subscribers. Each subscriber has a channel of capacity one that always
// holds the newest undelivered value: a slow reader skips intermediate
// values but never misses the last one, and the publisher never blocks.
type watchers[T any] struct {
	mu     sync.Mutex
	subs   []chan T
	last   T
	has    bool
	closed bool
}

// subscribe returns a channel that receives the current value, if any,
// then every later one (or the newest of a burst). It is closed by close.
func (w *watchers[T]) subscribe() <-chan T {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan T, 1)
	if w.closed {
		close(ch)
		return ch
	}
	if w.has {
		ch <- w.last
	}
	w.subs = append(w.subs, ch)
	return ch
}

func (w *watchers[T]) publish(v T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.last, w.has = v, true
	for _, ch := range w.subs {
		select { // drop the stale value; only this goroutine sends
		case <-ch:
		default:
		}
		ch <- v
	}
}

func (w *watchers[T]) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	for _, ch := range w.subs {
		close(ch)
	}
	w.subs = nil
}
