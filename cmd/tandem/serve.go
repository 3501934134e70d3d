package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/tandem-db/tandem/node"
	"gopkg.in/yaml.v3"
)

func serveCommand() *cobra.Command {
	var configPath, logLevel, cpuProfile string
	var gcPercent int
	flags := node.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Tandem node",
		Long: `Run a Tandem node: a SQLite database behind an rqlite-compatible HTTP API,
with every transaction written first to a durable replication log.

Settings come from --config (YAML, keys as the flag names) and then from
flags, which override the file.`,
		Example: `  tandem serve --node-id n1 --data-dir /var/lib/tandem/n1 --http-addr 127.0.0.1:4001
  tandem serve --config /etc/tandem/n1.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath, cmd.Flags(), &flags)
			if err != nil {
				return err
			}
			cfg.Logger, err = newLogger(logLevel)
			if err != nil {
				return err
			}
			if os.Getenv("GOGC") == "" {
				// A database server trades memory for CPU: fewer garbage
				// collections on the write path (about 10% more throughput
				// measured with tandem bench). GOGC in the environment wins.
				debug.SetGCPercent(gcPercent)
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			for {
				n, err := node.Open(cfg)
				if err != nil {
					return err
				}
				cfg.Logger.Info("node started", "data_dir", cfg.DataDir, "http_addr", n.HTTPAddr(), "repl_addr", n.ReplAddr(), "format", cfg.Format)
				select {
				case <-cmd.Context().Done():
					cfg.Logger.Info("shutting down")
					return n.Close()
				case <-n.RestartRequested():
					// The node set its copy aside to re-seed: reopen it.
					cfg.Logger.Warn("restarting the node", "reason", n.RestartReason())
					if err := n.Close(); err != nil {
						cfg.Logger.Warn("close before the restart", "err", err)
					}
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "YAML config file; flags override it")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a Go CPU profile of the whole run to this file")
	f.IntVar(&gcPercent, "gc-percent", 400, "Go GC target percentage (GOGC); the GOGC environment variable overrides it")
	f.StringVar(&flags.NodeID, "node-id", "", "this node's name (stored in the data dir on first start)")
	f.StringVar(&flags.DataDir, "data-dir", "", "directory for the node's log and database")
	f.StringVar(&flags.HTTPAddr, "http-addr", flags.HTTPAddr, "HTTP API listen address")
	f.StringVar(&flags.Format, "format", flags.Format, "log payload format: row, statement or mixed")
	f.Int64Var(&flags.SegmentSize, "segment-size", flags.SegmentSize, "log segment file size in bytes")
	f.Int64Var(&flags.LogRetainBytes, "log-retain-bytes", flags.LogRetainBytes, "bytes of applied log to keep")
	f.IntVar(&flags.MaxBatch, "max-batch", flags.MaxBatch, "most transactions per group commit")
	f.DurationVar(&flags.GroupCommitWait, "group-commit-wait", flags.GroupCommitWait, "how long a commit that waits for standbys first waits for the clients the previous one answered, so that they share its fsyncs and round trip (0: off)")
	f.IntVar(&flags.QueueSize, "queue-size", flags.QueueSize, "write requests that may wait for the writer")
	f.Int64Var(&flags.MaxRequestBytes, "max-request-size", flags.MaxRequestBytes, "largest HTTP request body in bytes")
	f.IntVar(&flags.MaxStatements, "max-statements", flags.MaxStatements, "most statements in one request")
	f.IntVar(&flags.ReadConns, "read-conns", flags.ReadConns, "read-only SQLite connections")
	f.DurationVar(&flags.WriteTimeout, "write-timeout", flags.WriteTimeout, "how long a write may wait for its commit")
	f.StringVar(&flags.ReplAddr, "repl-addr", "", "replication listen address (serve the log to replicas)")
	f.StringVar(&flags.Primary, "primary", "", "upstream replication address: makes this node a replica (the upstream may be a replica: cascading)")
	f.StringVar(&flags.ClusterSecret, "cluster-secret", "", "shared secret that authenticates replication connections (16 bytes or more)")
	f.BoolVar(&flags.Compression, "compression", false, "compress replication traffic with zstd (when both ends agree)")
	f.StringVar(&flags.SyncStandbys, "sync-standbys", "", `standbys whose acks count: "FIRST k (n2,n3)" or "ANY k (n2,n3)"`)
	f.StringVar(&flags.SyncMode, "sync-mode", flags.SyncMode, "strict (wait, then fail) or fallback (degrade to async after --sync-timeout)")
	f.DurationVar(&flags.SyncTimeout, "sync-timeout", flags.SyncTimeout, "how long a commit waits for its standbys")
	f.StringVar(&flags.SyncPoint, "sync-point", flags.SyncPoint, "after_sync (visible once acked) or after_commit (visible at once)")
	f.DurationVar(&flags.ApplyDelay, "apply-delay", 0, "delayed standby: apply records this long after their commit")
	f.Int64Var(&flags.MaxSlotLogSize, "max-slot-log-size", flags.MaxSlotLogSize, "bytes of log a replica's slot may hold before it is marked lost (the log kept can exceed it by up to a second of writes: slots are saved, and their holds moved, once a second)")
	f.BoolVar(&flags.ForwardWrites, "forward-writes", flags.ForwardWrites, "replica: forward writes and weak/strong reads to the primary (else refuse them)")
	f.DurationVar(&flags.Heartbeat, "heartbeat", flags.Heartbeat, "replication heartbeat interval")
	f.StringVar(&flags.RaftAddr, "raft-addr", "", "HA: raft address of this member of the cluster state (enables automatic failover; the role then comes from the cluster)")
	f.BoolVar(&flags.Bootstrap, "bootstrap", false, "HA: start a new cluster with this node as its first member and primary")
	f.StringVar(&flags.Join, "join", "", "HA: HTTP address of any member of the cluster to join")
	f.BoolVar(&flags.NonVoter, "non-voter", false, "HA: join without a raft vote (a read replica; still promotable unless --nofailover)")
	f.IntVar(&flags.Priority, "priority", 0, "HA: failover priority among equally up-to-date candidates (larger wins)")
	f.BoolVar(&flags.NoFailover, "nofailover", false, "HA: never promote this node automatically")
	f.Int64Var(&flags.MaxLagOnFailover, "max-lag-on-failover", flags.MaxLagOnFailover, "HA, async commit: bytes a failover candidate may lag the old primary")
	f.StringVar(&flags.RaftAdvertise, "raft-advertise", "", "HA: raft address the other members dial, if not --raft-addr")
	f.StringVar(&flags.HTTPAdvertise, "http-advertise", "", "HA: HTTP address the other members dial, if not --http-addr")
	f.StringVar(&flags.ReplAdvertise, "repl-advertise", "", "HA: replication address the other members dial, if not --repl-addr")
	f.StringVar(&flags.SourceAddr, "source-addr", "", "local IP to dial other nodes from (default: the system's choice)")
	f.DurationVar(&flags.ClockOffset, "clock-offset", 0, "testing: shift this node's wall clock (HLC, cluster command times) by this much, to simulate clock skew")
	f.DurationVar(&flags.LeaseDuration, "lease-duration", flags.LeaseDuration, "HA: the primary's lease; a dead primary is replaced after it expires")
	f.DurationVar(&flags.LeaseMargin, "lease-margin", flags.LeaseMargin, "HA: the primary stops writing this long before its lease ends (must exceed clock offsets)")
	return cmd
}

// loadConfig reads the YAML file, if any, then applies the flags the user
// set, so flags override the file and the file overrides the defaults.
func loadConfig(path string, fs *pflag.FlagSet, flags *node.Config) (node.Config, error) {
	cfg := node.DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	set := map[string]func(){
		"node-id":             func() { cfg.NodeID = flags.NodeID },
		"data-dir":            func() { cfg.DataDir = flags.DataDir },
		"http-addr":           func() { cfg.HTTPAddr = flags.HTTPAddr },
		"format":              func() { cfg.Format = flags.Format },
		"segment-size":        func() { cfg.SegmentSize = flags.SegmentSize },
		"log-retain-bytes":    func() { cfg.LogRetainBytes = flags.LogRetainBytes },
		"max-batch":           func() { cfg.MaxBatch = flags.MaxBatch },
		"group-commit-wait":   func() { cfg.GroupCommitWait = flags.GroupCommitWait },
		"queue-size":          func() { cfg.QueueSize = flags.QueueSize },
		"max-request-size":    func() { cfg.MaxRequestBytes = flags.MaxRequestBytes },
		"max-statements":      func() { cfg.MaxStatements = flags.MaxStatements },
		"read-conns":          func() { cfg.ReadConns = flags.ReadConns },
		"write-timeout":       func() { cfg.WriteTimeout = flags.WriteTimeout },
		"repl-addr":           func() { cfg.ReplAddr = flags.ReplAddr },
		"primary":             func() { cfg.Primary = flags.Primary },
		"cluster-secret":      func() { cfg.ClusterSecret = flags.ClusterSecret },
		"compression":         func() { cfg.Compression = flags.Compression },
		"sync-standbys":       func() { cfg.SyncStandbys = flags.SyncStandbys },
		"sync-mode":           func() { cfg.SyncMode = flags.SyncMode },
		"sync-timeout":        func() { cfg.SyncTimeout = flags.SyncTimeout },
		"sync-point":          func() { cfg.SyncPoint = flags.SyncPoint },
		"apply-delay":         func() { cfg.ApplyDelay = flags.ApplyDelay },
		"max-slot-log-size":   func() { cfg.MaxSlotLogSize = flags.MaxSlotLogSize },
		"forward-writes":      func() { cfg.ForwardWrites = flags.ForwardWrites },
		"heartbeat":           func() { cfg.Heartbeat = flags.Heartbeat },
		"raft-addr":           func() { cfg.RaftAddr = flags.RaftAddr },
		"bootstrap":           func() { cfg.Bootstrap = flags.Bootstrap },
		"join":                func() { cfg.Join = flags.Join },
		"non-voter":           func() { cfg.NonVoter = flags.NonVoter },
		"priority":            func() { cfg.Priority = flags.Priority },
		"nofailover":          func() { cfg.NoFailover = flags.NoFailover },
		"max-lag-on-failover": func() { cfg.MaxLagOnFailover = flags.MaxLagOnFailover },
		"raft-advertise":      func() { cfg.RaftAdvertise = flags.RaftAdvertise },
		"http-advertise":      func() { cfg.HTTPAdvertise = flags.HTTPAdvertise },
		"repl-advertise":      func() { cfg.ReplAdvertise = flags.ReplAdvertise },
		"source-addr":         func() { cfg.SourceAddr = flags.SourceAddr },
		"clock-offset":        func() { cfg.ClockOffset = flags.ClockOffset },
		"lease-duration":      func() { cfg.LeaseDuration = flags.LeaseDuration },
		"lease-margin":        func() { cfg.LeaseMargin = flags.LeaseMargin },
	}
	fs.Visit(func(f *pflag.Flag) {
		if apply, ok := set[f.Name]; ok {
			apply()
		}
	})
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, nil
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// newLogger returns the process's logger: text on stderr, times in UTC.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		// Only the record's own time: raft logs a duration named "time".
		if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
			a.Value = slog.StringValue(a.Value.Time().UTC().Format(time.RFC3339Nano))
		}
		return a
	}})
	return slog.New(h), nil
}
