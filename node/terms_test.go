package node

import (
	"slices"
	"testing"

	"github.com/tandem-db/tandem/lsn"
)

// A rewind forgets the terms whose records it cut, on disk too, and keeps
// the ones that began before the fork.
func TestTermHistory_Cut(t *testing.T) {
	dir := t.TempDir()
	h, err := loadTermHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []TermStart{{1, 0}, {2, 100}, {3, 250}, {4, 300}} {
		if err := h.add(e.Term, e.Start); err != nil {
			t.Fatal(err)
		}
	}
	// Rewind to 250, where term 2's last kept record ends: terms 3 (began
	// at 250, later than 2) and 4 (began after 250) go.
	if err := h.cut(lsn.LSN(250), 2); err != nil {
		t.Fatal(err)
	}
	want := []TermStart{{1, 0}, {2, 100}}
	if got := h.list(); !slices.Equal(got, want) {
		t.Fatalf("after cut: %v, want %v", got, want)
	}
	if got := h.endOf(2); got != lsn.LSN(^uint64(0)) {
		t.Fatalf("term 2 ends at %s, want open", got)
	}
	again, err := loadTermHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.list(); !slices.Equal(got, want) {
		t.Fatalf("reloaded: %v, want %v", got, want)
	}
}

// A term watch wakes its waiters when the term grows, not when it does not.
func TestTermWatch_WakesOnGrowth(t *testing.T) {
	var w termWatch
	term, changed := w.get()
	w.raise(term) // no growth
	select {
	case <-changed:
		t.Fatal("woken without the term growing")
	default:
	}
	w.raise(term + 2)
	select {
	case <-changed:
	default:
		t.Fatal("not woken when the term grew")
	}
	if got, _ := w.get(); got != term+2 {
		t.Fatalf("term %d, want %d", got, term+2)
	}
}
