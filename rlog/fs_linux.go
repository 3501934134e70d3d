package rlog

import (
	"errors"
	"fmt"
	"syscall"
)

// Preallocate extends the file to size bytes with fallocate(2) mode 0: the
// blocks are allocated and the new bytes read as zeros. A file already that
// long keeps its size. A file system without fallocate returns an error
// wrapping errors.ErrUnsupported.
func (f *osFile) Preallocate(size int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Fallocate(int(fd), 0, 0, size)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	switch {
	case ferr == nil:
		return nil
	case errors.Is(ferr, syscall.EOPNOTSUPP), errors.Is(ferr, syscall.ENOSYS):
		return fmt.Errorf("fallocate %s: %w (%w)", f.Name(), errors.ErrUnsupported, ferr)
	default:
		return fmt.Errorf("fallocate %s to %d bytes: %w", f.Name(), size, ferr)
	}
}
