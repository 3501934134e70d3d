package ha

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// snapshotVersion is the version of the snapshot encoding:
//
//	{"v":1,"state":{...State as JSON...}}
const snapshotVersion = 1

// fsm is the raft state machine: a State behind a lock, changed only by
// the commands raft commits, in log order.
type fsm struct {
	mu      sync.RWMutex
	state   State
	changed func() // called after every change, outside the lock
}

var _ raft.FSM = (*fsm)(nil)

func newFSM(changed func()) *fsm {
	return &fsm{state: State{Members: map[string]Member{}}, changed: changed}
}

// Apply applies one committed command. Its result, nil or the refusal, is
// what Cluster.Apply returns on the leader; followers refuse the same
// commands the same way and ignore the result.
func (f *fsm) Apply(l *raft.Log) any {
	c, err := Decode(l.Data)
	if err != nil {
		return fmt.Errorf("raft log index %d: %w", l.Index, err)
	}
	f.mu.Lock()
	err = f.state.Apply(c)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	f.changed()
	return nil
}

// get returns a copy of the state.
func (f *fsm) get() State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Clone()
}

type snapshotFile struct {
	V     int   `json:"v"`
	State State `json:"state"`
}

// Snapshot captures the state. Raft calls it from the goroutine that
// applies commands, so no command runs meanwhile; encoding here rather than
// in Persist keeps the copy consistent.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	b, err := json.Marshal(snapshotFile{V: snapshotVersion, State: f.state})
	f.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	return fsmSnapshot(b), nil
}

// Restore replaces the state with a snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s snapshotFile
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	if s.V != snapshotVersion {
		return fmt.Errorf("snapshot version %d, this node reads version %d; upgrade it", s.V, snapshotVersion)
	}
	if s.State.Members == nil {
		s.State.Members = map[string]Member{}
	}
	f.mu.Lock()
	f.state = s.State
	f.mu.Unlock()
	f.changed()
	return nil
}

type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}
