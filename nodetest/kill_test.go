package nodetest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/crashtest"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/nodetest"
)

// procLSN reads an LSN from a node's /status: section.key.
func procLSN(ctx context.Context, c *client.Client, section, key string) (lsn.LSN, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return 0, err
	}
	m, _ := st[section].(map[string]any)
	s, _ := m[key].(string)
	if s == "" {
		return 0, fmt.Errorf("/status has no %s.%s", section, key)
	}
	return lsn.Parse(s)
}

// procRows returns every row of t, in id order, read at level none.
func procRows(ctx context.Context, c *client.Client) (string, int, error) {
	resp, err := c.Query(ctx, []client.Statement{{SQL: "SELECT id, v FROM t ORDER BY id"}}, client.QueryOptions{Level: "none"})
	if err != nil {
		return "", 0, err
	}
	if err := resp.Err(); err != nil {
		return "", 0, err
	}
	var b strings.Builder
	for _, r := range resp.Results[0].Values {
		fmt.Fprintf(&b, "%v=%v\n", r[0], r[1])
	}
	return b.String(), len(resp.Results[0].Values), nil
}

// A replica process killed with SIGKILL while the primary takes writes
// restarts on its data dir and ends with exactly the primary's rows: no
// gap, no duplicate.
func TestReplica_KillMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs tandem processes")
	}
	ctx := t.Context()
	bin, err := crashtest.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	replAddr, err := crashtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := func(name string, args ...string) *crashtest.Proc {
		t.Helper()
		args = append([]string{"--cluster-secret", nodetest.Secret, "--heartbeat", "200ms"}, args...)
		p, err := crashtest.Start(ctx, crashtest.Options{Binary: bin, NodeID: name, DataDir: filepath.Join(dir, name), Args: args})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Kill() })
		return p
	}
	connect := func(p *crashtest.Proc) *client.Client {
		t.Helper()
		c, err := p.Client(client.WithTimeout(10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	p1 := start("n1", "--repl-addr", replAddr)
	c1 := connect(p1)
	if _, err := c1.Execute(ctx, []client.Statement{{SQL: "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"}}, client.ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	p2 := start("n2", "--primary", replAddr)
	c2 := connect(p2)

	// Bounded load: writers insert disjoint id ranges at commit local.
	const writers, each = 4, 400
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := int64(w*each + i + 1)
				resp, err := c1.Execute(ctx, []client.Statement{{SQL: "INSERT INTO t VALUES(?, ?)", Args: []any{id, fmt.Sprintf("w%d-%d", w, i)}}}, client.ExecOptions{})
				if err == nil {
					err = resp.Err()
				}
				if err != nil {
					errs <- fmt.Errorf("insert %d: %w", id, err)
					return
				}
			}
		}()
	}
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()

	for round, atRows := range []int{200, 800} {
		// Kill n2 once it has applied some rows, or when the load is over.
		nodetest.WaitFor(t, 30*time.Second, fmt.Sprintf("n2 to apply %d rows", atRows), func() (bool, string) {
			select {
			case <-loadDone:
				return true, ""
			default:
			}
			_, n, err := procRows(ctx, c2)
			return err == nil && n >= atRows, fmt.Sprintf("%d rows, %v", n, err)
		})
		_, n, _ := procRows(ctx, c2)
		select {
		case <-loadDone:
			t.Logf("round %d: the load ended before the kill; n2 had %d rows", round, n)
		default:
			t.Logf("round %d: killing n2 under load at %d rows", round, n)
		}
		if err := p2.Kill(); err != nil {
			t.Fatalf("round %d: kill n2: %v", round, err)
		}
		c2.Close()
		p2 = start("n2", "--primary", replAddr)
		c2 = connect(p2)
	}
	<-loadDone
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	end, err := procLSN(ctx, c1, "log", "durable_lsn")
	if err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 30*time.Second, "n2 to apply n1's log", func() (bool, string) {
		got, err := procLSN(ctx, c2, "db", "applied_lsn")
		return err == nil && got == end, fmt.Sprintf("applied %s of %s, %v", got, end, err)
	})
	want, nWant, err := procRows(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	got, nGot, err := procRows(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	if nWant != writers*each {
		t.Fatalf("n1 has %d rows, want %d", nWant, writers*each)
	}
	if got != want {
		t.Fatalf("n2's rows (%d) differ from n1's (%d) after two SIGKILLs", nGot, nWant)
	}
}
