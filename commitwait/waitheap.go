package commitwait

import "github.com/tandem-db/tandem/lsn"

// waiter is one pending Wait.
type waiter struct {
	level int           // level index, 0..2
	at    lsn.LSN       // the LSN the quorum must acknowledge
	idx   int           // position in its waitHeap; -1 once it is finished
	done  chan struct{} // closed by finish, once res and err are set
	res   Result
	err   error
	stop  func() bool // stops the timeout; nil without one
}

// waitHeap is a min-heap of waiters by LSN (container/heap.Interface), so
// an Update wakes the satisfied ones without looking at the rest.
type waitHeap []*waiter

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}

func (h *waitHeap) Push(x any) {
	wt := x.(*waiter)
	wt.idx = len(*h)
	*h = append(*h, wt)
}

func (h *waitHeap) Pop() any {
	old := *h
	wt := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	wt.idx = -1
	return wt
}
