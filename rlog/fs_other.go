//go:build !linux

package rlog

import (
	"errors"
	"fmt"
)

// Preallocate is not supported on this OS; the log does without.
func (f *osFile) Preallocate(int64) error {
	return fmt.Errorf("preallocate %s: %w", f.Name(), errors.ErrUnsupported)
}
