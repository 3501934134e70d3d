package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/node"
)

// demoCommand is `tandem demo`: a throwaway node with sample tables, and
// what to try against it.
func demoCommand() *cobra.Command {
	var (
		addr string
		keep bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a throwaway node with sample tables and show what to try",
		Long: `Start a node in a new temporary data directory, create the sample tables
customers and orders with a few rows (written through the log, like any
client write), and print commands to try against it. Ctrl-C stops the node
and removes the directory, unless --keep is given.

If the default HTTP address is busy, the demo takes a free port and says
so; an --http-addr given explicitly must be free.`,
		Example: `  tandem demo
  tandem demo --http-addr 127.0.0.1:5001 --keep`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), addr, cmd.Flags().Changed("http-addr"), keep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "http-addr", defaultAddr, "HTTP API listen address (127.0.0.1:0 for any free port)")
	f.BoolVar(&keep, "keep", false, "keep the data directory on exit")
	return cmd
}

// runDemo runs the demo node until ctx ends. explicit says whether the
// user chose addr, so that a busy port is an error rather than a fallback.
func runDemo(ctx context.Context, out, stderr io.Writer, addr string, explicit, keep bool) (err error) {
	dir, err := os.MkdirTemp("", "tandem-demo-")
	if err != nil {
		return fmt.Errorf("create the demo data directory: %w", err)
	}
	defer func() {
		if keep {
			fmt.Fprintf(out, "data dir kept: %s (run it again: tandem serve --node-id demo --data-dir %s)\n", dir, dir)
			return
		}
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the demo data directory: %w", rerr))
		}
	}()

	n, busy, err := openDemoNode(dir, addr, explicit, stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.Close()) }()
	if err := loadSampleData(ctx, n); err != nil {
		return err
	}
	printDemo(out, n.HTTPAddr(), dir, busy, keep)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping the demo node")
	return nil
}

// openDemoNode opens the node, falling back to a free port when addr is
// busy and was not chosen by the user; busy is then the address it wanted.
func openDemoNode(dir, addr string, explicit bool, stderr io.Writer) (n *node.Node, busy string, err error) {
	cfg := node.DefaultConfig()
	cfg.NodeID = "demo"
	cfg.DataDir = dir
	cfg.HTTPAddr = addr
	// Only problems: the demo's own output says what is running where.
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err = node.Open(cfg)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		return n, "", err
	}
	if explicit {
		return nil, "", fmt.Errorf("%s is already in use (another tandem node?): choose another address with --http-addr, "+
			"or --http-addr 127.0.0.1:0 for any free port", addr)
	}
	host, _, serr := net.SplitHostPort(addr)
	if serr != nil {
		return nil, "", err
	}
	cfg.HTTPAddr = net.JoinHostPort(host, "0")
	if n, err = node.Open(cfg); err != nil {
		return nil, "", err
	}
	return n, addr, nil
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

// printDemo says what runs where and what to try, in at most 25 lines.
func printDemo(w io.Writer, addr, dir, busy string, keep bool) {
	url := "http://" + addr
	onExit := "removed on exit; --keep keeps it"
	if keep {
		onExit = "kept on exit"
	}
	fmt.Fprintln(w, "Tandem demo node is running.")
	if busy != "" {
		fmt.Fprintf(w, "  (%s is busy, so it took a free port; choose one with --http-addr)\n", busy)
	}
	fmt.Fprintf(w, "  HTTP API  %s\n", url)
	fmt.Fprintf(w, "  data dir  %s (%s)\n", dir, onExit)
	fmt.Fprintln(w, "  tables    customers (id, name, email): 3 rows")
	fmt.Fprintln(w, "            orders (id, customer_id, item, amount): 4 rows")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Try:")
	fmt.Fprintf(w, "  curl -s -XPOST %s/db/execute -H 'Content-Type: application/json' \\\n", url)
	fmt.Fprintln(w, `      -d '[["INSERT INTO orders (customer_id, item, amount) VALUES (?, ?, ?)", 2, "lamp", 19.5]]'`)
	fmt.Fprintf(w, "  curl -s -G '%s/db/query?pretty' --data-urlencode \\\n", url)
	fmt.Fprintln(w, `      'q=SELECT c.name, count(*) AS n, sum(o.amount) AS total FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id'`)
	fmt.Fprintf(w, "  curl -s '%s/status?pretty'\n", url)
	fmt.Fprintf(w, "  tandem sql --addr %s \"SELECT * FROM customers\" \"UPDATE orders SET amount = 20 WHERE id = 1\"\n", addr)
	fmt.Fprintf(w, "  tandem bench --addr %s --workload insert --duration 5s\n", addr)
	fmt.Fprintf(w, "  tandem log inspect %s\n", dir)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}
