package crashtest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flipByte inverts one byte of a file and returns a function that puts it
// back.
func flipByte(t *testing.T, path string, off int64) (restore func()) {
	t.Helper()
	orig := writeByte(t, path, off, func(b byte) byte { return ^b })
	return func() { writeByte(t, path, off, func(byte) byte { return orig }) }
}

// writeByte replaces the byte at off with f of it and returns the old one.
func writeByte(t *testing.T, path string, off int64, f func(byte) byte) byte {
	t.Helper()
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	b := make([]byte, 1)
	if _, err := file.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	old := b[0]
	if _, err := file.WriteAt([]byte{f(old)}, off); err != nil {
		t.Fatal(err)
	}
	return old
}

// wantRefused starts the node and requires it to exit with an error whose
// text holds every string in want, leaving the segment file untouched.
func (n *node) wantRefused(segPath string, want ...string) {
	n.t.Helper()
	before, err := os.ReadFile(segPath)
	if err != nil {
		n.t.Fatal(err)
	}
	p, err := n.tryStart()
	if err == nil {
		n.proc = p
		n.t.Fatalf("the node started on a corrupt log and serves %d rows; want it to refuse (%s)", len(n.rows()), strings.Join(want, "; "))
	}
	var se *StartError
	if !errors.As(err, &se) {
		n.t.Fatalf("start: %v; want the node to exit with an error", err)
	}
	if se.ExitCode == 0 {
		n.t.Errorf("exit code 0; want non-zero")
	}
	if strings.Contains(se.Stderr, "serving HTTP API") {
		n.t.Errorf("the node served HTTP before it refused:\n%s", Tail(se.Stderr, 2048))
	}
	for _, w := range want {
		if !strings.Contains(se.Stderr, w) {
			n.t.Errorf("stderr lacks %q:\n%s", w, Tail(se.Stderr, 2048))
		}
	}
	after, err := os.ReadFile(segPath)
	if err != nil {
		n.t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		n.t.Errorf("the refused start changed %s: %d bytes before, %d after", filepath.Base(segPath), len(before), len(after))
	}
}

// TestCrash_CorruptMiddle flips one byte of a record that valid records
// follow: the node must refuse to start, naming the segment and the LSN,
// and must not change the log.
func TestCrash_CorruptMiddle(t *testing.T) {
	// Small segments, and enough rows for at least 4 of them with at least
	// 3 records in the last.
	src := newNode(t, "--segment-size", "4096")
	src.start()
	src.writeRows(true, 1, 2)
	next := int64(2)
	for ; next < 2000; next++ {
		segs, err := Segments(src.dataDir)
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) >= 4 {
			if frames, err := Frames(segs[len(segs)-1]); err == nil && len(frames) >= 3 {
				break
			}
		}
		src.writeRows(false, next, next+1)
	}
	src.stop()
	segs, err := Segments(src.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 4 {
		t.Fatalf("%d segments after %d rows; want at least 4", len(segs), next-1)
	}
	rows := span(1, next)
	t.Logf("%d rows in %d segments", len(rows), len(segs))

	// copyOf gives each case its own copy of the data dir.
	copyOf := func(t *testing.T) *node {
		n := newNodeAt(t, filepath.Join(t.TempDir(), "data"), src.args...)
		if err := CopyDir(src.dataDir, n.dataDir); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("earlier_segment", func(t *testing.T) {
		n := copyOf(t)
		segs, _ := Segments(n.dataDir)
		seg := segs[1]
		frames, err := Frames(seg)
		if err != nil || len(frames) < 2 {
			t.Fatalf("frames of %s: %d, %v", seg.Name, len(frames), err)
		}
		bad := frames[1]
		restore := flipByte(t, seg.Path, bad.Offset+int64(bad.Size)-10)
		n.wantRefused(seg.Path, "corrupt log", "segment "+seg.Name, "LSN "+bad.LSN.String(), "CRC mismatch")
		restore()
		n.start()
		n.wantRows(rows)
	})

	t.Run("last_segment_middle", func(t *testing.T) {
		n := copyOf(t)
		segs, _ := Segments(n.dataDir)
		seg := segs[len(segs)-1]
		frames, err := Frames(seg)
		if err != nil || len(frames) < 3 {
			t.Fatalf("frames of %s: %d, %v", seg.Name, len(frames), err)
		}
		bad := frames[len(frames)/2]
		restore := flipByte(t, seg.Path, bad.Offset+int64(bad.Size)-10)
		n.wantRefused(seg.Path, "corrupt log", "segment "+seg.Name, "LSN "+bad.LSN.String(), "valid records follow it")
		restore()
		n.start()
		n.wantRows(rows)
		n.stop()
		n.checkReplay()
	})

	t.Run("first_segment_header", func(t *testing.T) {
		n := copyOf(t)
		segs, _ := Segments(n.dataDir)
		seg := segs[0]
		restore := flipByte(t, seg.Path, 14) // inside the header's first LSN
		n.wantRefused(seg.Path, "corrupt log", "segment "+seg.Name, "LSN "+seg.First.String(), "bad segment header")
		restore()
		n.start()
		n.wantRows(rows)
	})
}
