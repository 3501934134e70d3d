package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/node"
	"github.com/tandem-db/tandem/rlog"
)

// testLog is a node's data directory whose log holds a DDL record, an
// insert and an update-plus-delete, written by a real node.
type testLog struct {
	n     *node.Node
	dir   string                     // data directory
	seg   string                     // path of the only segment
	resps []*command.ExecuteResponse // one per record, in order
}

func newTestLog(t *testing.T, format string) *testLog {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.NodeID = "n1"
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = ""
	cfg.Format = format
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	tl := &testLog{n: n, dir: cfg.DataDir, seg: filepath.Join(cfg.DataDir, "log", rlog.SegmentName(0))}
	for _, stmts := range [][]command.Statement{
		{{SQL: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"}},
		{{SQL: "INSERT INTO t (id, v) VALUES (?, ?), (?, ?)", Args: []any{int64(1), "a", int64(2), "b"}}},
		{{SQL: "UPDATE t SET v = 'c' WHERE id = 1"}, {SQL: "DELETE FROM t WHERE id = 2"}},
	} {
		resp, err := n.Execute(t.Context(), &command.ExecuteRequest{Statements: stmts, Transaction: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Results {
			if r.Error != "" {
				t.Fatalf("%s: %s", stmts[0].SQL, r.Error)
			}
		}
		tl.resps = append(tl.resps, resp)
	}
	return tl
}

// inspect runs `tandem log inspect` with args and returns its output.
func inspect(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runCommand(t, logCommand(), append([]string{"inspect"}, args...)...)
}

func runCommand(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func TestLogInspect_Text(t *testing.T) {
	tl := newTestLog(t, "row")
	before, err := os.ReadFile(tl.seg)
	if err != nil {
		t.Fatal(err)
	}
	// The node is still running: inspecting must work and change nothing.
	out, err := inspect(t, tl.dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got, want := len(lines), 2+3; got != want {
		t.Fatalf("got %d lines, want %d:\n%s", got, want, out)
	}
	end := tl.resps[2].LSN
	if got, want := lines[0], "log "+filepath.Join(tl.dir, "log")+": 1 segment, 3 records, first LSN 0/00000000, end LSN "+end.String(); got != want {
		t.Errorf("header = %q, want %q", got, want)
	}
	for i, want := range []string{
		"ddl  ", "row  ", "row  ",
	} {
		line := lines[2+i]
		if !strings.Contains(line, " "+tl.resps[i].GTID.String()+" ") || !strings.Contains(line, want) {
			t.Errorf("line %d = %q, want GTID %s and kind %q", i, line, tl.resps[i].GTID, want)
		}
	}
	for i, want := range []string{
		"CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
		"t: +2 ~0 -0",
		"t: +0 ~1 -1",
	} {
		if line := lines[2+i]; !strings.HasSuffix(line, "  "+want) {
			t.Errorf("line %d = %q, want it to end in %q", i, line, want)
		}
	}
	if !strings.HasPrefix(lines[3], tl.resps[0].LSN.String()+"  "+tl.resps[1].LSN.String()) {
		t.Errorf("line 1 = %q, want LSN %s and END %s first", lines[3], tl.resps[0].LSN, tl.resps[1].LSN)
	}
	after, err := os.ReadFile(tl.seg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("inspecting the log changed its segment file")
	}
}

func TestLogInspect_Statement(t *testing.T) {
	tl := newTestLog(t, "statement")
	out, err := inspect(t, filepath.Join(tl.dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"statement      ",
		"INSERT INTO t (id, v) VALUES (?, ?), (?, ?) [4 args]",
		"UPDATE t SET v = 'c' WHERE id = 1; DELETE FROM t WHERE id = 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestLogInspect_From(t *testing.T) {
	tl := newTestLog(t, "row")
	second := tl.resps[0].LSN // the commit LSN is the end of the record
	out, err := inspect(t, tl.dir, "--from", second.String(), "--limit", "1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, tl.resps[0].GTID.String()) || !strings.Contains(out, tl.resps[1].GTID.String()) ||
		strings.Contains(out, tl.resps[2].GTID.String()) {
		t.Errorf("--from %s --limit 1 should print only the second record:\n%s", second, out)
	}
	out, err = inspect(t, tl.dir, "--from", strconv.FormatUint(uint64(second), 10))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(out, tl.n.UUID().String()), 2; got != want {
		t.Errorf("--from %d (decimal): %d records, want %d:\n%s", second, got, want, out)
	}
	out, err = inspect(t, tl.dir, "--from", "0/XYZ")
	if err == nil {
		t.Fatalf("--from a bad LSN: no error; output:\n%s", out)
	}
	if !errors.Is(err, lsn.ErrInvalid) {
		t.Errorf("--from a bad LSN: got %v, want lsn.ErrInvalid", err)
	}

	// An LSN inside the second record is not a boundary.
	_, err = inspect(t, tl.dir, "--from", (second + 1).String())
	if !errors.Is(err, rlog.ErrNotBoundary) {
		t.Fatalf("--from inside a record: got %v, want rlog.ErrNotBoundary", err)
	}
	if got := err.Error(); !strings.Contains(got, "--from "+(second+1).String()) || !strings.Contains(got, "not a record boundary") {
		t.Errorf("error %q should name the flag, the LSN and the problem", got)
	}
	if _, err := inspect(t, tl.dir, "--from", "100000"); !errors.Is(err, rlog.ErrBeyondEnd) {
		t.Errorf("--from past the end: got %v, want rlog.ErrBeyondEnd", err)
	}
}

func TestLogInspect_JSON(t *testing.T) {
	tl := newTestLog(t, "row")
	out, err := inspect(t, tl.dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got, want := len(lines), 1+3; got != want {
		t.Fatalf("got %d lines, want %d:\n%s", got, want, out)
	}
	var h struct {
		Type     string
		First    lsn.LSN
		End      lsn.LSN
		Segments int
		Records  int
	}
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil {
		t.Fatal(err)
	}
	if got, want := h, (struct {
		Type     string
		First    lsn.LSN
		End      lsn.LSN
		Segments int
		Records  int
	}{"header", 0, tl.resps[2].LSN, 1, 3}); got != want {
		t.Errorf("header = %+v, want %+v", got, want)
	}
	var recs []recordJSON
	for _, line := range lines[1:] {
		var r recordJSON
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		recs = append(recs, r)
	}
	for i, r := range recs {
		if got, want := r.GTID, tl.resps[i].GTID; got != want {
			t.Errorf("record %d: gtid %s, want %s", i, got, want)
		}
		if got, want := r.End, tl.resps[i].LSN; got != want {
			t.Errorf("record %d: end %s, want %s", i, got, want)
		}
	}
	if got, want := recs[0].Kind, "ddl"; got != want {
		t.Errorf("record 0: kind %q, want %q", got, want)
	}
	if len(recs[0].Entries) != 1 || recs[0].Entries[0].SQL != "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" {
		t.Errorf("record 0: entries %+v, want the CREATE TABLE", recs[0].Entries)
	}
	if got, want := recs[2].Tables, []tableJSON{{"t", 0, 1, 1}}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("record 2: tables %+v, want %+v", got, want)
	}
}

// TestLogInspect_Corrupt damages the first record of a closed node's log:
// inspect must report where, exit non-zero and leave the file alone.
func TestLogInspect_Corrupt(t *testing.T) {
	tl := newTestLog(t, "row")
	if err := tl.n.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(tl.seg)
	if err != nil {
		t.Fatal(err)
	}
	b[rlog.SegmentHeaderSize+rlog.RecordOverhead+5] ^= 0xFF // inside the first payload
	if err := os.WriteFile(tl.seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := inspect(t, tl.dir)
	var ce *rlog.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *rlog.CorruptError; output:\n%s", err, out)
	}
	if got, want := ce.Segment, rlog.SegmentName(0); got != want {
		t.Errorf("segment = %s, want %s", got, want)
	}
	if got, want := ce.LSN, lsn.LSN(0); got != want {
		t.Errorf("LSN = %s, want %s", got, want)
	}
	if after, _ := os.ReadFile(tl.seg); !bytes.Equal(after, b) {
		t.Error("inspecting a corrupt log changed its segment file")
	}
}

// TestLogInspect_TornTail writes the start of a record after the last one
// (the segment is preallocated: at the log's end, not the file's):
// inspect shows the whole records, reports the tail, and does not cut it
// from the file.
func TestLogInspect_TornTail(t *testing.T) {
	tl := newTestLog(t, "row")
	end := tl.resps[2].LSN // the log's end: the position after the last commit
	if err := tl.n.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(tl.seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0, 0, 1, 0, 9, 9, 9, 9, 1}, rlog.SegmentHeaderSize+int64(end)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(tl.seg)
	out, err := inspect(t, tl.dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "note: 9 bytes after LSN " + tl.resps[2].LSN.String(); !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, tl.resps[2].GTID.String()) {
		t.Errorf("output lacks the last whole record %s:\n%s", tl.resps[2].GTID, out)
	}
	if after, _ := os.ReadFile(tl.seg); !bytes.Equal(after, before) {
		t.Error("inspecting cut the torn tail off the file")
	}
}

func TestLogInspect_NotALog(t *testing.T) {
	_, err := inspect(t, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no log segments") {
		t.Errorf("got %v, want a 'no log segments' error", err)
	}
}

func TestShortSQL(t *testing.T) {
	if got, want := shortSQL("SELECT\n  1,\t2", 80), "SELECT 1, 2"; got != want {
		t.Errorf("shortSQL = %q, want %q", got, want)
	}
	if got, want := shortSQL(strings.Repeat("é", 100), 10), "ééééééé..."; got != want {
		t.Errorf("shortSQL = %q, want %q", got, want)
	}
}

// TestReadOnlyFS_RefusesWrites: whatever rlog asks, inspect's file system
// writes nothing.
func TestReadOnlyFS_RefusesWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), rlog.SegmentName(0))
	if err := os.WriteFile(path, []byte("TNDMRLOG"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsys := newReadOnlyFS()
	if _, err := fsys.OpenFile(path+".new", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, errReadOnly) {
		t.Errorf("create: got %v, want errReadOnly", err)
	}
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, errReadOnly) {
		t.Errorf("WriteAt: got %v, want errReadOnly", err)
	}
	if _, ok := f.(rlog.Preallocator); ok {
		t.Error("a read-only file is a Preallocator")
	}
	if b, _ := os.ReadFile(path); string(b) != "TNDMRLOG" {
		t.Errorf("file is now %q", b)
	}
}
