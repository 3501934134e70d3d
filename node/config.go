package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"time"

	"github.com/tandem-db/tandem/commitwait"
	"github.com/tandem-db/tandem/ha"
	"github.com/tandem-db/tandem/httpapi"
	"github.com/tandem-db/tandem/rlog"
	"github.com/tandem-db/tandem/sqlitedb"
)

// Config configures a node. Start from DefaultConfig.
type Config struct {
	// NodeID is the node's name in the cluster; it is stored in the data
	// directory on first start and must match afterwards.
	NodeID string `yaml:"node-id"`
	// DataDir holds the identity file, the log and the database.
	DataDir string `yaml:"data-dir"`
	// HTTPAddr is the client API's listen address; empty means no HTTP API.
	HTTPAddr string `yaml:"http-addr"`
	// Format is the log payload format: row, statement or mixed.
	Format string `yaml:"format"`
	// SegmentSize is the size of a log segment file in bytes.
	SegmentSize int64 `yaml:"segment-size"`
	// LogRetainBytes is how much applied log to keep for replicas and
	// archiving that are not configured yet; older segments are removed.
	LogRetainBytes int64 `yaml:"log-retain-bytes"`
	// MaxBatch is the most transactions one group commit takes.
	MaxBatch int `yaml:"max-batch"`
	// GroupCommitWait is how long a group commit that will wait for
	// standbys waits first for the clients the previous such commit
	// answered: they tend to come back together, and a batch that holds
	// them all takes one fsync and one standby round trip on every node
	// instead of several. Zero turns it off.
	GroupCommitWait time.Duration `yaml:"group-commit-wait"`
	// QueueSize is the number of write requests that may wait for the writer.
	QueueSize int `yaml:"queue-size"`
	// MaxRequestBytes and MaxStatements limit one HTTP request.
	MaxRequestBytes int64 `yaml:"max-request-bytes"`
	MaxStatements   int   `yaml:"max-statements"`
	// ReadConns is the size of the read connection pool.
	ReadConns int `yaml:"read-conns"`
	// WriteTimeout bounds how long a write request may wait for its commit.
	WriteTimeout time.Duration `yaml:"write-timeout"`
	// ReplAddr is the replication listen address; empty means none.
	ReplAddr string `yaml:"repl-addr"`
	// Primary is the upstream's replication address. Setting it makes
	// this node a replica; the upstream may itself be a replica.
	Primary string `yaml:"primary"`
	// ClusterSecret authenticates replication connections.
	ClusterSecret string `yaml:"cluster-secret"`
	// Compression asks for zstd on replication connections.
	Compression bool `yaml:"compression"`
	// SyncStandbys names the standbys whose acks count, like PostgreSQL's
	// synchronous_standby_names: "FIRST 1 (n2,n3)" or "ANY 1 (n2,n3)".
	SyncStandbys string `yaml:"sync-standbys"`
	// SyncMode is strict (block, then fail) or fallback (degrade to async
	// after SyncTimeout).
	SyncMode string `yaml:"sync-mode"`
	// SyncTimeout bounds a commit wait.
	SyncTimeout time.Duration `yaml:"sync-timeout"`
	// SyncPoint is after_sync (a transaction is visible only once its acks
	// arrived) or after_commit (visible at once, acknowledged after acks).
	SyncPoint string `yaml:"sync-point"`
	// ApplyDelay makes a delayed standby: records are received and flushed
	// at once, and applied this long after their commit.
	ApplyDelay time.Duration `yaml:"apply-delay"`
	// MaxSlotLogSize caps how far (bytes) a replica's slot may hold the
	// log; a replica beyond it is marked lost and must re-seed.
	MaxSlotLogSize int64 `yaml:"max-slot-log-size"`
	// ForwardWrites makes a replica forward writes (and weak or strong
	// reads) to the primary; otherwise they are refused naming it.
	ForwardWrites bool `yaml:"forward-writes"`
	// Heartbeat is the replication heartbeat interval.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// RaftAddr makes the node a member of an HA cluster: it keeps the
	// cluster state (members, primary, term, lease) in raft on this
	// address, and its role and upstream come from that state. Empty: no
	// automatic failover.
	RaftAddr string `yaml:"raft-addr"`
	// Bootstrap makes this node the first member and primary of a new HA
	// cluster; ignored once the node has cluster state.
	Bootstrap bool `yaml:"bootstrap"`
	// Join is the HTTP address of any member of the HA cluster to join.
	Join string `yaml:"join"`
	// NonVoter joins as a member that never votes in raft (a read
	// replica); it can still be promoted unless NoFailover is set.
	NonVoter bool `yaml:"non-voter"`
	// Priority breaks ties between equally up-to-date failover candidates.
	Priority int `yaml:"priority"`
	// NoFailover keeps this node from ever being promoted automatically.
	NoFailover bool `yaml:"nofailover"`
	// MaxLagOnFailover is how many bytes an asynchronous failover may lose:
	// no candidate further behind the old primary is promoted.
	MaxLagOnFailover int64 `yaml:"max-lag-on-failover"`
	// RaftAdvertise, HTTPAdvertise and ReplAdvertise are the addresses the
	// other members dial, when they differ from the listen addresses (a
	// wildcard bind, NAT, a proxy in front of the node).
	RaftAdvertise string `yaml:"raft-advertise"`
	HTTPAdvertise string `yaml:"http-advertise"`
	ReplAdvertise string `yaml:"repl-advertise"`
	// SourceAddr is the local IP this node dials other nodes from; empty
	// lets the system choose.
	SourceAddr string `yaml:"source-addr"`
	// ClockOffset shifts the node's wall clock: the one its hybrid
	// logical clock reads (commit timestamps, lag) and the times in its
	// cluster commands. A fault-injection knob for testing clock skew; the
	// HA lease fences on monotonic clocks and does not depend on it.
	ClockOffset time.Duration `yaml:"clock-offset"`
	// LeaseDuration and LeaseMargin time the primary's lease; see ha.Config.
	LeaseDuration time.Duration `yaml:"lease-duration"`
	LeaseMargin   time.Duration `yaml:"lease-margin"`
	// Logger receives the node's log; nil means slog.Default().
	Logger *slog.Logger `yaml:"-"`
	// LogFS is the file system under the log; nil means the real one.
	// Tests and benchmarks put a fault seam here.
	LogFS rlog.FS `yaml:"-"`
}

// DefaultConfig returns the defaults; NodeID and DataDir are left to set.
func DefaultConfig() Config {
	h := httpapi.DefaultConfig()
	return Config{
		HTTPAddr:         "127.0.0.1:4001",
		Format:           "row",
		SegmentSize:      rlog.DefaultSegmentSize,
		LogRetainBytes:   1 << 30,
		MaxBatch:         512,
		GroupCommitWait:  200 * time.Microsecond,
		QueueSize:        8192,
		MaxRequestBytes:  h.MaxBodyBytes,
		MaxStatements:    h.MaxStatements,
		ReadConns:        4,
		WriteTimeout:     30 * time.Second,
		SyncMode:         "strict",
		SyncTimeout:      10 * time.Second,
		SyncPoint:        "after_sync",
		MaxSlotLogSize:   4 << 30,
		ForwardWrites:    true,
		Heartbeat:        time.Second,
		MaxLagOnFailover: 1 << 20,
		LeaseDuration:    ha.DefaultConfig().LeaseDuration,
		LeaseMargin:      ha.DefaultConfig().LeaseMargin,
	}
}

// maxGroupCommitWait bounds GroupCommitWait: it is added to a commit's
// latency, so it must stay well below a standby round trip's worth.
const maxGroupCommitWait = 10 * time.Millisecond

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if !nodeIDPattern.MatchString(c.NodeID) {
		errs = append(errs, fmt.Errorf("node id %q: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", c.NodeID))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty: set --data-dir"))
	}
	if _, err := sqlitedb.ParseFormat(c.Format); err != nil {
		errs = append(errs, err)
	}
	if c.SegmentSize < rlog.MinSegmentSize {
		errs = append(errs, fmt.Errorf("segment size %d is below the minimum %d", c.SegmentSize, rlog.MinSegmentSize))
	}
	if c.MaxBatch < 1 || c.QueueSize < 1 || c.ReadConns < 1 {
		errs = append(errs, fmt.Errorf("max batch (%d), queue size (%d) and read connections (%d) must be at least 1", c.MaxBatch, c.QueueSize, c.ReadConns))
	}
	if c.GroupCommitWait < 0 || c.GroupCommitWait > maxGroupCommitWait {
		errs = append(errs, fmt.Errorf("group commit wait %v: use 0 (off) to %v", c.GroupCommitWait, maxGroupCommitWait))
	}
	if c.LogRetainBytes < 0 {
		errs = append(errs, fmt.Errorf("log retain bytes %d is negative", c.LogRetainBytes))
	}
	if _, err := commitwait.Parse(c.SyncStandbys); err != nil {
		errs = append(errs, fmt.Errorf("sync standbys: %w", err))
	}
	if _, err := commitwait.ParseMode(c.SyncMode); err != nil {
		errs = append(errs, fmt.Errorf("sync mode: %w", err))
	}
	if c.SyncPoint != "after_sync" && c.SyncPoint != "after_commit" {
		errs = append(errs, fmt.Errorf("sync point %q: use after_sync or after_commit", c.SyncPoint))
	}
	if (c.ReplAddr != "" || c.Primary != "") && c.ClusterSecret == "" {
		errs = append(errs, errors.New("replication needs --cluster-secret: every node of the cluster must be given the same secret"))
	}
	if c.ApplyDelay < 0 || c.SyncTimeout < 0 || c.Heartbeat <= 0 || c.MaxSlotLogSize < 0 {
		errs = append(errs, fmt.Errorf("apply delay (%v), sync timeout (%v) and max slot log size (%d) must not be negative, heartbeat (%v) must be positive",
			c.ApplyDelay, c.SyncTimeout, c.MaxSlotLogSize, c.Heartbeat))
	}
	if c.RaftAddr != "" {
		errs = append(errs, c.validateHA()...)
	}
	if c.WriteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("write timeout %v must be positive", c.WriteTimeout))
	}
	return errors.Join(errs...)
}

// validateHA checks what a member of an HA cluster needs: addresses the
// other members can dial, a secret, and no fixed upstream.
func (c *Config) validateHA() []error {
	var errs []error
	// What the other members dial: the advertised address if given, else
	// the listen address.
	type addr struct{ flag, addr string }
	var addrs []addr
	for _, a := range [][4]string{{"--raft-addr", c.RaftAddr, "--raft-advertise", c.RaftAdvertise},
		{"--http-addr", c.HTTPAddr, "--http-advertise", c.HTTPAdvertise}, {"--repl-addr", c.ReplAddr, "--repl-advertise", c.ReplAdvertise}} {
		if a[3] != "" {
			addrs = append(addrs, addr{a[2], a[3]})
		} else {
			addrs = append(addrs, addr{a[0], a[1]})
		}
	}
	if c.SourceAddr != "" && net.ParseIP(c.SourceAddr) == nil {
		errs = append(errs, fmt.Errorf("--source-addr %q: want an IP address", c.SourceAddr))
	}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a.addr)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("HA cluster member: %s %q: want HOST:PORT (every member needs its raft, HTTP and replication addresses)", a.flag, a.addr))
		case port == "0" || port == "":
			errs = append(errs, fmt.Errorf("HA cluster member: %s %q: give a fixed port; the other members dial it", a.flag, a.addr))
		case host == "" || net.ParseIP(host).IsUnspecified():
			errs = append(errs, fmt.Errorf("HA cluster member: %s %q: give an address the other members can dial, not a wildcard", a.flag, a.addr))
		}
	}
	if c.Primary != "" {
		errs = append(errs, fmt.Errorf("HA cluster member: --primary %q is not used: the cluster state says who the primary is; drop --primary", c.Primary))
	}
	if c.Bootstrap && c.Join != "" {
		errs = append(errs, errors.New("HA cluster member: --bootstrap starts a new cluster and --join joins an existing one; give one"))
	}
	if c.Bootstrap && c.NonVoter {
		errs = append(errs, errors.New("HA cluster member: the bootstrapping node must be a voter"))
	}
	if c.MaxLagOnFailover < 0 {
		errs = append(errs, fmt.Errorf("max lag on failover %d is negative", c.MaxLagOnFailover))
	}
	if _, err := ha.NewLeaseTimer(c.LeaseDuration, c.LeaseMargin); err != nil {
		errs = append(errs, err)
	}
	return errs
}
