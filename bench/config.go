package bench

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by this package.
var (
	// ErrUnbounded reports a Config with neither a Duration nor a Count.
	ErrUnbounded = errors.New("bench: the run has no bound: set a duration, a count, or both")
	// ErrBadConfig reports an invalid Config field.
	ErrBadConfig = errors.New("bench: bad config")
	// ErrNoRow reports a point-select that found no row: the table is
	// missing ids that setup should have inserted.
	ErrNoRow = errors.New("bench: point-select found no row: the table lacks ids in [1, rows]")
)

// Workload names one kind of operation mix.
type Workload string

// Workloads.
const (
	Insert      Workload = "insert"
	Batch       Workload = "batch"
	PointSelect Workload = "point-select"
	Mixed       Workload = "mixed"
)

// Workloads lists every workload, in the order help text shows them.
var Workloads = []Workload{Insert, Batch, PointSelect, Mixed}

// MixedSelectPercent is the share of point-selects in the mixed workload;
// the rest are single-row inserts.
const MixedSelectPercent = 80

// setupBatch is how many rows setup inserts per transaction.
const setupBatch = 500

// needsRows reports whether the workload reads ids in [1, Rows].
func (w Workload) needsRows() bool { return w == PointSelect || w == Mixed }

// Config describes one run.
type Config struct {
	Workload Workload
	// Clients is the number of concurrent workers.
	Clients int
	// Duration bounds the run in time; 0 means no time bound.
	Duration time.Duration
	// Count bounds the run to this many operations (transactions),
	// counting failed ones; 0 means no count bound.
	Count int64
	// BatchSize is the number of rows per transaction of the batch
	// workload.
	BatchSize int
	// Rows is the table size point-select and mixed read from.
	Rows int64
	// Commit is the commit level of HTTP writes; empty leaves it to the
	// server. The SQLite target ignores it.
	Commit string
	// Level is the read level of HTTP queries. The SQLite target ignores it.
	Level string
	// Seed seeds the workers' random sources; 0 picks one from the clock.
	Seed uint64
	// HTTPClient chooses how the HTTP target talks to the node:
	// HTTPClientRaw (the default, also when empty) or HTTPClientStd. The
	// SQLite target ignores it.
	HTTPClient string
}

// HTTP clients of the HTTP target.
const (
	// HTTPClientRaw is the bench's own minimal HTTP/1.1 client: one
	// keep-alive connection per worker, request bodies built by hand,
	// responses checked by a scan. It spends a fraction of the CPU of
	// HTTPClientStd, CPU that the node gets when both share a machine.
	HTTPClientRaw = "raw"
	// HTTPClientStd is the client package: net/http and encoding/json.
	HTTPClientStd = "std"
)

// DefaultConfig returns the defaults of `tandem bench`.
func DefaultConfig() Config {
	return Config{
		Workload:  Insert,
		Clients:   8,
		Duration:  10 * time.Second,
		BatchSize: 10,
		Rows:      10000,
		Level:     "weak",

		HTTPClient: HTTPClientRaw,
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	known := false
	names := make([]string, len(Workloads))
	for i, w := range Workloads {
		names[i] = string(w)
		known = known || w == c.Workload
	}
	switch {
	case !known:
		return fmt.Errorf("%w: unknown workload %q: use one of %s", ErrBadConfig, c.Workload, strings.Join(names, ", "))
	case c.Clients < 1:
		return fmt.Errorf("%w: clients is %d, want at least 1", ErrBadConfig, c.Clients)
	case c.Duration < 0 || c.Count < 0:
		return fmt.Errorf("%w: duration (%v) and count (%d) cannot be negative", ErrBadConfig, c.Duration, c.Count)
	case c.Duration == 0 && c.Count == 0:
		return ErrUnbounded
	case c.Workload == Batch && c.BatchSize < 1:
		return fmt.Errorf("%w: batch size is %d, want at least 1", ErrBadConfig, c.BatchSize)
	case c.Workload.needsRows() && c.Rows < 1:
		return fmt.Errorf("%w: rows is %d, want at least 1 for %s", ErrBadConfig, c.Rows, c.Workload)
	case c.HTTPClient != "" && c.HTTPClient != HTTPClientRaw && c.HTTPClient != HTTPClientStd:
		return fmt.Errorf("%w: unknown HTTP client %q: use %s or %s", ErrBadConfig, c.HTTPClient, HTTPClientRaw, HTTPClientStd)
	}
	return nil
}
