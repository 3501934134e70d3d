package sqlitedb

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
)

func openWith(t *testing.T, sqliteApply bool) *DB {
	t.Helper()
	cfg := DefaultConfig(filepath.Join(t.TempDir(), "db.sqlite"))
	cfg.SQLiteApply = sqliteApply
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The row applier and sqlite3changeset_apply must agree: the same result
// on a workload, and the same conflicts.
func TestApply_RowApplierMatchesSQLite(t *testing.T) {
	src := openDB(t, FormatRow)
	var l log
	exec(t, &l, src, `CREATE TABLE t(id INTEGER PRIMARY KEY, "we""ird" TEXT, b BLOB, f REAL, n)`,
		"CREATE TABLE c(a TEXT, b INTEGER, v, PRIMARY KEY(b, a)) WITHOUT ROWID")
	exec(t, &l, src, `INSERT INTO t VALUES(1, 'a', x'00ff', 1.5, NULL), (2, 'b', NULL, -0.0, 7), (3, 'c', x'', 3, 'x')`,
		"INSERT INTO c VALUES('x', 1, 'one'), ('y', 1, NULL), ('x', 2, 2.5)")
	exec(t, &l, src, `UPDATE t SET "we""ird" = 'A', f = f * 2 WHERE id = 1`, "UPDATE c SET v = 'uno' WHERE a = 'x' AND b = 1")
	exec(t, &l, src, "DELETE FROM t WHERE id = 2", "UPDATE c SET b = 3 WHERE a = 'y'", "UPDATE t SET n = NULL WHERE id = 3")
	want := checksumOf(t, src)
	for _, sqliteApply := range []bool{false, true} {
		dst := openWith(t, sqliteApply)
		if err := dst.Writer().Apply(l.txns); err != nil {
			t.Fatalf("sqliteApply=%v: %v", sqliteApply, err)
		}
		if got := checksumOf(t, dst); got != want {
			t.Fatalf("sqliteApply=%v: checksum differs", sqliteApply)
		}
	}

	// Conflicts: each local change breaks one later record.
	base := l.txns[:2] // schema and the inserts
	for _, tc := range []struct {
		name, local, kind string
		next              int // the record that must fail
	}{
		{"update of a changed row", `UPDATE t SET "we""ird" = 'local' WHERE id = 1`, "(DATA)", 2},
		{"update of a missing row", "DELETE FROM t WHERE id = 1", "(NOTFOUND)", 2},
		{"delete of a changed row", "UPDATE t SET n = 99 WHERE id = 2", "(DATA)", 3},
		{"delete of a missing row", "DELETE FROM t WHERE id = 2", "(NOTFOUND)", 3},
	} {
		for _, sqliteApply := range []bool{false, true} {
			dst := openWith(t, sqliteApply)
			w := dst.Writer()
			if err := w.Apply(base); err != nil {
				t.Fatal(err)
			}
			if err := w.Begin(); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Execute(context.Background(), &command.ExecuteRequest{Statements: []command.Statement{{SQL: tc.local}}}); err != nil {
				t.Fatal(err)
			}
			applied := l.txns[1].End
			if err := w.Commit(applied, gtid.GTID{}); err != nil {
				t.Fatal(err)
			}
			rest := l.txns[2:]
			var err error
			for i := range rest {
				if err = w.Apply(rest[i : i+1]); err != nil {
					break
				}
			}
			var ae *ApplyError
			if !errors.As(err, &ae) || !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tc.kind) || ae.GTID != l.txns[tc.next].GTID || ae.Table != "t" {
				t.Errorf("%s (sqliteApply=%v): err = %v, want %s on %v", tc.name, sqliteApply, err, tc.kind, l.txns[tc.next].GTID)
			}
		}
	}

	// An insert of a row that exists is a CONFLICT for both.
	for _, sqliteApply := range []bool{false, true} {
		dst := openWith(t, sqliteApply)
		if err := dst.Writer().Apply(base); err != nil {
			t.Fatal(err)
		}
		again := []ApplyTxn{{End: lsn.LSN(1 << 20), GTID: l.txns[1].GTID, Payload: l.txns[1].Payload}}
		if err := dst.Writer().Apply(again); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "(CONFLICT)") {
			t.Errorf("duplicate insert (sqliteApply=%v): err = %v", sqliteApply, err)
		}
	}
}
