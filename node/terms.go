package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/tandem-db/tandem/lsn"
)

const termsFile = "terms.json"

// TermStart says where a term's records start in the log stream.
type TermStart struct {
	Term  uint64  `json:"term"`
	Start lsn.LSN `json:"start_lsn"`
}

// termHistory is this node's record of where each term began, like a
// PostgreSQL timeline history: a promotion adds the new term at the LSN
// it starts from, and a replica adds the terms it sees in the records it
// receives. Its use: a replica whose log ends in term T past the LSN where
// this node's history left T has records this node never had (it forked)
// and must not be streamed to.
type termHistory struct {
	mu      sync.Mutex
	path    string
	entries []TermStart
}

func loadTermHistory(dir string) (*termHistory, error) {
	h := &termHistory{path: filepath.Join(dir, termsFile)}
	b, err := os.ReadFile(h.path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read term history: %w", err)
	}
	if err := json.Unmarshal(b, &h.entries); err != nil {
		return nil, fmt.Errorf("read term history %s: %w; fix or remove the file", h.path, err)
	}
	return h, nil
}

// add records that term starts at start; a term already known is kept.
func (h *termHistory) add(term uint64, start lsn.LSN) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.entries); n > 0 && h.entries[n-1].Term >= term {
		return nil
	}
	h.entries = append(h.entries, TermStart{term, start})
	return h.save()
}

// cut forgets the terms whose records a rewind to LSN to removed: those
// that began after to, or at to and later than last, the term of the record
// ending at to. They no longer say where this log forks.
func (h *termHistory) cut(to lsn.LSN, last uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := len(h.entries)
	for k > 0 && (h.entries[k-1].Start > to || h.entries[k-1].Start == to && h.entries[k-1].Term > last) {
		k--
	}
	if k == len(h.entries) {
		return nil
	}
	h.entries = h.entries[:k]
	return h.save()
}

// save writes the entries; call with mu held.
func (h *termHistory) save() error {
	b, err := json.MarshalIndent(h.entries, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSync(h.path+".tmp", append(b, '\n')); err != nil {
		return fmt.Errorf("save term history: %w", err)
	}
	if err := os.Rename(h.path+".tmp", h.path); err != nil {
		return fmt.Errorf("save term history: %w", err)
	}
	return syncDir(filepath.Dir(h.path))
}

// endOf returns where term ended in this history: the start of the first
// later term, or the maximum LSN while term is still the latest.
func (h *termHistory) endOf(term uint64) lsn.LSN {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries {
		if e.Term > term {
			return e.Start
		}
	}
	return math.MaxUint64
}

// list returns a copy of the entries.
func (h *termHistory) list() []TermStart {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]TermStart(nil), h.entries...)
}
