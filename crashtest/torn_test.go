package crashtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/lsn"
)

// writeRows creates table t if asked and inserts rows ids from..to-1, one
// request each, acknowledged at commit=local.
func (n *node) writeRows(create bool, from, to int64) {
	n.t.Helper()
	if create {
		n.exec(client.ExecOptions{}, client.Statement{SQL: createTable})
	}
	for id := from; id < to; id++ {
		n.exec(client.ExecOptions{Commit: "local"}, insert(id, 1, rowValue(id)))
	}
}

func rowValue(id int64) string { return fmt.Sprintf("row-%d-%s", id, strings.Repeat("v", 100)) }

// wantRows checks that table t holds exactly the rows with the given ids,
// as writeRows wrote them.
func (n *node) wantRows(ids []int64) {
	n.t.Helper()
	got := n.rows()
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
		if r, ok := got[id]; !ok {
			n.t.Errorf("row %d is missing", id)
		} else if r.V != rowValue(id) {
			n.t.Errorf("row %d = %+v, want V %q", id, r, rowValue(id))
		}
	}
	for id := range got {
		if !want[id] {
			n.t.Errorf("row %d is present, want it absent", id)
		}
	}
}

func span(from, to int64) []int64 {
	var ids []int64
	for id := from; id < to; id++ {
		ids = append(ids, id)
	}
	return ids
}

// lastSegment returns the last segment file and its record frames.
func lastSegment(t *testing.T, dataDir string) (Segment, []Frame) {
	t.Helper()
	segs, err := Segments(dataDir)
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments of %s: %v, %d found", dataDir, err, len(segs))
	}
	seg := segs[len(segs)-1]
	frames, err := Frames(seg)
	if err != nil {
		t.Fatalf("frames of the last segment before the test touched it: %v", err)
	}
	if len(frames) == 0 {
		t.Fatalf("last segment %s holds no record", seg.Name)
	}
	return seg, frames
}

// cutRecord tears frame f of a segment file as a crash inside its write
// can: the file is truncated n bytes before the record's end (which also
// drops the zeros of the preallocated space after it). It returns the
// bytes recovery will report cut: the rest of the record up to its last
// non-zero byte.
func cutRecord(t *testing.T, path string, f Frame, n int64) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := f.Offset + int64(f.Size) - n
	if err := os.Truncate(path, end); err != nil {
		t.Fatal(err)
	}
	kept := b[f.Offset:end]
	for len(kept) > 0 && kept[len(kept)-1] == 0 {
		kept = kept[:len(kept)-1]
	}
	return int64(len(kept))
}

// zeroRecordEnd overwrites the last n bytes of frame f with zeros, as a
// crash that lost the last page of a write into preallocated space
// leaves it; the file keeps its size.
func zeroRecordEnd(t *testing.T, path string, f Frame, n int64) {
	t.Helper()
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.WriteAt(make([]byte, n), f.Offset+int64(f.Size)-n); err != nil {
		t.Fatal(err)
	}
}

// snapshotDB and restoreDB copy SQLite's files of a stopped node aside and
// back. Putting back an older copy simulates what synchronous=NORMAL allows
// on power loss: SQLite loses its last commits while the log, fsynced
// before each of them, keeps them.
func snapshotDB(t *testing.T, dataDir string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"db.sqlite", "db.sqlite-wal"} {
		if _, err := os.Stat(filepath.Join(dataDir, name)); err == nil {
			if err := copyFile(filepath.Join(dataDir, name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func restoreDB(t *testing.T, snap, dataDir string) {
	t.Helper()
	for _, name := range []string{"db.sqlite", "db.sqlite-wal", "db.sqlite-shm"} {
		if err := os.Remove(filepath.Join(dataDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(snap, name)); err == nil {
			if err := copyFile(filepath.Join(snap, name), filepath.Join(dataDir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// wantCutLogged checks the node's stderr and /status report a torn tail
// cut at LSN at.
func (n *node) wantCutLogged(at lsn.LSN, bytes int64) status {
	n.t.Helper()
	stderr := n.proc.Stderr()
	if !strings.Contains(stderr, "cut torn tail") || !strings.Contains(stderr, "lsn="+at.String()) {
		n.t.Errorf("stderr does not report the cut at LSN %s (want \"cut torn tail\" and \"lsn=%s\"):\n%s", at, at, Tail(stderr, 2048))
	}
	st := n.status()
	if got := st.Recovery.Log; !got.Cut || got.CutAt != at || got.CutBytes != bytes {
		n.t.Errorf("status recovery.log: Cut=%v CutAt=%s CutBytes=%d; want true, %s, %d", got.Cut, got.CutAt, got.CutBytes, at, bytes)
	}
	return st
}

// TestCrash_TornTail tears the last record of a killed node's log, or writes
// a partial record after it, and checks what the next start does. Segment
// files are preallocated, so the damage goes at the last record's offset,
// not at the end of the file.
func TestCrash_TornTail(t *testing.T) {
	t.Run("partial_frame_never_committed", func(t *testing.T) {
		// A crash in the middle of writing a record leaves a partial frame
		// that was never fsynced, so SQLite never committed it.
		n := newNode(t)
		n.start()
		n.writeRows(true, 1, 21)
		end := n.status().Log.End
		n.kill()
		seg, frames := lastSegment(t, n.dataDir)
		last := frames[len(frames)-1]
		if last.End() != end {
			t.Fatalf("last record ends at %s, want the log end %s", last.End(), end)
		}
		garbage := binary.BigEndian.AppendUint32(nil, 500) // a 500-byte body follows...
		garbage = binary.BigEndian.AppendUint32(garbage, 0xDEADBEEF)
		garbage = append(garbage, []byte("...but the crash came after 37 bytes")...)
		// Written where the next record goes: after the last record, over
		// the zeros of the preallocated segment.
		f, err := os.OpenFile(seg.Path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(garbage, last.Offset+int64(last.Size)); err != nil {
			t.Fatal(err)
		}
		f.Close()

		n.start()
		n.wantCutLogged(end, int64(len(garbage)))
		n.wantRows(span(1, 21))
		n.writeRows(false, 21, 22)
		n.wantRows(span(1, 22))
		n.kill()
		n.start()
		n.wantRows(span(1, 22))
		n.stop()
		n.checkReplay()
	})

	t.Run("cut_record_sqlite_behind", func(t *testing.T) {
		// SQLite lost its last commits (see restoreDB) and the last log
		// record is torn: recovery re-applies what the log still has; only
		// the torn transaction is gone.
		n := newNode(t)
		n.start()
		n.writeRows(true, 1, 11)
		applied := n.status().DB.Applied
		n.kill()
		snap := snapshotDB(t, n.dataDir)
		n.start()
		n.writeRows(false, 11, 21)
		n.kill()
		restoreDB(t, snap, n.dataDir)
		seg, frames := lastSegment(t, n.dataDir)
		last := frames[len(frames)-1]
		cut := cutRecord(t, seg.Path, last, 5)

		n.start()
		st := n.wantCutLogged(last.LSN, cut)
		if st.Recovery.From != applied || st.Recovery.To != last.LSN || st.Recovery.Applied != 9 {
			t.Errorf("status recovery: from %s to %s, %d transactions; want from %s to %s, 9 transactions",
				st.Recovery.From, st.Recovery.To, st.Recovery.Applied, applied, last.LSN)
		}
		n.wantRows(span(1, 20))
		n.writeRows(false, 100, 101)
		n.wantRows(append(span(1, 20), 100))
		n.stop()
		n.checkReplay()
	})

	t.Run("cut_committed_record_refused", func(t *testing.T) {
		// SQLite committed the record that is torn (its last bytes are
		// zeros, inside the preallocated segment): the database is ahead of
		// the log. A real crash cannot do this (SQLite commits a batch only
		// after its records are fsynced); the node must refuse to start.
		n := newNode(t)
		n.start()
		n.writeRows(true, 1, 11)
		end := n.status().Log.End
		n.kill()
		seg, frames := lastSegment(t, n.dataDir)
		last := frames[len(frames)-1]
		if last.End() != end {
			t.Fatalf("last record ends at %s, want the log end %s", last.End(), end)
		}
		zeroRecordEnd(t, seg.Path, last, 3)
		torn, err := os.ReadFile(seg.Path)
		if err != nil {
			t.Fatal(err)
		}
		for attempt := 1; attempt <= 2; attempt++ {
			p, err := n.tryStart()
			if err == nil {
				n.proc = p
				t.Fatalf("start %d: the node started with a database at LSN %s and a log cut back to %s; rows: %d",
					attempt, end, last.LSN, len(n.rows()))
			}
			var se *StartError
			if !errors.As(err, &se) {
				t.Fatalf("start %d: %v; want the node to exit with an error", attempt, err)
			}
			for _, want := range []string{
				"corrupt log",
				"segment " + seg.Name,
				"LSN " + last.LSN.String(),
				"the database has already applied up to LSN " + end.String(),
				"not a torn tail",
				"restore the segment from a replica or archive",
			} {
				if !strings.Contains(se.Stderr, want) {
					t.Errorf("start %d: stderr lacks %q:\n%s", attempt, want, Tail(se.Stderr, 2048))
				}
			}
			if got, err := os.ReadFile(seg.Path); err != nil || !bytes.Equal(got, torn) {
				t.Errorf("start %d: the refused start changed segment %s (%v): %d bytes, want %d", attempt, seg.Name, err, len(got), len(torn))
			}
			if se.ExitCode == 0 || strings.Contains(se.Stderr, "serving HTTP API") {
				t.Errorf("start %d: exit code %d; the node must not serve:\n%s", attempt, se.ExitCode, Tail(se.Stderr, 2048))
			}
		}
	})
}
