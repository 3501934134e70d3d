package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
)

const slotsFile = "slots.json"

// slot is the primary's durable record of how far one replica has
// consumed the log. While it is not lost, it holds every segment the
// replica still needs.
type slot struct {
	Name   string  `json:"name"`
	LSN    lsn.LSN `json:"restart_lsn"` // the replica's flush position
	Lost   bool    `json:"lost,omitempty"`
	Reason string  `json:"lost_reason,omitempty"`
	hold   *rlog.Hold
}

// slots keeps every replica's slot, persisted in DIR/slots.json. A slot
// that falls more than maxLag bytes behind the log's end is marked lost
// and its hold released, so a dead replica never fills the disk.
type slots struct {
	mu     sync.Mutex
	path   string
	log    *rlog.Log
	maxLag int64
	logger *slog.Logger
	m      map[string]*slot
	dirty  bool
}

func loadSlots(dir string, log *rlog.Log, maxLag int64, logger *slog.Logger) (*slots, error) {
	s := &slots{path: filepath.Join(dir, slotsFile), log: log, maxLag: maxLag, logger: logger, m: make(map[string]*slot)}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read replication slots: %w", err)
	}
	var list []*slot
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("read replication slots %s: %w; fix or remove the file (replicas may then need a re-seed)", s.path, err)
	}
	for _, sl := range list {
		if !sl.Lost {
			if sl.LSN < log.First() {
				sl.Lost, sl.Reason = true, fmt.Sprintf("needs LSN %s but the log starts at %s", sl.LSN, log.First())
			} else {
				sl.hold = log.Hold("slot:"+sl.Name, sl.LSN)
			}
		}
		s.m[sl.Name] = sl
	}
	return s, nil
}

// attach returns where a replica may resume. A replica that asks to start
// before what its slot holds, or whose slot is lost, must re-seed.
//
// For a seed, applied is how far the database (which the backup will copy)
// has applied the log: the slot starts there, so the backup's LSN is held.
func (s *slots) attach(name string, from lsn.LSN, seeding bool, applied lsn.LSN) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.m[name]
	if seeding {
		// A fresh copy: the slot starts over where the database is now,
		// before the backup is taken, so the backup's LSN is covered.
		if sl != nil && sl.hold != nil {
			sl.hold.Release()
		}
		at := min(s.log.Durable(), applied)
		s.m[name] = &slot{Name: name, LSN: at, hold: s.log.Hold("slot:"+name, at)}
		s.dirty = true
		return s.saveLocked()
	}
	if sl != nil && sl.Lost {
		return fmt.Errorf("replication slot %s is lost (%s); the replica must re-seed: stop it, empty its data dir and start it again", name, sl.Reason)
	}
	if from < s.log.First() {
		return fmt.Errorf("replica %s asks to resume at LSN %s but this node's log starts at %s; it must re-seed: stop it, empty its data dir and start it again", name, from, s.log.First())
	}
	if sl == nil {
		s.m[name] = &slot{Name: name, LSN: from, hold: s.log.Hold("slot:"+name, from)}
		s.dirty = true
		return s.saveLocked()
	}
	if from < sl.LSN {
		// The replica lost some of its flushed tail (its own crash cut it):
		// it may go back, as long as the log still has it.
		sl.LSN = from
		sl.hold.Advance(from)
	}
	return nil
}

// advance moves a slot to the replica's flush position. Its hold on the
// log follows at the next save.
func (s *slots) advance(name string, flush lsn.LSN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.m[name]
	if sl == nil || sl.Lost || flush <= sl.LSN {
		return
	}
	sl.LSN = flush
	s.dirty = true // the hold moves when the position is saved
}

// enforce marks slots lost that are too far behind, and returns their names.
func (s *slots) enforce(end lsn.LSN) []string {
	if s.maxLag <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var lost []string
	for _, sl := range s.m {
		if sl.Lost || end.Sub(sl.LSN) <= uint64(s.maxLag) {
			continue
		}
		sl.Lost = true
		sl.Reason = fmt.Sprintf("it was %d bytes behind at LSN %s, over --max-slot-log-size %d", end.Sub(sl.LSN), end, s.maxLag)
		sl.hold.Release()
		sl.hold = nil
		s.dirty = true
		lost = append(lost, sl.Name)
		s.logger.Error("replication slot lost; its replica must re-seed", "slot", sl.Name, "restart_lsn", sl.LSN.String(), "reason", sl.Reason)
	}
	return lost
}

func (s *slots) isLost(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.m[name]
	return sl != nil && sl.Lost
}

// save writes the slots if they changed.
func (s *slots) save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked()
}

func (s *slots) saveLocked() error {
	if !s.dirty {
		return nil
	}
	list := s.listLocked()
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := writeFileSync(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("save replication slots: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("save replication slots: %w", err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("save replication slots: %w", err)
	}
	s.dirty = false
	// Only now may the log drop what these positions no longer need: a
	// crash never leaves a saved slot behind the log's first LSN (which
	// would mark it lost and force a needless re-seed).
	for _, sl := range s.m {
		if sl.hold != nil {
			sl.hold.Advance(sl.LSN)
		}
	}
	return nil
}

func (s *slots) listLocked() []slot {
	list := make([]slot, 0, len(s.m))
	for _, sl := range s.m {
		list = append(list, *sl)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

func (s *slots) list() []slot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listLocked()
}
