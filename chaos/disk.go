package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tandem-db/tandem/crashtest"
)

// diskSize is the size of each node's tmpfs data dir when the disk fault
// can fill it; fullSlack is what a full disk leaves free.
const (
	diskSize  = 256 << 20
	fullSlack = 4 << 10
)

// mountData mounts a size-limited tmpfs on dir, so that a full disk can
// be made by shrinking it. It needs root (CAP_SYS_ADMIN); the error says
// why it could not.
func mountData(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("a size-limited data dir needs a tmpfs mount, which needs root; run as root to inject a full disk")
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", diskSize)); err != nil {
		return fmt.Errorf("mount -t tmpfs on %s: %w (a full disk needs CAP_SYS_ADMIN)", dir, err)
	}
	return nil
}

// unmountData undoes mountData.
func unmountData(dir string) error {
	if err := syscall.Unmount(dir, 0); err != nil {
		return fmt.Errorf("umount %s: %w", dir, err)
	}
	return nil
}

// fillDisk shrinks the tmpfs on dir to what it uses now plus fullSlack.
func fillDisk(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	used := int64(st.Blocks-st.Bfree) * st.Bsize
	size := used + fullSlack
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d", size)); err != nil {
		return 0, fmt.Errorf("remount %s with size %d: %w", dir, size, err)
	}
	return size, nil
}

// unfillDisk gives the tmpfs on dir its full size back.
func unfillDisk(dir string) error {
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d", diskSize)); err != nil {
		return fmt.Errorf("remount %s with size %d: %w", dir, diskSize, err)
	}
	return nil
}

// FlipCheck is what one flipped byte did: where it was, and how the node
// took it when it was started on the corrupt log.
type FlipCheck struct {
	Node    string `json:"node"`
	Segment string `json:"segment"`
	// LSN is the record the byte belongs to; Offset the byte's file offset.
	LSN    string `json:"lsn"`
	Offset int64  `json:"offset"`
	// Refused: the node exited before it served anything.
	Refused  bool   `json:"refused"`
	ExitCode int    `json:"exit_code,omitempty"`
	Message  string `json:"message,omitempty"`
	// Reported: the refusal says the log is corrupt and names the segment.
	Reported bool `json:"reported"`
	// Served: the node started on the corrupt log and answered /readyz.
	Served bool `json:"served"`
	// Restored: the byte was put back and the segment was otherwise
	// unchanged, so the node could be restarted.
	Restored bool   `json:"restored"`
	Note     string `json:"note,omitempty"`
}

// flipTarget picks a byte of a record in a closed segment (every segment
// but the last, which is open) of dataDir.
func flipTarget(dataDir string, rng *rand.Rand) (seg crashtest.Segment, fr crashtest.Frame, off int64, err error) {
	segs, err := crashtest.Segments(dataDir)
	if err != nil {
		return seg, fr, 0, err
	}
	closed := segs[:max(len(segs)-1, 0)]
	if len(closed) == 0 {
		return seg, fr, 0, fmt.Errorf("no closed log segment in %s yet (%d segments)", filepath.Join(dataDir, "log"), len(segs))
	}
	seg = closed[rng.IntN(len(closed))]
	frames, err := crashtest.Frames(seg)
	if err != nil {
		return seg, fr, 0, fmt.Errorf("segment %s is already bad: %w", seg.Name, err)
	}
	if len(frames) == 0 {
		return seg, fr, 0, fmt.Errorf("segment %s holds no record", seg.Name)
	}
	fr = frames[rng.IntN(len(frames))]
	return seg, fr, fr.Offset + rng.Int64N(int64(fr.Size)), nil
}

// flipByte inverts the byte at off and returns its old value.
func flipByte(path string, off int64) (byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return 0, err
	}
	old := b[0]
	if _, err := f.WriteAt([]byte{^old}, off); err != nil {
		return 0, err
	}
	return old, f.Sync()
}

// unflipByte puts old back at off if the byte is still the flipped one.
func unflipByte(path string, off int64, old byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	if b[0] != ^old {
		return fmt.Errorf("byte %d of %s changed after the flip: the node rewrote its log", off, filepath.Base(path))
	}
	if _, err := f.WriteAt([]byte{old}, off); err != nil {
		return err
	}
	return f.Sync()
}

// flipAndStart stops the node, flips a byte of a closed segment, starts
// the node and records how it took it. It leaves the node down, with the
// byte flipped; restoreFlip undoes it.
func flipAndStart(ctx context.Context, n *Node, rng *rand.Rand) (*FlipCheck, func() error, error) {
	if _, _, _, err := flipTarget(n.DataDir, rng); err != nil {
		return nil, nil, err // nothing to flip yet: leave the node alone
	}
	if err := n.Stop(); err != nil {
		return nil, nil, fmt.Errorf("stop %s: %w", n.ID, err)
	}
	seg, fr, off, err := flipTarget(n.DataDir, rng)
	if err != nil {
		return nil, nil, errors.Join(err, n.Start(ctx))
	}
	old, err := flipByte(seg.Path, off)
	if err != nil {
		return nil, nil, errors.Join(err, n.Start(ctx))
	}
	fc := &FlipCheck{Node: n.ID, Segment: seg.Name, LSN: fr.LSN.String(), Offset: off}
	restore := func() error {
		_ = n.Kill()
		if err := unflipByte(seg.Path, off, old); err != nil {
			fc.Note = err.Error()
			return err
		}
		fc.Restored = true
		return nil
	}
	err = n.Start(ctx)
	var se *StartError
	switch {
	case err == nil:
		fc.Served = true
		fc.Note = "the node started on a log with a flipped byte in a closed segment and answered /readyz"
	case errors.As(err, &se):
		fc.Refused, fc.ExitCode = true, se.ExitCode
		fc.Message = lastLineWith(se.Stderr, "corrupt")
		fc.Reported = strings.Contains(se.Stderr, "corrupt") && strings.Contains(se.Stderr, seg.Name)
	default:
		fc.Note = "start: " + err.Error()
	}
	return fc, restore, nil
}

// lastLineWith returns the last line of s that holds sub, or the last line.
func lastLineWith(s, sub string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], sub) {
			return lines[i]
		}
	}
	if len(lines) > 0 {
		return lines[len(lines)-1]
	}
	return ""
}
