package sqlitedb

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/changeset"
	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/payload"
	"go.uber.org/goleak"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openDB(t *testing.T, f Format) *DB {
	t.Helper()
	cfg := DefaultConfig(filepath.Join(t.TempDir(), "db.sqlite"))
	cfg.Format = f
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func stmts(sqls ...string) []command.Statement {
	out := make([]command.Statement, len(sqls))
	for i, s := range sqls {
		out[i] = command.Statement{SQL: s}
	}
	return out
}

// log is a tiny in-memory replication log for tests.
type log struct {
	txns []ApplyTxn
	end  lsn.LSN
	seq  uint64
}

// run executes one request as its own batch and logs its payload.
func (l *log) run(t *testing.T, db *DB, req *command.ExecuteRequest) *Txn {
	t.Helper()
	w := db.Writer()
	if err := w.Begin(); err != nil {
		t.Fatal(err)
	}
	txn, err := w.Execute(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if txn.Payload != nil {
		l.seq++
		l.end += lsn.LSN(len(txn.Payload))
		l.txns = append(l.txns, ApplyTxn{End: l.end, GTID: gtid.GTID{Origin: gtid.UUID{1}, Seq: l.seq}, Payload: txn.Payload})
	}
	if err := w.Commit(l.end, gtid.GTID{Origin: gtid.UUID{1}, Seq: l.seq}); err != nil {
		t.Fatal(err)
	}
	return txn
}

func exec(t *testing.T, l *log, db *DB, sqls ...string) *Txn {
	t.Helper()
	txn := l.run(t, db, &command.ExecuteRequest{Statements: stmts(sqls...)})
	for i, r := range txn.Results {
		if r.Error != "" {
			t.Fatalf("statement %q: %s", sqls[i], r.Error)
		}
	}
	return txn
}

func checksumOf(t *testing.T, db *DB) string {
	t.Helper()
	sum, err := db.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// The hook-built changeset must be byte-for-byte what a SQLite session
// records for the same statements, so SQLite's apply, invert and conflict
// handling treat it as their own.
func TestWriter_CaptureMatchesSession(t *testing.T) {
	db := openDB(t, FormatRow)
	var l log
	schema := "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB, f REAL)"
	exec(t, &l, db, schema, "INSERT INTO t VALUES(5, 'old', x'0102', 1.5)")

	ref, err := sqlite.OpenConn(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, q := range []string{schema, "INSERT INTO t VALUES(5, 'old', x'0102', 1.5)"} {
		if err := sqlitex.ExecuteTransient(ref, q, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		"INSERT INTO t VALUES(1, 'ab', x'ff', NULL)",
		"UPDATE t SET k = 'new' WHERE id = 5",
		"UPDATE t SET f = f * 2, v = NULL WHERE id = 1",
		"DELETE FROM t WHERE id = 5",
		"INSERT INTO t(k, v) VALUES('auto', randomblob(4))",
	} {
		txn := exec(t, &l, db, q)
		entries, err := payload.Decode(txn.Payload)
		if err != nil || len(entries) != 1 || entries[0].Type != payload.TypeChangeset {
			t.Fatalf("%s: payload %+v, %v", q, entries, err)
		}
		got := entries[0].Changeset
		// Run the same change on the reference with the values the writer
		// produced, so random values match.
		sess, err := ref.CreateSession("")
		if err != nil {
			t.Fatal(err)
		}
		sess.Attach("")
		if err := ref.ApplyChangeset(bytes.NewReader(got), nil, func(sqlite.ConflictType, *sqlite.ChangesetIterator) sqlite.ConflictAction {
			t.Fatalf("%s: conflict applying to the reference", q)
			return sqlite.ChangesetAbort
		}); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		sess.WriteChangeset(&want)
		sess.Delete()
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s:\n got %s\nwant %s", q, hex.EncodeToString(got), hex.EncodeToString(want.Bytes()))
		}
	}
}

func TestWriter_FormatsReplayToSameDatabase(t *testing.T) {
	workload := [][]string{
		{"CREATE TABLE acct(id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER)", "CREATE TABLE note(body TEXT)"},
		{"INSERT INTO acct(owner, balance) VALUES('ann', 100), ('bob', 50)"},
		{"UPDATE acct SET balance = balance - 10 WHERE owner = 'ann'", "UPDATE acct SET balance = balance + 10 WHERE owner = 'bob'"},
		{"ALTER TABLE acct ADD COLUMN tier TEXT DEFAULT 'basic'", "INSERT INTO acct(owner, balance, tier) VALUES('cy', 7, 'gold')"},
		{"DELETE FROM acct WHERE owner = 'bob'"},
		{"CREATE TABLE two(a TEXT, b INTEGER, c, PRIMARY KEY(b, a)) WITHOUT ROWID", "INSERT INTO two VALUES('x', 1, 2.5), ('y', 1, x'00')"},
		{"UPDATE two SET b = 2 WHERE a = 'x'"},
	}
	for _, f := range []Format{FormatRow, FormatStatement, FormatMixed} {
		t.Run(f.String(), func(t *testing.T) {
			src := openDB(t, f)
			var l log
			for _, step := range workload {
				exec(t, &l, src, step...)
			}
			if f != FormatRow { // tables without a primary key need statements
				exec(t, &l, src, "INSERT INTO note VALUES('hello')")
			}
			dst := openDB(t, f)
			if err := dst.Writer().Apply(l.txns); err != nil {
				t.Fatal(err)
			}
			if got, want := checksumOf(t, dst), checksumOf(t, src); got != want {
				t.Fatalf("replayed checksum %s, want %s", got, want)
			}
			applied, g, err := dst.Applied(context.Background())
			if err != nil || applied != l.end || g.Seq != l.seq {
				t.Fatalf("Applied = %v %v %v, want %v seq %d", applied, g, err, l.end, l.seq)
			}
		})
	}
}

func TestWriter_Nondeterministic(t *testing.T) {
	for _, tc := range []struct {
		f       Format
		wantErr error
		rows    bool
	}{
		{FormatRow, nil, true},
		{FormatStatement, ErrNondeterministic, false},
		{FormatMixed, nil, true},
	} {
		t.Run(tc.f.String(), func(t *testing.T) {
			db := openDB(t, tc.f)
			var l log
			exec(t, &l, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, r, at TEXT)")
			txn := l.run(t, db, &command.ExecuteRequest{Statements: stmts("INSERT INTO t(r, at) VALUES(random(), datetime('now'))")})
			if tc.wantErr != nil {
				if !strings.Contains(txn.Results[0].Error, "non-deterministic") || txn.Payload != nil {
					t.Fatalf("result %+v, want a non-deterministic error and no payload", txn.Results)
				}
				return
			}
			if txn.Results[0].Error != "" || txn.Rows != tc.rows || txn.Statements {
				t.Fatalf("txn rows=%v statements=%v err=%q, want row form", txn.Rows, txn.Statements, txn.Results[0].Error)
			}
			// Deterministic statements in mixed form stay statements.
			txn = exec(t, &l, db, "INSERT INTO t(r, at) VALUES(1, '2026-01-01')")
			if tc.f == FormatMixed && (!txn.Statements || txn.Rows) {
				t.Fatalf("mixed deterministic txn rows=%v statements=%v, want statements", txn.Rows, txn.Statements)
			}
			dst := openDB(t, tc.f)
			if err := dst.Writer().Apply(l.txns); err != nil {
				t.Fatal(err)
			}
			if got, want := checksumOf(t, dst), checksumOf(t, db); got != want {
				t.Fatal("replay differs")
			}
		})
	}
}

func TestNondeterministic(t *testing.T) {
	for sql, want := range map[string]string{
		"INSERT INTO t VALUES(random())":                         "random",
		"INSERT INTO t VALUES(RANDOMBLOB (8))":                   "randomblob",
		"INSERT INTO t VALUES(datetime('now'))":                  "datetime('now')",
		"INSERT INTO t VALUES(date())":                           "date()",
		"INSERT INTO t VALUES(CURRENT_TIMESTAMP)":                "current_timestamp",
		"INSERT INTO t VALUES(strftime('%s'))":                   "strftime('%s')",
		"INSERT INTO t VALUES(datetime('2024-01-01', '+1 day'))": "",
		"INSERT INTO t VALUES('random()')":                       "",
		"INSERT INTO t VALUES(1) -- random()":                    "",
		`INSERT INTO "random"(x) VALUES(1)`:                      "",
	} {
		if got := nondeterministic(sql); got != want {
			t.Errorf("nondeterministic(%q) = %q, want %q", sql, got, want)
		}
	}
}

func TestWriter_NoPrimaryKey(t *testing.T) {
	db := openDB(t, FormatRow)
	var l log
	exec(t, &l, db, "CREATE TABLE logs(msg TEXT)")
	txn := l.run(t, db, &command.ExecuteRequest{Statements: stmts("INSERT INTO logs VALUES('x')")})
	if e := txn.Results[0].Error; !strings.Contains(e, "table logs") || !strings.Contains(e, "PRIMARY KEY") {
		t.Fatalf("error %q, want it to name table logs and PRIMARY KEY", e)
	}
	if txn.Payload != nil {
		t.Fatal("refused write produced a payload")
	}
	var n int
	rows, _ := db.Query(context.Background(), &command.QueryRequest{Statements: stmts("SELECT count(*) FROM logs")}, false)
	n = int(rows[0].Rows[0][0].(int64))
	if n != 0 {
		t.Fatalf("refused row is present: count %d", n)
	}

	mixed := openDB(t, FormatMixed)
	exec(t, &l, mixed, "CREATE TABLE logs(msg TEXT)")
	txn = exec(t, &l, mixed, "INSERT INTO logs VALUES('x')")
	if !txn.Statements || txn.Rows {
		t.Fatalf("mixed no-PK txn rows=%v statements=%v, want statements", txn.Rows, txn.Statements)
	}
	txn = l.run(t, mixed, &command.ExecuteRequest{Statements: stmts("INSERT INTO logs VALUES(random())")})
	if e := txn.Results[0].Error; !strings.Contains(e, "logs") || !strings.Contains(e, "random") {
		t.Fatalf("mixed nondeterministic no-PK error %q", e)
	}
}

func TestWriter_TransactionRollsBackOnlyItself(t *testing.T) {
	db := openDB(t, FormatRow)
	var l log
	exec(t, &l, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES(1, 'a')")

	// With ?transaction, one failure undoes the whole request.
	txn := l.run(t, db, &command.ExecuteRequest{Transaction: true, Statements: stmts(
		"INSERT INTO t VALUES(2, 'b')", "INSERT INTO t VALUES(1, 'dup')", "INSERT INTO t VALUES(3, 'c')")})
	if len(txn.Results) != 2 || txn.Results[1].Error == "" || txn.Payload != nil {
		t.Fatalf("transaction results %+v payload %v", txn.Results, txn.Payload != nil)
	}
	// Without it, only the failing statement is undone.
	txn = l.run(t, db, &command.ExecuteRequest{Statements: stmts(
		"INSERT INTO t VALUES(4, 'd')", "INSERT INTO t VALUES(1, 'dup')", "INSERT INTO t VALUES(5, 'e')")})
	if len(txn.Results) != 3 || txn.Results[1].Error == "" || txn.Results[0].Error != "" || txn.Results[2].Error != "" {
		t.Fatalf("results %+v", txn.Results)
	}
	if !strings.HasPrefix(txn.Results[1].Error, "UNIQUE constraint failed") {
		t.Fatalf("error %q, want SQLite's message", txn.Results[1].Error)
	}
	res, err := db.Query(context.Background(), &command.QueryRequest{Statements: stmts("SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id)")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res[0].Rows[0][0], "1,4,5"; got != want {
		t.Fatalf("ids = %v, want %v", got, want)
	}
	// The log replays to the same rows: the failed statements left nothing.
	dst := openDB(t, FormatRow)
	if err := dst.Writer().Apply(l.txns); err != nil {
		t.Fatal(err)
	}
	if checksumOf(t, dst) != checksumOf(t, db) {
		t.Fatal("replay differs")
	}
}

func TestWriter_Refused(t *testing.T) {
	db := openDB(t, FormatRow)
	var l log
	for _, q := range []string{"BEGIN", "COMMIT", "ATTACH 'x.db' AS x", "PRAGMA journal_mode = DELETE", "INSERT INTO _tandem_meta VALUES('applied_lsn', 99)", "DROP TABLE _tandem_meta"} {
		txn := l.run(t, db, &command.ExecuteRequest{Statements: stmts(q)})
		if txn.Results[0].Error == "" || txn.Payload != nil {
			t.Errorf("%s: results %+v, want an error", q, txn.Results)
		}
	}
}

func TestWriter_Parameters(t *testing.T) {
	db := openDB(t, FormatStatement)
	var l log
	exec(t, &l, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT, b BLOB, f REAL)")
	txn := l.run(t, db, &command.ExecuteRequest{Statements: []command.Statement{
		{SQL: "INSERT INTO t VALUES(?, ?, ?, ?)", Args: []any{int64(1), "one", []byte{1}, 1.5}},
		{SQL: "INSERT INTO t VALUES(:id, :s, @b, $f)", Named: map[string]any{"id": int64(2), "s": "two", "b": nil, "f": 2.5}},
		{SQL: "INSERT INTO t VALUES(?, ?, ?, ?)", Args: []any{int64(3)}},
		{SQL: "INSERT INTO t VALUES(:id, 'x', NULL, NULL)", Named: map[string]any{"other": 1}},
	}})
	if txn.Results[0].Error != "" || txn.Results[1].Error != "" {
		t.Fatalf("results %+v", txn.Results)
	}
	if !strings.Contains(txn.Results[2].Error, "4 parameters but 1") || !strings.Contains(txn.Results[3].Error, "missing named parameter :id") {
		t.Fatalf("results %+v", txn.Results)
	}
	if txn.Results[1].LastInsertID != 2 || txn.Results[1].RowsAffected != 1 {
		t.Fatalf("result %+v", txn.Results[1])
	}
	dst := openDB(t, FormatStatement)
	if err := dst.Writer().Apply(l.txns); err != nil {
		t.Fatal(err)
	}
	if checksumOf(t, dst) != checksumOf(t, db) {
		t.Fatal("replay differs")
	}
}

func TestWriter_ApplyChecksSchema(t *testing.T) {
	src := openDB(t, FormatRow)
	var l log
	exec(t, &l, src, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	exec(t, &l, src, "INSERT INTO t VALUES(1, 'a')")

	// Missing table: SQLite alone would skip the change silently.
	dst := openDB(t, FormatRow)
	err := dst.Writer().Apply(l.txns[1:])
	var ae *ApplyError
	if !errors.As(err, &ae) || !errors.Is(err, ErrSchema) || ae.Table != "t" || ae.GTID.Seq != 2 {
		t.Fatalf("missing table: err = %v", err)
	}
	// Different column count.
	var l2 log
	exec(t, &l2, dst, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, extra)")
	err = dst.Writer().Apply(l.txns[1:])
	if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "3") {
		t.Fatalf("column count: err = %v", err)
	}
	// Conflict: the row already exists.
	dst2 := openDB(t, FormatRow)
	if err := dst2.Writer().Apply(l.txns); err != nil {
		t.Fatal(err)
	}
	err = dst2.Writer().Apply(l.txns[1:])
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "CONFLICT") || !strings.Contains(err.Error(), l.txns[1].GTID.String()) {
		t.Fatalf("conflict: err = %v", err)
	}
	if _, ok := errors.AsType[*ApplyError](err); !ok {
		t.Fatalf("conflict error is not an ApplyError")
	}
	// Nothing of a failed batch stays.
	applied, _, _ := dst2.Applied(context.Background())
	if applied != l.end {
		t.Fatalf("applied = %v, want %v", applied, l.end)
	}
}

func TestDB_Query(t *testing.T) {
	db := openDB(t, FormatRow)
	var l log
	exec(t, &l, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, at DATETIME, b BLOB)",
		"INSERT INTO t VALUES(1, 'fiona', '2024-01-02 03:04:05', x'0a0b')")
	res, err := db.Query(context.Background(), &command.QueryRequest{Statements: []command.Statement{
		{SQL: "SELECT id, name, at, b, count(*) AS n FROM t WHERE id = ?", Args: []any{int64(1)}},
		{SQL: "INSERT INTO t VALUES(2, 'x', NULL, NULL)"},
		{SQL: "SELECT nope FROM t"},
	}}, true)
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if got, want := strings.Join(r.Columns, ","), "id,name,at,b,n"; got != want {
		t.Fatalf("columns %s, want %s", got, want)
	}
	if got, want := strings.Join(r.Types, ","), "integer,text,datetime,blob,integer"; got != want {
		t.Fatalf("types %s, want %s", got, want)
	}
	if len(r.Rows) != 1 || r.Rows[0][2] != "2024-01-02 03:04:05" || !bytes.Equal(r.Rows[0][3].([]byte), []byte{10, 11}) || r.Seconds <= 0 {
		t.Fatalf("rows %#v seconds %v", r.Rows, r.Seconds)
	}
	if !strings.Contains(res[1].Error, "writes") || !strings.Contains(res[2].Error, "no such column") {
		t.Fatalf("errors %q %q", res[1].Error, res[2].Error)
	}
}

func TestDB_Backup(t *testing.T) {
	db := openDB(t, FormatRow)
	var l log
	exec(t, &l, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES(1, 'a')")
	var buf bytes.Buffer
	info, err := db.Backup(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if info.Applied != l.end || info.Bytes != int64(buf.Len()) || !bytes.HasPrefix(buf.Bytes(), []byte("SQLite format 3\x00")) {
		t.Fatalf("info %+v, %d bytes", info, buf.Len())
	}
}

func TestBuilderTableIdentity(t *testing.T) {
	// Guard: capture keys tables by *changeset.Table; a schema reload must
	// give new pointers so a DDL in mid-transaction starts a new block.
	db := openDB(t, FormatRow)
	var l log
	exec(t, &l, db, "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	a := db.Writer().cap.schema.tables["t"].table
	exec(t, &l, db, "ALTER TABLE t ADD COLUMN x")
	b := db.Writer().cap.schema.tables["t"].table
	if a == b || b.NumCols() != 2 {
		t.Fatalf("schema reload kept table %p (%d cols)", b, b.NumCols())
	}
	_ = changeset.Table{}
}
