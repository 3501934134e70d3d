package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/bench"
)

const defaultAddr = "127.0.0.1:4001"

// benchCommand is `tandem bench`: a load generator against a node over
// HTTP, or against a plain SQLite file as the baseline.
func benchCommand() *cobra.Command {
	cfg := bench.DefaultConfig()
	var (
		workload string
		addr     string
		target   string
		asJSON   bool
		gcPct    int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Generate load against a node (or a SQLite file) and report tps and latency",
		Long: `Generate load against a Tandem node over its HTTP API, or against a SQLite
file as the baseline (--target sqlite:PATH: WAL, synchronous=FULL, one
transaction per operation), and report transactions per second and
p50/p95/p99 latency.

Workloads, on table bench (id INTEGER PRIMARY KEY, k TEXT, v BLOB(100)):
  insert        one single-row INSERT per transaction
  batch         --batch-size single-row INSERTs per transaction
  point-select  SELECT k, v FROM bench WHERE id = ?, id random in [1, --rows]
  mixed         80% point-select, 20% insert

A run stops after --duration or after --count transactions, whichever comes
first. Setup (creating the table, filling --rows rows) is not timed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("GOGC") == "" {
				// The load generator should cost as little CPU as it can,
				// for either target alike; GOGC in the environment wins.
				debug.SetGCPercent(gcPct)
			}
			cfg.Workload = bench.Workload(workload)
			if err := cfg.Validate(); err != nil {
				return err
			}
			if target != "" && cmd.Flags().Changed("addr") {
				return errors.New("bench: give --addr or --target, not both")
			}
			t, err := openBenchTarget(addr, target, cfg.Clients)
			if err != nil {
				return err
			}
			defer t.Close()

			rep, err := bench.Run(cmd.Context(), cfg, t)
			if err != nil && rep.Clients == 0 {
				return err // the run never started
			}
			stderr := cmd.ErrOrStderr()
			if rep.Errors > 0 {
				fmt.Fprintf(stderr, "bench: %d operations failed; first errors:\n", rep.Errors)
				for _, s := range rep.ErrorSamples {
					fmt.Fprintf(stderr, "  %s\n", s)
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if werr := rep.WriteJSON(out); werr != nil {
					return werr
				}
			} else if werr := rep.WriteText(out); werr != nil {
				return werr
			}
			if err != nil {
				return fmt.Errorf("bench: stopped early: %w", err)
			}
			if rep.Transactions == 0 && rep.Errors > 0 {
				return fmt.Errorf("bench: every operation failed: %s", rep.ErrorSamples[0])
			}
			return nil
		},
	}
	names := make([]string, len(bench.Workloads))
	for i, w := range bench.Workloads {
		names[i] = string(w)
	}
	f := cmd.Flags()
	f.StringVar(&workload, "workload", string(cfg.Workload), "workload: "+strings.Join(names, ", "))
	f.StringVar(&addr, "addr", defaultAddr, "HTTP address of the node (host:port or URL)")
	f.StringVar(&target, "target", "", "run against a SQLite file instead of a node: sqlite:PATH")
	f.IntVar(&cfg.Clients, "clients", cfg.Clients, "concurrent clients")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "stop after this long (0: no time bound)")
	f.Int64Var(&cfg.Count, "count", 0, "stop after this many transactions in total (0: no count bound)")
	f.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "rows per transaction for the batch workload")
	f.Int64Var(&cfg.Rows, "rows", cfg.Rows, "table size for point-select and mixed")
	f.StringVar(&cfg.Commit, "commit", "", "commit level of writes (local, off, remote_write, remote_flush, remote_apply; default: the server's)")
	f.StringVar(&cfg.Level, "level", cfg.Level, "read level of queries (weak, none, strong)")
	f.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: from the clock)")
	f.StringVar(&cfg.HTTPClient, "http-client", cfg.HTTPClient, "HTTP client: raw (lean, the bench's own) or std (net/http and encoding/json, for comparison)")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.IntVar(&gcPct, "gc-percent", 400, "Go GC target percentage of the load generator (GOGC); the GOGC environment variable overrides it")
	return cmd
}

// openBenchTarget opens the SQLite file named by target ("sqlite:PATH"), or
// else the node at addr.
func openBenchTarget(addr, target string, clients int) (bench.Target, error) {
	if target == "" {
		return bench.NewHTTPTarget(addr, clients)
	}
	path, ok := strings.CutPrefix(target, "sqlite:")
	if !ok || path == "" {
		return nil, fmt.Errorf("bench: --target %q: want sqlite:PATH (use --addr for a node)", target)
	}
	return bench.OpenSQLite(path)
}
