package rlog

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"sync"
)

// ErrInjected is the error FaultFS returns for a fault without its own Err.
var ErrInjected = errors.New("rlog: injected fault")

// Op names an FS or File operation that FaultFS can fail.
type Op string

// Operations FaultFS can fail.
const (
	OpOpen     Op = "open"
	OpRemove   Op = "remove"
	OpReadDir  Op = "readdir"
	OpMkdir    Op = "mkdir"
	OpSyncDir  Op = "syncdir"
	OpStat     Op = "stat"
	OpRead     Op = "read"
	OpWrite    Op = "write"
	OpSync     Op = "sync"
	OpTruncate Op = "truncate"
	OpClose    Op = "close"
)

// Fault describes a failure to inject, such as "the 2nd sync of
// 0000000000000000.seg".
type Fault struct {
	Op   Op     // operation to fail
	Name string // base name of the file or directory; "" matches any
	// Nth fails the Nth matching call made after Inject, counting from 1
	// (0 means 1).
	Nth int
	// Sticky keeps failing every matching call from the Nth on.
	Sticky bool
	// Prob, when above 0, fails each matching call from the Nth on with
	// this probability, drawn from the FaultFS's seeded source.
	Prob float64
	// Torn makes a failed write put the first half of its bytes in the
	// file before it fails, like a write cut short by a crash.
	Torn bool
	// Err is the error returned; nil means ErrInjected.
	Err error
}

// FaultFS wraps an FS and fails operations as its injected Faults say. Given
// the same seed and the same sequence of calls it fails the same calls, so a
// failing test reproduces. It is safe for concurrent use.
type FaultFS struct {
	inner FS

	mu     sync.Mutex
	rng    *rand.Rand
	faults []*faultState
	calls  map[faultKey]int
	fired  int
}

type faultState struct {
	Fault
	n int // matching calls seen
}

type faultKey struct {
	op   Op
	name string
}

var _ FS = (*FaultFS)(nil)

// NewFaultFS wraps inner; seed drives the probabilistic faults.
func NewFaultFS(inner FS, seed uint64) *FaultFS {
	return &FaultFS{
		inner: inner,
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		calls: make(map[faultKey]int),
	}
}

// Inject adds a fault. Faults are checked in the order they were added.
func (f *FaultFS) Inject(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft.Nth <= 0 {
		ft.Nth = 1
	}
	f.faults = append(f.faults, &faultState{Fault: ft})
}

// Clear removes every fault; call counts are kept.
func (f *FaultFS) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Calls returns how many times op was called on the file with base name
// name, whether or not it failed.
func (f *FaultFS) Calls(op Op, name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[faultKey{op, name}]
}

// Fired returns how many faults have been injected so far.
func (f *FaultFS) Fired() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

// check counts a call and returns the injected error for it, if any.
func (f *FaultFS) check(op Op, path string) (torn bool, err error) {
	name := filepath.Base(path)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[faultKey{op, name}]++
	for _, ft := range f.faults {
		if ft.Op != op || (ft.Name != "" && ft.Name != name) {
			continue
		}
		ft.n++
		var fire bool
		switch {
		case ft.Prob > 0:
			fire = ft.n >= ft.Nth && f.rng.Float64() < ft.Prob
		case ft.Sticky:
			fire = ft.n >= ft.Nth
		default:
			fire = ft.n == ft.Nth
		}
		if fire {
			f.fired++
			cause := ft.Err
			if cause == nil {
				cause = ErrInjected
			}
			return ft.Torn, fmt.Errorf("%s %s (call %d): %w", op, name, ft.n, cause)
		}
	}
	return false, nil
}

// OpenFile opens a file whose operations are subject to faults.
func (f *FaultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if _, err := f.check(OpOpen, name); err != nil {
		return nil, err
	}
	file, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, name: name}, nil
}

// Remove deletes a file unless a fault says otherwise.
func (f *FaultFS) Remove(name string) error {
	if _, err := f.check(OpRemove, name); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

// ReadDir lists a directory unless a fault says otherwise.
func (f *FaultFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if _, err := f.check(OpReadDir, name); err != nil {
		return nil, err
	}
	return f.inner.ReadDir(name)
}

// MkdirAll creates a directory unless a fault says otherwise.
func (f *FaultFS) MkdirAll(path string, perm fs.FileMode) error {
	if _, err := f.check(OpMkdir, path); err != nil {
		return err
	}
	return f.inner.MkdirAll(path, perm)
}

// SyncDir fsyncs a directory unless a fault says otherwise.
func (f *FaultFS) SyncDir(dir string) error {
	if _, err := f.check(OpSyncDir, dir); err != nil {
		return err
	}
	return f.inner.SyncDir(dir)
}

// Stat describes a file unless a fault says otherwise.
func (f *FaultFS) Stat(name string) (fs.FileInfo, error) {
	if _, err := f.check(OpStat, name); err != nil {
		return nil, err
	}
	return f.inner.Stat(name)
}

// faultFile is a file of FaultFS. It does not preallocate (it is no
// Preallocator, whatever the inner file is), so a log on a FaultFS runs
// without preallocation.
type faultFile struct {
	File
	fs   *FaultFS
	name string
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if _, err := f.fs.check(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if torn, err := f.fs.check(OpWrite, f.name); err != nil {
		if torn && len(p) > 1 {
			n, _ := f.File.WriteAt(p[:len(p)/2], off)
			return n, err
		}
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if _, err := f.fs.check(OpSync, f.name); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if _, err := f.fs.check(OpTruncate, f.name); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *faultFile) Stat() (fs.FileInfo, error) {
	if _, err := f.fs.check(OpStat, f.name); err != nil {
		return nil, err
	}
	return f.File.Stat()
}

// Close always closes the underlying file, so a failed close leaks nothing.
func (f *faultFile) Close() error {
	_, err := f.fs.check(OpClose, f.name)
	if cerr := f.File.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
