package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/crashtest"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/node"
)

// demoCommand is `tandem demo`: a throwaway primary and two replicas in
// one process, with sample tables, and what to try against them.
func demoCommand() *cobra.Command {
	var (
		addr   string
		keep   bool
		withHA bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a throwaway primary and two replicas with sample tables and show what to try",
		Long: `Start a primary and two streaming replicas (r1, r2) in one process, each in
a new temporary data directory. The primary waits for either replica to
flush a transaction that asks for it (sync standbys "ANY 1 (r1,r2)"). The
demo creates the sample tables customers and orders, runs a short write
workload at commit=remote_flush, waits until both replicas have applied
it, prints the primary's replication status and commands to try. Ctrl-C
stops the nodes and removes the directories, unless --keep is given.

--http-addr is the primary's HTTP address; the replicas take free ports.
If the default address is busy, the primary takes a free port too and the
demo says so; an --http-addr given explicitly must be free.

--ha makes the three nodes one HA cluster with automatic failover: the
primary bootstraps it, the replicas join it, and the roles come from the
cluster state; try tandem cluster members and tandem switchover.`,
		Example: `  tandem demo
  tandem demo --ha
  tandem demo --http-addr 127.0.0.1:5001 --keep`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), demoOptions{addr: addr, explicit: cmd.Flags().Changed("http-addr"), keep: keep, ha: withHA})
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "http-addr", defaultAddr, "the primary's HTTP API listen address (127.0.0.1:0 for any free port)")
	f.BoolVar(&keep, "keep", false, "keep the data directories on exit")
	f.BoolVar(&withHA, "ha", false, "run the three nodes as an HA cluster with automatic failover")
	return cmd
}

// The demo cluster's names and workload.
const (
	demoSyncStandbys = "ANY 1 (r1,r2)"
	demoInserts      = 200                   // rows the workload adds to orders
	demoPace         = 10 * time.Millisecond // at most one insert per pace: ~2 s
	demoWaitTimeout  = 30 * time.Second      // for the replicas to catch up
)

var demoReplicas = []string{"r1", "r2"}

// demoOptions are the demo's flags. explicit says whether the user chose
// addr, so that a busy port is an error rather than a fallback.
type demoOptions struct {
	addr           string
	explicit, keep bool
	ha             bool
}

// runDemo runs the demo cluster until ctx ends.
func runDemo(ctx context.Context, out, stderr io.Writer, o demoOptions) (err error) {
	addr, explicit, keep := o.addr, o.explicit, o.keep
	dir, err := os.MkdirTemp("", "tandem-demo-")
	if err != nil {
		return fmt.Errorf("create the demo data directory: %w", err)
	}
	secret := rand.Text() // 26 random base32 characters: 130 bits
	defer func() {
		if keep {
			fmt.Fprintf(out, "data dirs kept: %s/{primary,r1,r2}; to restart the primary:\n"+
				"  tandem serve --node-id primary --data-dir %s --repl-addr 127.0.0.1:5001 --cluster-secret %s\n"+
				"and each replica with --node-id r1 --data-dir %s --http-addr 127.0.0.1:4002 --primary 127.0.0.1:5001 and the same secret\n",
				dir, filepath.Join(dir, "primary"), secret, filepath.Join(dir, "r1"))
			return
		}
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the demo data directory: %w", rerr))
		}
	}()

	c, busy, err := openDemoCluster(dir, addr, secret, explicit, o.ha, stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.close()) }()
	err = c.setUp(ctx)
	if ctx.Err() != nil {
		return nil // Ctrl-C while setting up
	}
	if err != nil {
		return err
	}
	if err := printDemo(ctx, out, c, dir, busy, keep); err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(out, "stopping the demo cluster")
	return nil
}

// freeLoopback returns a loopback address whose port was free a moment
// ago (HA members need fixed ports).
func freeLoopback() string {
	addr, err := crashtest.FreeAddr()
	if err != nil {
		return "127.0.0.1:0" // node.Open then says what is wrong
	}
	return addr
}

// fixedDemoAddr returns addr when it is free (or explicit: node.Open then
// reports it busy), else a free port; busy is the address it wanted.
func fixedDemoAddr(addr string, explicit bool) (string, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		a := ln.Addr().String()
		ln.Close()
		return a, "", nil
	}
	if explicit {
		return "", "", fmt.Errorf("--http-addr %s is not free (%v)", addr, err)
	}
	return freeLoopback(), addr, nil
}

// demoCluster is the demo's primary and replicas.
type demoCluster struct {
	ha       bool // an HA cluster
	primary  *node.Node
	replicas []*node.Node
	inserted int           // rows the workload added
	took     time.Duration // how long the workload ran
}

// openDemoCluster opens the primary, falling back to a free port when addr
// is busy and was not chosen by the user (busy is then the address it
// wanted), and the replicas, which seed themselves from it.
func openDemoCluster(dir, addr, secret string, explicit, withHA bool, stderr io.Writer) (c *demoCluster, busy string, err error) {
	// Only problems: the demo's own output says what is running where.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := node.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.HTTPAddr, cfg.Logger = "primary", filepath.Join(dir, "primary"), addr, logger
	cfg.ReplAddr, cfg.ClusterSecret, cfg.SyncStandbys = "127.0.0.1:0", secret, demoSyncStandbys
	c = &demoCluster{ha: withHA}
	if withHA {
		// Members dial each other at fixed addresses.
		if cfg.HTTPAddr, busy, err = fixedDemoAddr(cfg.HTTPAddr, explicit); err != nil {
			return nil, "", err
		}
		cfg.ReplAddr, cfg.RaftAddr, cfg.Bootstrap = freeLoopback(), freeLoopback(), true
	}
	var fellBack string
	if c.primary, fellBack, err = openDemoPrimary(cfg, explicit || withHA); err != nil {
		return nil, "", err
	}
	busy = cmp.Or(busy, fellBack)
	for _, name := range demoReplicas {
		rc := node.DefaultConfig()
		rc.NodeID, rc.DataDir, rc.HTTPAddr, rc.Logger = name, filepath.Join(dir, name), "127.0.0.1:0", logger
		rc.Primary, rc.ClusterSecret = c.primary.ReplAddr(), secret
		if withHA {
			rc.Primary, rc.Join = "", c.primary.HTTPAddr()
			rc.HTTPAddr, rc.ReplAddr, rc.RaftAddr = freeLoopback(), freeLoopback(), freeLoopback()
		}
		r, err := node.Open(rc)
		if err != nil {
			return nil, "", errors.Join(fmt.Errorf("open replica %s: %w", name, err), c.close())
		}
		c.replicas = append(c.replicas, r)
	}
	return c, busy, nil
}

// openDemoPrimary opens the primary on cfg.HTTPAddr, or on a free port of
// the same host when that is busy and not explicit.
func openDemoPrimary(cfg node.Config, explicit bool) (n *node.Node, busy string, err error) {
	n, err = node.Open(cfg)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		return n, "", err
	}
	if explicit {
		return nil, "", fmt.Errorf("%s is already in use (another tandem node?): choose another address with --http-addr, "+
			"or --http-addr 127.0.0.1:0 for any free port", cfg.HTTPAddr)
	}
	host, _, serr := net.SplitHostPort(cfg.HTTPAddr)
	if serr != nil {
		return nil, "", err
	}
	busy, cfg.HTTPAddr = cfg.HTTPAddr, net.JoinHostPort(host, "0")
	if n, err = node.Open(cfg); err != nil {
		return nil, "", err
	}
	return n, busy, nil
}

// close stops the replicas before the primary, so that none of them
// reports its upstream gone.
func (c *demoCluster) close() error {
	var errs []error
	for _, r := range c.replicas {
		errs = append(errs, r.Close())
	}
	if c.primary != nil {
		errs = append(errs, c.primary.Close())
	}
	return errors.Join(errs...)
}

// setUp loads the sample data, waits for the replicas to have it (so
// they are seeded and streaming), runs the workload and waits again.
func (c *demoCluster) setUp(ctx context.Context) error {
	if err := loadSampleData(ctx, c.primary); err != nil {
		return err
	}
	if err := c.waitConverged(ctx); err != nil {
		return err
	}
	if err := c.runWorkload(ctx); err != nil {
		return err
	}
	return c.waitConverged(ctx)
}

// runWorkload inserts demoInserts orders, each committed at remote_flush:
// acknowledged once the primary and one replica have it on disk.
func (c *demoCluster) runWorkload(ctx context.Context) error {
	start := time.Now()
	tick := time.NewTicker(demoPace)
	defer tick.Stop()
	for i := range demoInserts {
		req := &command.ExecuteRequest{Commit: command.CommitRemoteFlush, Statements: []command.Statement{{
			SQL:  "INSERT INTO orders (customer_id, item, amount) VALUES (?, ?, ?)",
			Args: []any{int64(i%3 + 1), fmt.Sprintf("widget %d", i+1), 1.0}}}}
		resp, err := c.primary.Execute(ctx, req)
		if err == nil && len(resp.Results) == 1 && resp.Results[0].Error != "" {
			err = errors.New(resp.Results[0].Error)
		}
		if err != nil {
			return fmt.Errorf("demo workload, insert %d of %d at commit=remote_flush: %w", i+1, demoInserts, err)
		}
		c.inserted++
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.took = time.Since(start)
	return nil
}

// waitConverged waits until every replica has applied the primary's end,
// polling their status, for at most demoWaitTimeout.
func (c *demoCluster) waitConverged(ctx context.Context) error {
	end := c.primary.AppliedLSN()
	deadline := time.NewTimer(demoWaitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		behind, err := c.behind(ctx, end)
		if err != nil || behind == "" {
			return err
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return fmt.Errorf("the replicas did not catch up with the primary within %v: %s", demoWaitTimeout, behind)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// behind describes the first replica that has not applied end, or is "".
func (c *demoCluster) behind(ctx context.Context, end lsn.LSN) (string, error) {
	for _, r := range c.replicas {
		v, err := r.Status(ctx)
		if err != nil {
			return "", fmt.Errorf("status of replica %s: %w", r.ID(), err)
		}
		st, ok := v.(*node.Status)
		if !ok {
			return "", fmt.Errorf("status of replica %s: unexpected %T", r.ID(), v)
		}
		switch {
		case st.Node.Error != "":
			return "", fmt.Errorf("replica %s failed: %s", r.ID(), st.Node.Error)
		case !st.Node.Ready:
			return fmt.Sprintf("replica %s is still seeding", r.ID()), nil
		case st.Upstream != nil && st.Upstream.Stopped:
			return "", fmt.Errorf("replica %s stopped applying: %s", r.ID(), st.Upstream.Error)
		case st.DB.AppliedLSN < end:
			return fmt.Sprintf("replica %s applied %s of %s", r.ID(), st.DB.AppliedLSN, end), nil
		}
	}
	return "", nil
}

// sampleData is the demo's schema and rows: one DDL transaction, one that
// fills both tables and one update, so the log shows every kind of change.
var sampleData = [][]command.Statement{
	{
		{SQL: "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT)"},
		{SQL: "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), item TEXT NOT NULL, amount REAL NOT NULL)"},
	},
	{
		{SQL: "INSERT INTO customers (id, name, email) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?)", Args: []any{
			int64(1), "Ada Lovelace", "ada@example.com",
			int64(2), "Grace Hopper", "grace@example.com",
			int64(3), "Edsger Dijkstra", "edsger@example.com"}},
		{SQL: "INSERT INTO orders (id, customer_id, item, amount) VALUES (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)", Args: []any{
			int64(1), int64(1), "notebook", 12.5,
			int64(2), int64(1), "pen", 2.25,
			int64(3), int64(2), "compiler manual", 48.0,
			int64(4), int64(3), "chalk", 3.75}},
	},
	{
		{SQL: "UPDATE customers SET email = ? WHERE id = ?", Args: []any{"grace@navy.example", int64(2)}},
	},
}

// loadSampleData writes sampleData through the node's write path.
func loadSampleData(ctx context.Context, n *node.Node) error {
	for _, stmts := range sampleData {
		resp, err := n.Execute(ctx, &command.ExecuteRequest{Statements: stmts, Transaction: true})
		if err != nil {
			return fmt.Errorf("load the sample data: %w", err)
		}
		for i, r := range resp.Results {
			if r.Error != "" {
				return fmt.Errorf("load the sample data: %q: %s", stmts[i].SQL, r.Error)
			}
		}
	}
	return nil
}

// printDemo says what runs where, shows the primary's replication status
// and what to try, in about 35 lines.
func printDemo(ctx context.Context, w io.Writer, c *demoCluster, dir, busy string, keep bool) error {
	v, err := c.primary.Status(ctx)
	if err != nil {
		return fmt.Errorf("status of the primary: %w", err)
	}
	var st statusDoc
	b, err := json.Marshal(v) // the document GET /status serves
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		return fmt.Errorf("status of the primary: %w", err)
	}

	p, r1, r2 := c.primary.HTTPAddr(), c.replicas[0].HTTPAddr(), c.replicas[1].HTTPAddr()
	onExit := "removed on exit; --keep keeps them"
	if keep {
		onExit = "kept on exit"
	}
	if c.ha {
		fmt.Fprintln(w, "Tandem demo cluster is running: an HA cluster of a primary and two streaming replicas, with automatic failover.")
	} else {
		fmt.Fprintln(w, "Tandem demo cluster is running: a primary and two streaming replicas.")
	}
	if busy != "" {
		fmt.Fprintf(w, "  (%s is busy, so the primary took a free port; choose one with --http-addr)\n", busy)
	}
	fmt.Fprintf(w, "  primary   http://%s  (replication %s, sync standbys %s)\n", p, c.primary.ReplAddr(), demoSyncStandbys)
	fmt.Fprintf(w, "  r1, r2    http://%s  http://%s\n", r1, r2)
	fmt.Fprintf(w, "  data dirs %s/{primary,r1,r2} (%s)\n", dir, onExit)
	fmt.Fprintf(w, "  tables    customers (id, name, email): 3 rows; orders (id, customer_id, item, amount): %d rows\n", 4+c.inserted)
	fmt.Fprintf(w, "  workload  %d inserts at commit=remote_flush in %s; both replicas applied them\n",
		c.inserted, c.took.Round(100*time.Millisecond))
	fmt.Fprintln(w)
	printStatus(w, &st, p, time.Now())
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Try:")
	fmt.Fprintf(w, "  curl -s -XPOST http://%s/db/execute -H 'Content-Type: application/json' \\\n", p)
	fmt.Fprintln(w, `      -d '[["INSERT INTO orders (customer_id, item, amount) VALUES (?, ?, ?)", 2, "lamp", 19.5]]'`)
	fmt.Fprintf(w, "  curl -s -G 'http://%s/db/query?level=none&pretty' --data-urlencode 'q=SELECT count(*), sum(amount) FROM orders'\n", r1)
	fmt.Fprintf(w, "  curl -s -XPOST 'http://%s/db/execute?commit=remote_apply' -H 'Content-Type: application/json' \\\n", r2)
	fmt.Fprintln(w, `      -d '[["INSERT INTO customers (name) VALUES (?)", "Barbara Liskov"]]'   # forwarded to the primary`)
	fmt.Fprintf(w, "  tandem status --addr %s      (and --addr %s for a replica's view)\n", p, r1)
	fmt.Fprintf(w, "  tandem bench --addr %s --commit remote_flush --duration 5s\n", p)
	fmt.Fprintf(w, "  tandem log inspect %s\n", filepath.Join(dir, "primary"))
	if c.ha {
		fmt.Fprintf(w, "  tandem cluster members --addr %s\n", p)
		fmt.Fprintf(w, "  tandem switchover --addr %s --to r1      (then tandem status --addr %s)\n", p, r1)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
	return nil
}
