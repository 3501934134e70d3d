package rlog

import (
	"io"
	"io/fs"
	"os"
)

// FS is the file system seam the log does all its I/O through. Names are
// full paths. OSFS is the real one; FaultFS wraps one to inject failures.
type FS interface {
	// OpenFile opens a file like os.OpenFile.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Remove deletes a file.
	Remove(name string) error
	// ReadDir lists a directory, sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
	// MkdirAll creates a directory and its parents.
	MkdirAll(path string, perm fs.FileMode) error
	// SyncDir fsyncs a directory, making creations and removals in it durable.
	SyncDir(dir string) error
	// Stat describes a file.
	Stat(name string) (fs.FileInfo, error)
}

// File is an open file: what the log needs of *os.File. The log writes at
// explicit offsets (WriteAt), never appending, because a preallocated
// segment file is longer than the records in it.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Sync flushes the file's data to stable storage.
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Stat describes the file.
	Stat() (fs.FileInfo, error)
}

// Preallocator is implemented by a File that can reserve disk space: after
// Preallocate(size) the file is at least size bytes long, the bytes past
// its old end read as zeros, and writing over them allocates nothing, so
// an fsync after such a write has no block allocation or size change to
// commit. A file that cannot (another file system, another OS) returns an
// error wrapping errors.ErrUnsupported, and the log does without. Files
// that do not implement it are never preallocated.
type Preallocator interface {
	Preallocate(size int64) error
}

// OSFS is the FS of the operating system. Its files preallocate with
// fallocate(2) on Linux.
type OSFS struct{}

var (
	_ FS           = OSFS{}
	_ File         = (*os.File)(nil)
	_ File         = (*osFile)(nil)
	_ Preallocator = (*osFile)(nil)
)

// OpenFile calls os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a nil *os.File must not become a non-nil File
	}
	return &osFile{f}, nil
}

// osFile is a file of OSFS: an *os.File that can preallocate.
type osFile struct{ *os.File }

// Remove calls os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// ReadDir calls os.ReadDir.
func (OSFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// MkdirAll calls os.MkdirAll.
func (OSFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }

// Stat calls os.Stat.
func (OSFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// SyncDir opens the directory and fsyncs it.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}
