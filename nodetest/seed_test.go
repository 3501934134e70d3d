package nodetest_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/nodetest"
)

// A replica seeded while the primary takes writes ends with exactly the
// primary's content: the seed's LSN and the stream after it fit.
func TestSeed_WhilePrimaryWrites(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1")
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	// Enough data that the seed takes a moment.
	pad := strings.Repeat("p", 512)
	for i := range 20 {
		c.Exec(t, "n1", "WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x+1 FROM s WHERE x < 499) INSERT INTO t SELECT ?*1000 + x, ? FROM s",
			int64(i), pad)
	}

	// The writer runs until the seed is in and 50 writes more, at most
	// maxWrites.
	const maxWrites, after = 5000, 50
	var written atomic.Int64
	seeded := make(chan struct{})
	errs := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		extra := 0
		for i := range maxWrites {
			if _, err := c.Execute("n1", command.CommitLocal, "INSERT INTO t VALUES(?, ?)", int64(1_000_000+i), fmt.Sprint(i)); err != nil {
				errs <- fmt.Errorf("write %d: %w", i, err)
				return
			}
			written.Add(1)
			select {
			case <-seeded:
				if extra++; extra == after {
					return
				}
			default:
			}
		}
	}()
	nodetest.WaitFor(t, 5*time.Second, "the writer to start", func() (bool, string) { return written.Load() > 0, "" })
	before := written.Load()
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	during := written.Load() - before
	close(seeded)
	<-done
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	c.WaitConverged(t, "n1", "n2")
	seed := c.Status(t, "n2").Upstream.Seed
	t.Logf("%d writes while n2 seeded (%d bytes at LSN %s), %d in all", during, seed.Total, seed.LSN, written.Load())
	if !seed.Done || seed.LSN == 0 {
		t.Fatalf("n2's seed: %+v, want a finished seed at a non-zero LSN", seed)
	}
	if end := c.Status(t, "n1").Log.Durable; seed.LSN >= end {
		t.Fatalf("n2 was seeded at %s, the primary's end %s: the writes after the seed were not streamed", seed.LSN, end)
	}
	if got, want := c.QueryInt(t, "n2", "SELECT count(*) FROM t"), 20*500+written.Load(); got != want {
		t.Fatalf("n2 has %d rows, want %d", got, want)
	}
	if got, want := c.Checksum(t, "n2"), c.Checksum(t, "n1"); got != want {
		t.Fatalf("checksums differ after seeding under load: n2 %s, n1 %s", got, want)
	}
}
