package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
)

// A replica that must re-seed marks its data dir and asks to be reopened;
// reopened, it sets its old copy aside and seeds a fresh one.
func TestReseed_SetsCopyAsideAndSeeds(t *testing.T) {
	const secret = "reseed-test-cluster-secret-0123"
	p := openNode(t, t.TempDir(), func(c *Config) { c.ReplAddr, c.ClusterSecret = "127.0.0.1:0", secret })
	execOK(t, p, "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	resp := execOK(t, p, "INSERT INTO t VALUES(1)")
	dir := t.TempDir()
	replica := func(c *Config) { c.NodeID, c.Primary, c.ClusterSecret = "n2", p.ReplAddr(), secret }
	r := openNode(t, dir, replica)
	waitFor(t, func() bool { return r.isReady() && r.AppliedLSN() >= resp.LSN })

	if err := r.requestReseed("test: history cut"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.RestartRequested():
	default:
		t.Fatal("no restart requested")
	}
	if got := r.RestartReason(); !strings.Contains(got, "history cut") {
		t.Fatalf("reason %q", got)
	}
	r.Close()

	resp = execOK(t, p, "INSERT INTO t VALUES(2)")
	r = openNode(t, dir, replica)
	waitFor(t, func() bool { return r.isReady() && r.AppliedLSN() >= resp.LSN })
	res, err := r.Query(context.Background(), &command.QueryRequest{Level: command.ReadNone, Statements: []command.Statement{{SQL: "SELECT count(*) FROM t"}}})
	if err != nil || res[0].Error != "" || res[0].Rows[0][0].(int64) != 2 {
		t.Fatalf("re-seeded replica: %v %+v, want 2 rows", err, res)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "reseed-*", dbFile))
	if len(aside) != 1 {
		t.Fatalf("old copy not set aside: %v", aside)
	}
	if _, err := os.Stat(filepath.Join(dir, reseedFile)); !os.IsNotExist(err) {
		t.Fatalf("reseed mark still there: %v", err)
	}
	if r.recovery.Applied != 0 || r.RestartReason() != "" {
		t.Fatalf("reopened node: recovery %+v, restart %q", r.recovery, r.RestartReason())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met within 20s")
		case <-tick.C:
		}
	}
}
