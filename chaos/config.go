package chaos

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Errors returned by this package.
var (
	// ErrConfig reports an invalid Config.
	ErrConfig = errors.New("chaos: invalid configuration")
	// ErrFailed reports a run in which a checker did not pass.
	ErrFailed = errors.New("chaos: a checker did not pass")
)

// Fault kinds the schedule may draw from.
const (
	FaultKill      = "kill"      // SIGKILL, then restart
	FaultPause     = "pause"     // SIGSTOP, then SIGCONT
	FaultPartition = "partition" // drop the bytes of a link, one way or both
	FaultLatency   = "latency"   // delay a link's bytes, with jitter
	FaultStall     = "stall"     // hold a link's bytes, then let them go
	FaultCut       = "cut"       // close a link's connections
	FaultSkew      = "skew"      // restart a node with its clock offset
	FaultDisk      = "disk"      // a full disk, or a flipped byte in a closed log segment
)

// FaultKinds lists every fault kind, in the order the summary prints them.
var FaultKinds = []string{FaultKill, FaultPause, FaultPartition, FaultLatency, FaultStall, FaultCut, FaultSkew, FaultDisk}

// Commit levels, weakest first (see command.CommitLevel).
var commitLevels = []string{"off", "local", "remote_write", "remote_flush", "remote_apply"}

// Workload names.
var workloadNames = []string{"register", "bank", "set"}

// Config configures one run. Start from DefaultConfig.
type Config struct {
	// Binary is the tandem binary run as `tandem serve`.
	Binary string
	// Nodes is the cluster size: n1 is the primary, the rest its replicas.
	Nodes int
	// HA starts the nodes as members of one HA cluster (automatic
	// failover): n1 bootstraps it and is its first primary, the others
	// join; every listener of every node sits behind a proxy, and each node
	// dials the others from its own loopback IP, so that a partition can
	// cut chosen pairs of nodes. Kill, pause and partition faults then
	// often target the primary of the moment, and the checkers follow the
	// primary across failovers.
	HA bool
	// Workload is register, bank or set.
	Workload string
	// Faults are the fault kinds the schedule draws from; empty runs the
	// workload fault-free.
	Faults []string
	// Commit is the commit level of every write.
	Commit string
	// Duration is how long the workload runs, faults included.
	Duration time.Duration
	// Seed drives the schedule, the workload's choices and the jitter.
	Seed uint64
	// Concurrency is the number of client workers.
	Concurrency int
	// Rate caps each worker's operations per second.
	Rate int
	// OpTimeout bounds one client request.
	OpTimeout time.Duration
	// SyncTimeout is the primary's --sync-timeout.
	SyncTimeout time.Duration
	// SegmentSize is every node's --segment-size: small, so that closed
	// segments exist for the disk fault.
	SegmentSize int64
	// Quiesce bounds the wait for convergence once every fault is healed.
	Quiesce time.Duration
	// Dir holds the nodes' data dirs; empty means a temporary dir that is
	// removed after the run.
	Dir string
	// Out, when set, receives result.json, summary.txt, timeline.svg,
	// history.jsonl, lost-transactions.json and the node logs.
	Out string
	// Events, when set, replace the seeded draw of the schedule: a test
	// pins the faults it needs.
	Events []Event
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// DefaultConfig returns the defaults of `tandem chaos run`.
func DefaultConfig() Config {
	return Config{
		Nodes:       3,
		Workload:    "register",
		Faults:      []string{FaultKill, FaultPartition, FaultPause, FaultSkew, FaultDisk},
		Commit:      "remote_flush",
		Duration:    60 * time.Second,
		Concurrency: 4,
		Rate:        50,
		OpTimeout:   5 * time.Second,
		SyncTimeout: 2 * time.Second,
		SegmentSize: 64 << 10,
		Quiesce:     30 * time.Second,
	}
}

// ParseFaults splits a comma-separated list of fault kinds; "none" or ""
// is no faults and "all" is every kind.
func ParseFaults(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "none":
		return nil, nil
	case "all":
		return slices.Clone(FaultKinds), nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(FaultKinds, f) {
			return nil, fmt.Errorf("%w: fault %q: use %s, all or none", ErrConfig, f, strings.Join(FaultKinds, ","))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Binary == "" {
		errs = append(errs, errors.New("no tandem binary"))
	}
	if c.Nodes < 1 || c.Nodes > 9 {
		errs = append(errs, fmt.Errorf("nodes %d: use 1 to 9", c.Nodes))
	}
	if !slices.Contains(workloadNames, c.Workload) {
		errs = append(errs, fmt.Errorf("workload %q: use %s", c.Workload, strings.Join(workloadNames, ", ")))
	}
	for _, f := range c.Faults {
		if !slices.Contains(FaultKinds, f) {
			errs = append(errs, fmt.Errorf("fault %q: use %s", f, strings.Join(FaultKinds, ",")))
		}
	}
	if !slices.Contains(commitLevels, c.Commit) {
		errs = append(errs, fmt.Errorf("commit %q: use %s", c.Commit, strings.Join(commitLevels, ", ")))
	}
	if c.Nodes == 1 && c.commitRank() >= commitRank("remote_write") {
		errs = append(errs, fmt.Errorf("commit %s needs replicas: use --nodes 2 or more, or --commit local", c.Commit))
	}
	if c.Duration < time.Second || c.Duration > 24*time.Hour {
		errs = append(errs, fmt.Errorf("duration %v: use 1s to 24h", c.Duration))
	}
	if c.Concurrency < 1 || c.Concurrency > 64 || c.Rate < 1 || c.Rate > 10000 {
		errs = append(errs, fmt.Errorf("concurrency %d (1-64) or rate %d (1-10000) out of range", c.Concurrency, c.Rate))
	}
	if c.OpTimeout <= 0 || c.SyncTimeout <= 0 || c.Quiesce <= 0 || c.SegmentSize < 4096 {
		errs = append(errs, errors.New("op timeout, sync timeout and quiesce must be positive, segment size at least 4096"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}

func commitRank(level string) int { return slices.Index(commitLevels, level) }

func (c *Config) commitRank() int { return commitRank(c.Commit) }

// strongCommit reports whether the commit level promises that an
// acknowledged write survives the loss of any one node.
func strongCommit(level string) bool { return commitRank(level) >= commitRank("remote_flush") }

func (c *Config) hasFault(kind string) bool { return slices.Contains(c.Faults, kind) }
