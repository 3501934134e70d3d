package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/client"
)

// notifyBuffer is an output buffer that is safe to read while a command
// writes to it, and that signals every write.
type notifyBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // receives after a write; buffered, never blocks
}

func newNotifyBuffer() *notifyBuffer {
	return &notifyBuffer{written: make(chan struct{}, 1)}
}

func (b *notifyBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	b.mu.Unlock()
	select {
	case b.written <- struct{}{}:
	default:
	}
	return n, err
}

func (b *notifyBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the output contains s, or fails the test at deadline.
func (b *notifyBuffer) waitFor(t *testing.T, s string, deadline <-chan time.Time) string {
	t.Helper()
	for {
		if out := b.String(); strings.Contains(out, s) {
			return out
		}
		select {
		case <-b.written:
		case <-deadline:
			t.Fatalf("timed out waiting for %q; output so far:\n%s", s, b.String())
		}
	}
}

// startDemo runs `tandem demo args...` under ctx in the background; done
// receives what the command returned.
func startDemo(ctx context.Context, args ...string) (cmd *cobra.Command, out, stderr *notifyBuffer, done chan error) {
	out, stderr = newNotifyBuffer(), newNotifyBuffer()
	cmd = demoCommand()
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(stderr)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	done = make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	return cmd, out, stderr, done
}

func TestDemoCommand_Run(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where os.MkdirTemp puts the demo's data dirs

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, out, stderr, done := startDemo(ctx, "--http-addr", "127.0.0.1:0")

	deadline := time.After(60 * time.Second)
	text := out.waitFor(t, "Press Ctrl-C to stop.", deadline)
	if n := strings.Count(text, "\n"); n > 35 {
		t.Errorf("the demo prints %d lines, want at most 35:\n%s", n, text)
	}
	m := regexp.MustCompile(`primary   http://(\S+) .*\n\s+r1, r2    http://(\S+)  http://(\S+)\n\s+data dirs (\S+)/\{primary,r1,r2\} `).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no addresses or data dir in the output:\n%s", text)
	}
	primary, replicas, dir := m[1], m[2:4], m[4]
	if !strings.HasPrefix(dir, tmp) {
		t.Errorf("data dir %s is not under TMPDIR %s", dir, tmp)
	}
	for _, want := range []string{
		"orders (id, customer_id, item, amount): 204 rows",
		"200 inserts at commit=remote_flush",
		"node primary: primary, term 1, ready",
		"sync standbys: ANY 1 (r1,r2), mode strict",
		"\n r1   | streaming | quorum",
		"\n r2   | streaming | quorum",
		"curl -s -XPOST http://" + primary + "/db/execute",
		"http://" + replicas[0] + "/db/query?level=none",
		"http://" + replicas[1] + "/db/execute",
		"tandem status --addr " + primary,
		"tandem bench --addr " + primary + " --commit remote_flush",
		"tandem log inspect " + dir + "/primary",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}

	// Both replicas converged: their own data, read locally, holds the
	// sample rows and the workload's.
	for _, addr := range replicas {
		checkDemoRows(ctx, t, addr, "none")
	}
	// A write sent to a replica is forwarded to the primary; at
	// remote_apply it is also visible on one replica when it returns.
	c, err := client.New(replicas[1])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Execute(ctx, client.SQL("INSERT INTO customers (name) VALUES ('Barbara Liskov')"), client.ExecOptions{Commit: "remote_apply"})
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		t.Fatalf("write via replica %s: %v", replicas[1], err)
	}
	if resp.LSN == "" || resp.GTID == "" {
		t.Errorf("forwarded write: lsn %q, gtid %q; want both from the primary", resp.LSN, resp.GTID)
	}

	// The log of the running primary, as the demo suggests inspecting it.
	logOut, err := inspect(t, dir+"/primary")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"customers: +3 ~0 -0, orders: +4 ~0 -0", "customers: +0 ~1 -0", "orders: +1 ~0 -0"} {
		if !strings.Contains(logOut, want) {
			t.Errorf("log inspect output lacks %q:\n%s", want, logOut)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo: %v; stderr:\n%s", err, stderr.String())
		}
	case <-deadline:
		t.Fatal("the demo did not stop after its context was canceled")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data dir %s still there after the demo stopped (stat: %v)", dir, err)
	}
	if got := stderr.String(); got != "" {
		t.Errorf("unexpected stderr:\n%s", got)
	}
}

// checkDemoRows checks the sample and workload rows on the node at addr,
// read at level.
func checkDemoRows(ctx context.Context, t *testing.T, addr, level string) {
	t.Helper()
	c, err := client.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Query(ctx, client.SQL(
		"SELECT count(*) FROM customers",
		"SELECT email FROM customers WHERE id = 2",
		"SELECT count(*), sum(amount) FROM orders"), client.QueryOptions{Level: level})
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	got := []any{resp.Results[0].Values[0][0], resp.Results[1].Values[0][0], resp.Results[2].Values[0][0], resp.Results[2].Values[0][1]}
	want := []any{int64(3), "grace@navy.example", int64(4 + demoInserts), 66.5 + demoInserts}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s at level=%s: got %v, want %v (customers, Grace's email, orders, their sum)", addr, level, got, want)
			break
		}
	}
}

// tandem demo --ha runs the three nodes as an HA cluster: the output says
// so and suggests the cluster commands, and a switchover it suggests
// moves the primary role to r1.
func TestDemoCommand_HA(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd, out, stderr, done := startDemo(ctx, "--http-addr", "127.0.0.1:0", "--ha")
	deadline := time.After(60 * time.Second)
	text := out.waitFor(t, "Press Ctrl-C to stop.", deadline)
	m := regexp.MustCompile(`primary   http://(\S+) .*\n\s+r1, r2    http://(\S+)  http://(\S+)\n`).FindStringSubmatch(text)
	if m == nil || !strings.Contains(text, "HA cluster") || !strings.Contains(text, "tandem cluster members --addr "+m[1]) {
		t.Fatalf("HA demo output:\n%s", text)
	}
	primary, r1 := m[1], m[2]
	msg, err := roleCall(cmd, primary, "/admin/switchover", "to=r1", "switched")
	if err != nil {
		t.Fatalf("switchover to r1: %v", err)
	}
	t.Log(msg)
	rc, err := client.New(r1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	for {
		st, err := rc.Status(ctx)
		if err == nil {
			if nd, _ := st["node"].(map[string]any); nd["role"] == "primary" {
				break
			}
		}
		select {
		case <-deadline:
			t.Fatalf("r1 did not become the primary: %v %v", st, err)
		case <-time.After(10 * time.Millisecond): // polling r1's status
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v; stderr:\n%s", err, stderr.String())
	}
}
