package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/rlog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openNode(t *testing.T, dir string, mod func(*Config)) *Node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.HTTPAddr = "n1", dir, ""
	if mod != nil {
		mod(&cfg)
	}
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func execOK(t *testing.T, n *Node, sqls ...string) *command.ExecuteResponse {
	t.Helper()
	req := &command.ExecuteRequest{}
	for _, s := range sqls {
		req.Statements = append(req.Statements, command.Statement{SQL: s})
	}
	resp, err := n.Execute(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.Results {
		if r.Error != "" {
			t.Fatalf("%s: %s", sqls[i], r.Error)
		}
	}
	return resp
}

func count(t *testing.T, n *Node, sql string) int64 {
	t.Helper()
	res, err := n.Query(context.Background(), &command.QueryRequest{Statements: []command.Statement{{SQL: sql}}})
	if err != nil || res[0].Error != "" {
		t.Fatalf("%s: %v %s", sql, err, res[0].Error)
	}
	return res[0].Rows[0][0].(int64)
}

func TestNode_ExecuteAssignsLSNAndGTID(t *testing.T) {
	n := openNode(t, t.TempDir(), nil)
	r1 := execOK(t, n, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	r2 := execOK(t, n, "INSERT INTO t(v) VALUES('a')")
	if r1.GTID.Seq != 1 || r2.GTID.Seq != 2 || r1.GTID.Origin != n.UUID() {
		t.Fatalf("gtids %v %v", r1.GTID, r2.GTID)
	}
	if !(r1.LSN > 0 && r2.LSN > r1.LSN) || r2.LSN != n.Log().End() {
		t.Fatalf("lsns %v %v, log end %v", r1.LSN, r2.LSN, n.Log().End())
	}
	// A request that changes nothing writes no record.
	r3 := execOK(t, n, "UPDATE t SET v = 'a' WHERE id = 99")
	if !r3.GTID.IsZero() || r3.LSN != 0 || n.Log().End() != r2.LSN {
		t.Fatalf("no-op write got gtid %v lsn %v", r3.GTID, r3.LSN)
	}
}

func TestNode_ConcurrentWritersGroupCommit(t *testing.T) {
	n := openNode(t, t.TempDir(), nil)
	execOK(t, n, "CREATE TABLE t(id INTEGER PRIMARY KEY, w INTEGER)")
	const writers, each = 8, 50
	var wg sync.WaitGroup
	seqs := make(chan uint64, writers*each)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				resp, err := n.Execute(context.Background(), &command.ExecuteRequest{Statements: []command.Statement{
					{SQL: "INSERT INTO t VALUES(?, ?)", Args: []any{int64(w*1000 + i), int64(w)}}}})
				if err != nil || resp.Results[0].Error != "" {
					errs <- fmt.Errorf("%v %+v", err, resp)
					return
				}
				seqs <- resp.GTID.Seq
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(seqs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("GTID sequence %d handed out twice", s)
		}
		seen[s] = true
	}
	for s := uint64(2); s <= writers*each+1; s++ {
		if !seen[s] {
			t.Fatalf("GTID sequence %d missing: sequences must have no gaps", s)
		}
	}
	if got := count(t, n, "SELECT count(*) FROM t"); got != writers*each {
		t.Fatalf("rows = %d", got)
	}
	st, _ := n.Status(context.Background())
	if b := st.(*Status).Writer.Batches; b == 0 || b > writers*each+1 {
		t.Fatalf("batches = %d", b)
	}
}

func TestNode_RestartKeepsDataAndSequence(t *testing.T) {
	dir := t.TempDir()
	n := openNode(t, dir, nil)
	execOK(t, n, "CREATE TABLE t(id INTEGER PRIMARY KEY)", "INSERT INTO t VALUES(1)")
	off, err := n.Execute(context.Background(), &command.ExecuteRequest{Commit: command.CommitOff,
		Statements: []command.Statement{{SQL: "INSERT INTO t VALUES(2)"}}})
	if err != nil || off.Results[0].Error != "" || off.GTID.Seq != 2 {
		t.Fatalf("commit=off: %v %+v", err, off)
	}
	uuid := n.UUID()
	n.Close()

	n2 := openNode(t, dir, nil)
	if n2.UUID() != uuid {
		t.Fatal("node UUID changed across restart")
	}
	if got := count(t, n2, "SELECT count(*) FROM t"); got != 2 {
		t.Fatalf("rows after restart = %d", got)
	}
	r := execOK(t, n2, "INSERT INTO t VALUES(3)")
	if r.GTID.Seq != 3 {
		t.Fatalf("sequence after restart = %d, want 3", r.GTID.Seq)
	}
}

// Records in the log but not in SQLite (a crash between the log fsync and
// the SQLite commit) are applied at start.
func TestNode_RecoversRecordsMissingFromSQLite(t *testing.T) {
	dir := t.TempDir()
	n := openNode(t, dir, nil)
	execOK(t, n, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	execOK(t, n, "INSERT INTO t VALUES(1, 'kept')")
	want, err := n.DB().Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n.Close()

	// Simulate the crash window: a fresh database that has seen nothing.
	for _, f := range []string{"db.sqlite", "db.sqlite-wal", "db.sqlite-shm"} {
		if err := removeIfExists(dir + "/" + f); err != nil {
			t.Fatal(err)
		}
	}
	n2 := openNode(t, dir, nil)
	got, err := n2.DB().Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatal("database rebuilt from the log differs")
	}
	st, _ := n2.Status(context.Background())
	if rec := st.(*Status).Recovery; rec.Applied != 2 || rec.From != 0 || rec.To != n2.Log().End() {
		t.Fatalf("recovery = %+v", rec)
	}
	if r := execOK(t, n2, "INSERT INTO t VALUES(2, 'new')"); r.GTID.Seq != 3 {
		t.Fatalf("sequence after recovery = %d, want 3", r.GTID.Seq)
	}
}

func TestNode_WrongNodeID(t *testing.T) {
	dir := t.TempDir()
	n := openNode(t, dir, nil)
	n.Close()
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.HTTPAddr = "other", dir, ""
	_, err := Open(cfg)
	if err == nil || !strings.Contains(err.Error(), `belongs to node "n1"`) {
		t.Fatalf("err = %v", err)
	}
}

// A failed fsync stops the write path: nothing after it is acknowledged.
func TestNode_FsyncFailureStopsWrites(t *testing.T) {
	ffs := rlog.NewFaultFS(rlog.OSFS{}, 1)
	n := openNode(t, t.TempDir(), func(c *Config) { c.LogFS = ffs })
	execOK(t, n, "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	ffs.Inject(rlog.Fault{Op: rlog.OpSync, Name: "0000000000000000.seg", Nth: 1})
	_, err := n.Execute(context.Background(), &command.ExecuteRequest{Statements: []command.Statement{{SQL: "INSERT INTO t VALUES(1)"}}})
	if !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("err = %v, want ErrWriteFailed", err)
	}
	if got := count(t, n, "SELECT count(*) FROM t"); got != 0 {
		t.Fatalf("unacknowledged row visible: %d", got)
	}
	if _, err := n.Execute(context.Background(), &command.ExecuteRequest{Statements: []command.Statement{{SQL: "INSERT INTO t VALUES(2)"}}}); !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("later write err = %v", err)
	}
	if err := n.Ready(context.Background()); err == nil {
		t.Fatal("Ready after a failed fsync")
	}
}

// The HTTP API of a real node, as rqlite clients use it.
func TestNode_HTTPCompatibility(t *testing.T) {
	n := openNode(t, t.TempDir(), func(c *Config) { c.HTTPAddr = "127.0.0.1:0" })
	base := "http://" + n.HTTPAddr()
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: body %q: %v", path, b, err)
		}
		return resp.StatusCode, m
	}
	code, m := post("/db/execute", `["CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, age INTEGER)"]`)
	if code != 200 || m["gtid"] == nil || m["lsn"] == nil {
		t.Fatalf("create: %d %v", code, m)
	}
	// Positional and named parameters.
	code, m = post("/db/execute", `[["INSERT INTO foo(name, age) VALUES(?, ?)", "fiona", 20], ["INSERT INTO foo(id, name, age) VALUES(:id, :name, :age)", {"id": 5, "name": "declan", "age": 3.5}]]`)
	results := m["results"].([]any)
	if code != 200 || len(results) != 2 || results[0].(map[string]any)["last_insert_id"] != 1.0 || results[1].(map[string]any)["last_insert_id"] != 5.0 {
		t.Fatalf("params: %d %v", code, m)
	}
	// A transaction with one failing statement applies nothing.
	code, m = post("/db/execute?transaction", `[["INSERT INTO foo(id, name) VALUES(10, 'x')"], ["INSERT INTO foo(id, name) VALUES(5, 'dup')"], ["INSERT INTO foo(id, name) VALUES(11, 'y')"]]`)
	results = m["results"].([]any)
	if code != 200 || m["gtid"] != nil || !strings.Contains(fmt.Sprint(results[len(results)-1]), "UNIQUE constraint failed: foo.id") {
		t.Fatalf("failing transaction: %d %v", code, m)
	}
	if got := count(t, n, "SELECT count(*) FROM foo WHERE id IN (10, 11)"); got != 0 {
		t.Fatalf("rows from the failed transaction: %d", got)
	}
	// Query shapes: columns, types, values.
	code, m = post("/db/query", `["SELECT id, name, age FROM foo ORDER BY id"]`)
	want := `map[results:[map[columns:[id name age] types:[integer text integer] values:[[1 fiona 20] [5 declan 3.5]]]]]`
	if code != 200 || fmt.Sprint(m) != want {
		t.Fatalf("query: %d\n got %v\nwant %s", code, m, want)
	}
	// Error shapes: a statement error in its slot; a request error as a 4xx.
	code, m = post("/db/query", `["SELECT nope FROM foo"]`)
	if code != 200 || !strings.Contains(fmt.Sprint(m["results"]), "no such column: nope") {
		t.Fatalf("statement error: %d %v", code, m)
	}
	code, m = post("/db/execute", `not json`)
	if code != 400 || m["error"] == nil {
		t.Fatalf("bad json: %d %v", code, m)
	}
	code, m = post("/db/execute?commit=sometimes", `["SELECT 1"]`)
	if code != 400 || !strings.Contains(fmt.Sprint(m["error"]), "remote_apply") {
		t.Fatalf("bad commit level: %d %v", code, m)
	}
	// The unified endpoint runs reads and writes in order.
	code, m = post("/db/request", `["INSERT INTO foo(id, name) VALUES(20, 'zed')", "SELECT count(*) FROM foo"]`)
	if code != 200 || !strings.Contains(fmt.Sprint(m["results"]), "values:[[3]]") {
		t.Fatalf("request: %d %v", code, m)
	}
}

func removeIfExists(path string) error {
	err := os.Remove(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Closing a node under write load answers every write promptly: committed,
// or ErrClosed; none waits for its write timeout.
func TestNode_CloseUnderLoad(t *testing.T) {
	n := openNode(t, t.TempDir(), func(c *Config) { c.WriteTimeout = time.Minute })
	execOK(t, n, "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				_, err := n.Execute(context.Background(), &command.ExecuteRequest{Statements: []command.Statement{
					{SQL: "INSERT INTO t VALUES(?)", Args: []any{int64(w*100000 + i)}}}})
				if i == 10 {
					started <- struct{}{}
				}
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("write during close: %v", err)
					}
					return
				}
			}
		}()
	}
	for range 8 {
		<-started
	}
	start := time.Now()
	n.Close()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writes still waiting 10 s after Close")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("writers took %v to finish after Close", d)
	}
}

// The GTID sequence survives a restart even when the node's own records
// have left the log: a sequence number is never handed out twice.
func TestNode_SequenceSurvivesTrimmedLog(t *testing.T) {
	dir := t.TempDir()
	n := openNode(t, dir, func(c *Config) { c.SegmentSize, c.LogRetainBytes = 4096, 0 })
	execOK(t, n, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	pad := strings.Repeat("x", 500)
	var last uint64
	for i := range 60 {
		last = execOK(t, n, fmt.Sprintf("INSERT INTO t VALUES(%d, '%s')", i, pad)).GTID.Seq
	}
	deadline := time.Now().Add(10 * time.Second)
	for n.Log().First() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the log was never trimmed")
		}
		time.Sleep(10 * time.Millisecond) // poll the maintenance goroutine's trim, bounded by the deadline
	}
	n.Close()
	n2 := openNode(t, dir, func(c *Config) { c.SegmentSize, c.LogRetainBytes = 4096, 0 })
	// The meta row keeps the sequence even when the log no longer has
	// this node's records.
	own, err := n2.DB().OwnSeq(context.Background())
	if err != nil || own != last {
		t.Fatalf("own seq = %d, %v; want %d", own, err, last)
	}
	if got := execOK(t, n2, "INSERT INTO t VALUES(1000, 'after')").GTID.Seq; got != last+1 {
		t.Fatalf("sequence after restart = %d, want %d", got, last+1)
	}
}
