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

func TestDemoCommand_Run(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where os.MkdirTemp puts the demo's data dir

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, stderr := newNotifyBuffer(), newNotifyBuffer()
	cmd := demoCommand()
	cmd.SetArgs([]string{"--http-addr", "127.0.0.1:0"})
	cmd.SetOut(out)
	cmd.SetErr(stderr)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	deadline := time.After(30 * time.Second)
	text := out.waitFor(t, "Press Ctrl-C to stop.", deadline)
	if n := strings.Count(text, "\n"); n > 25 {
		t.Errorf("the demo prints %d lines, want at most 25:\n%s", n, text)
	}
	m := regexp.MustCompile(`HTTP API  http://(\S+)\n\s+data dir  (\S+) `).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no address or data dir in the output:\n%s", text)
	}
	addr, dir := m[1], m[2]
	if !strings.HasPrefix(dir, tmp) {
		t.Errorf("data dir %s is not under TMPDIR %s", dir, tmp)
	}
	for _, want := range []string{
		"curl -s -XPOST http://" + addr + "/db/execute",
		"http://" + addr + "/db/query",
		"http://" + addr + "/status",
		"tandem sql --addr " + addr,
		"tandem bench --addr " + addr + " --workload insert --duration 5s",
		"tandem log inspect " + dir,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}

	c, err := client.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Query(ctx, client.SQL("SELECT count(*) FROM customers", "SELECT sum(amount) FROM orders"), client.QueryOptions{})
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Results[0].Values[0][0], any(int64(3)); got != want {
		t.Errorf("customers: %v rows, want %v", got, want)
	}
	if got, want := resp.Results[1].Values[0][0], any(66.5); got != want {
		t.Errorf("sum of order amounts = %v, want %v", got, want)
	}

	// The log of the running node, as the demo suggests inspecting it.
	logOut, err := inspect(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 records", "customers: +3 ~0 -0, orders: +4 ~0 -0", "customers: +0 ~1 -0"} {
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
