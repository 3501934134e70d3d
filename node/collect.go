package node

import (
	"context"
	"time"
)

// collect appends what arrives on ch to batch until the batch holds want
// items, wait has passed, ctx ends or ch is closed. Items keep rejects are
// dropped (nil keeps all). The writer's gather and the applier's linger
// both batch this way.
func collect[T any](ctx context.Context, ch <-chan T, batch []T, want int, wait time.Duration, keep func(T) bool) []T {
	t := time.NewTimer(wait)
	defer t.Stop()
	for len(batch) < want {
		select {
		case v, ok := <-ch:
			if !ok {
				return batch
			}
			if keep == nil || keep(v) {
				batch = append(batch, v)
			}
		case <-t.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}
