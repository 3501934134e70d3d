package sqlitedb

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Rewind undoes exactly the divergent tail: the database equals a replay
// of the log up to the fork, and every undone transaction is listed.
func TestWriter_Rewind(t *testing.T) {
	src := openDB(t, FormatRow)
	var l log
	exec(t, &l, src, "CREATE TABLE acct(id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER)",
		"CREATE TABLE pair(a TEXT, b INTEGER, v, PRIMARY KEY(a, b)) WITHOUT ROWID")
	exec(t, &l, src, "INSERT INTO acct VALUES(1, 'ann', 100), (2, 'bob', 50)", "INSERT INTO pair VALUES('x', 1, 'one')")
	fork := len(l.txns)
	// The divergent tail: updates, deletes, inserts, a primary key change.
	exec(t, &l, src, "UPDATE acct SET balance = balance - 30 WHERE id = 1", "UPDATE acct SET balance = balance + 30 WHERE id = 2")
	exec(t, &l, src, "DELETE FROM pair WHERE a = 'x'", "INSERT INTO acct VALUES(3, 'cy', 7)")
	exec(t, &l, src, "UPDATE acct SET id = 10 WHERE id = 3", "UPDATE acct SET owner = NULL WHERE id = 2")

	atFork := openDB(t, FormatRow)
	if err := atFork.Writer().Apply(l.txns[:fork]); err != nil {
		t.Fatal(err)
	}
	full := openDB(t, FormatRow)
	if err := full.Writer().Apply(l.txns); err != nil {
		t.Fatal(err)
	}
	forkEnd, forkGTID := l.txns[fork-1].End, l.txns[fork-1].GTID
	lost, err := full.Writer().Rewind(l.txns[fork:], forkEnd, forkGTID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := checksumOf(t, full), checksumOf(t, atFork); got != want {
		t.Fatal("after rewind the database differs from a replay up to the fork")
	}
	if applied, g, _ := full.Applied(t.Context()); applied != forkEnd || g != forkGTID {
		t.Fatalf("applied = %v %v, want %v %v", applied, g, forkEnd, forkGTID)
	}
	if len(lost) != 3 || lost[0].GTID != l.txns[fork].GTID.String() || len(lost[0].Changes) != 2 {
		t.Fatalf("lost = %+v", lost)
	}
	var buf bytes.Buffer
	if err := WriteLostTxns(&buf, lost); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"op":"UPDATE"`) || !strings.Contains(lines[1], `"table":"pair"`) || !strings.Contains(lines[1], `"before":["x",1,"one"]`) {
		t.Fatalf("lost-transactions lines:\n%s", buf.String())
	}
}

// A statement-format record cannot be undone: nothing changes.
func TestWriter_RewindRefusesStatements(t *testing.T) {
	src := openDB(t, FormatStatement)
	var l log
	exec(t, &l, src, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	exec(t, &l, src, "INSERT INTO t VALUES(1, 'a')")
	dst := openDB(t, FormatRow)
	if err := dst.Writer().Apply(l.txns); err != nil {
		t.Fatal(err)
	}
	before := checksumOf(t, dst)
	_, err := dst.Writer().Rewind(l.txns[1:], l.txns[0].End, l.txns[0].GTID)
	if !errors.Is(err, ErrCannotRewind) || !strings.Contains(err.Error(), "re-seed") {
		t.Fatalf("err = %v, want ErrCannotRewind telling to re-seed", err)
	}
	if checksumOf(t, dst) != before {
		t.Fatal("a refused rewind changed the database")
	}
}
