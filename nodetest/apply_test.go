package nodetest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/nodetest"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// writeBehindApplier changes a replica's database directly, as schema or
// data drift would.
func writeBehindApplier(t *testing.T, path, sql string) {
	t.Helper()
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetBusyTimeout(5 * time.Second)
	if err := sqlitex.ExecuteTransient(conn, sql, nil); err != nil {
		t.Fatalf("%s on %s: %v", sql, path, err)
	}
}

// A transaction that conflicts with drift on the replica stops its
// applier with an error naming the GTID, LSN and table; skipping exactly
// that GTID lets it go on, and nothing else is skipped.
func TestApplier_StopsOnConflictAndSkipsByGTID(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1")
	n2 := c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	resp := c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	c.WaitApplied(t, "n2", resp.LSN, 10*time.Second)

	writeBehindApplier(t, n2.DB().Path(), "INSERT INTO t VALUES(1, 'drift')")
	bad := c.Exec(t, "n1", "INSERT INTO t VALUES(1, 'primary')")
	nodetest.WaitFor(t, 10*time.Second, "n2's applier to stop", func() (bool, string) {
		u := c.Status(t, "n2").Upstream
		return u.Stopped, u.Error
	})
	u := c.Status(t, "n2").Upstream
	if got, want := u.ErrorGTID, bad.GTID.String(); got != want {
		t.Errorf("apply_error_gtid %q, want the conflicting transaction's %q", got, want)
	}
	if got, want := u.ErrorLSN, bad.LSN.String(); got != want {
		t.Errorf("apply_error_lsn %q, want %q", got, want)
	}
	if got, want := u.ErrorTable, "t"; got != want {
		t.Errorf("apply_error_table %q, want %q", got, want)
	}
	if !strings.Contains(u.Error, bad.GTID.String()) {
		t.Errorf("apply_error %q does not name the GTID %s", u.Error, bad.GTID)
	}
	// Later transactions wait behind the stopped one.
	next := c.Exec(t, "n1", "INSERT INTO t VALUES(2, 'after')")
	if got := c.Applied(t, "n2"); got >= bad.LSN {
		t.Fatalf("n2 applied up to %s, past the stopped transaction at %s", got, bad.LSN)
	}

	// A restart does not get past it either: the applier stops again on
	// the same transaction.
	c.Stop(t, "n2")
	n2 = c.Restart(t, "n2")
	nodetest.WaitFor(t, 10*time.Second, "n2's applier to stop again after a restart", func() (bool, string) {
		u := c.Status(t, "n2").Upstream
		return u.Stopped && u.ErrorGTID == bad.GTID.String(), u.ErrorGTID + " " + u.Error
	})

	wrong := gtid.GTID{Origin: bad.GTID.Origin, Seq: bad.GTID.Seq + 1}
	ctx := t.Context()
	if err := n2.SkipTransaction(ctx, wrong.String()); err == nil {
		t.Fatalf("SkipTransaction(%s) succeeded, but the applier is stopped on %s", wrong, bad.GTID)
	}
	if err := n2.SkipTransaction(ctx, bad.GTID.String()); err != nil {
		t.Fatalf("SkipTransaction(%s): %v", bad.GTID, err)
	}
	c.WaitApplied(t, "n2", next.LSN, 10*time.Second)
	if u := c.Status(t, "n2").Upstream; u.Stopped || u.Error != "" {
		t.Fatalf("n2's applier after the skip: stopped=%v error=%q", u.Stopped, u.Error)
	}
	rows := c.Query(t, "n2", "SELECT id, v FROM t ORDER BY id")
	if len(rows) != 2 || rows[0][1] != "drift" || rows[1][1] != "after" {
		t.Fatalf("n2 rows %v, want [[1 drift] [2 after]]: the skipped row stays as it was, the next is applied", rows)
	}
	resp = c.Exec(t, "n1", "INSERT INTO t VALUES(3, 'later')")
	c.WaitApplied(t, "n2", resp.LSN, 10*time.Second)
	if got := c.QueryInt(t, "n2", "SELECT count(*) FROM t WHERE id = 3"); got != 1 {
		t.Fatalf("n2 lacks a write made after the skip")
	}
	// The skip is not remembered as a pending one.
	if err := n2.SkipTransaction(ctx, bad.GTID.String()); err == nil {
		t.Fatal("a second SkipTransaction of the same GTID succeeded while the applier runs")
	}
	// And it is durable: after a restart the applier goes on past it.
	c.Stop(t, "n2")
	c.Restart(t, "n2")
	resp = c.Exec(t, "n1", "INSERT INTO t VALUES(4, 'after restart')")
	c.WaitApplied(t, "n2", resp.LSN, 10*time.Second)
	if u := c.Status(t, "n2").Upstream; u.Stopped {
		t.Fatalf("n2's applier stopped again after a restart past the skipped transaction: %s", u.Error)
	}
	if got := c.Query(t, "n2", "SELECT v FROM t WHERE id = 1"); len(got) != 1 || got[0][0] != "drift" {
		t.Fatalf("n2's row 1 after restart: %v, want [[drift]]", got)
	}
}
