package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/chaos"
)

// chaosCommand is `tandem chaos run`: the fault-injection harness.
func chaosCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Fault-injection tests of a Tandem cluster (Jepsen-style)",
	}
	cmd.AddCommand(chaosRunCommand())
	return cmd
}

func chaosRunCommand() *cobra.Command {
	cfg := chaos.DefaultConfig()
	var faults string
	var seed int64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a workload on a local cluster under seeded faults and check what it promised",
		Long: `Start a cluster of this binary's ` + "`tandem serve`" + ` processes on loopback (n1 the
primary, the others its replicas, with --sync-standbys "ANY 1 (...)" at
commit remote_write or stronger), put a fault-injecting proxy on every
replication link and every client link, run a workload (register, bank or
set) through the proxies while a seeded schedule kills, pauses, partitions,
delays, stalls and cuts, and corrupts or fills disks, then heal, let the
cluster settle and check: no acknowledged write lost, every node converged,
the register linearizable, the bank's total constant, one primary per term,
and a flipped byte in a closed log segment detected and never served.

With --ha the nodes are members of one HA cluster instead (n1 bootstraps it,
the others join; automatic failover): every listener of every node (raft,
replication, and the HTTP address the members call each other on) has a
proxy, each node dials from its own loopback IP (127.0.0.11, 127.0.0.12, ...),
so a partition can cut chosen nodes from each other while the workload's
clients still reach them. Kills, pauses and partitions then often hit the
primary of the moment; clients send to any node and move on after an error;
and the checkers follow the primary across failovers: no acknowledged write
lost at remote_flush (a weaker one only if a rewind listed it in a
lost-transactions file), convergence under one primary, and never two nodes
that may write in one term or at one moment (may_write in /status).

The schedule is printed first; the same --seed gives the same schedule. The
command exits 0 only when every checker passes. Faults this binary or
machine cannot inject (clock skew: a serve without --clock-offset; a full
disk: needs root for a tmpfs data dir) are reported as skipped.`,
		Example: `  tandem chaos run --workload register --faults kill,partition,pause --duration 60s --seed 7
  tandem chaos run --ha --workload set --faults kill,partition,pause --commit remote_flush --duration 60s --seed 7
  tandem chaos run --workload bank --commit remote_apply --faults all --out /tmp/chaos --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Faults, err = chaos.ParseFaults(faults); err != nil {
				return err
			}
			if !cmd.Flags().Changed("seed") {
				seed = time.Now().UnixNano() & (1<<31 - 1)
			}
			cfg.Seed = uint64(seed)
			if cfg.Binary, err = os.Executable(); err != nil {
				return fmt.Errorf("find this binary: %w", err)
			}
			out := cmd.OutOrStdout()
			cfg.Log = out
			if asJSON {
				cfg.Log = cmd.ErrOrStderr()
			}
			res, err := chaos.Run(cmd.Context(), cfg)
			if res != nil {
				if perr := printChaos(out, res, asJSON); perr != nil {
					return perr
				}
			}
			if errors.Is(err, chaos.ErrFailed) {
				return fmt.Errorf("chaos run with seed %d failed a checker", cfg.Seed)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "cluster size: n1 is the primary, the rest its replicas")
	f.BoolVar(&cfg.HA, "ha", false, "run the nodes as one HA cluster (automatic failover) with a proxy on every listener and partitions between chosen nodes")
	f.StringVar(&cfg.Workload, "workload", cfg.Workload, "register, bank or set")
	f.StringVar(&faults, "faults", "kill,partition,pause,skew,disk", "fault kinds: kill,pause,partition,latency,stall,cut,skew,disk, all or none")
	f.StringVar(&cfg.Commit, "commit", cfg.Commit, "commit level of every write: off, local, remote_write, remote_flush or remote_apply")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the workload runs")
	f.Int64Var(&seed, "seed", 0, "seed of the schedule and the workload (default: from the clock, printed)")
	f.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "client workers")
	f.IntVar(&cfg.Rate, "rate", cfg.Rate, "most operations per second per worker")
	f.DurationVar(&cfg.OpTimeout, "op-timeout", cfg.OpTimeout, "timeout of one client request")
	f.DurationVar(&cfg.SyncTimeout, "sync-timeout", cfg.SyncTimeout, "the primary's --sync-timeout")
	f.StringVar(&cfg.Dir, "data-dir", "", "parent of the nodes' data dirs (default: a temporary dir, removed afterwards)")
	f.StringVar(&cfg.Out, "out", "", "write result.json, summary.txt, timeline.svg, history.jsonl, lost-transactions.json and node logs here")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON (progress goes to stderr)")
	return cmd
}

func printChaos(w io.Writer, res *chaos.Result, asJSON bool) error {
	if !asJSON {
		_, err := io.WriteString(w, res.Summary())
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
