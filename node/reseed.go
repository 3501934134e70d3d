package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// reseedFile marks a data dir whose copy must be replaced by a fresh seed
// at the next start; it holds why.
const reseedFile = "reseed.json"

// reseedMark is the content of reseedFile.
type reseedMark struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// requestReseed marks the data dir for a re-seed and asks the process to
// close and reopen the node (RestartRequested). The old copy is kept, set
// aside, not deleted: the operator may still want what it alone holds.
func (n *Node) requestReseed(reason string) error {
	if n.RestartReason() != "" {
		return nil // asked already
	}
	b, err := json.MarshalIndent(reseedMark{At: time.Now().UTC(), Reason: reason}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(n.cfg.DataDir, reseedFile), append(b, '\n')); err != nil {
		return fmt.Errorf("mark the data dir for a re-seed: %w", err)
	}
	n.restartOnce.Do(func() {
		n.restartReason = "re-seed: " + reason
		close(n.restart)
	})
	n.logger.Error("this node must re-seed: its copy is set aside at the next start and a fresh one taken from the primary", "reason", reason)
	return nil
}

// RestartRequested is closed when the node needs to be closed and opened
// again, to re-seed itself; RestartReason says why. `tandem serve` does
// that by itself.
func (n *Node) RestartRequested() <-chan struct{} { return n.restart }

// RestartReason says why RestartRequested was closed.
func (n *Node) RestartReason() string {
	select {
	case <-n.restart:
		return n.restartReason
	default:
		return ""
	}
}

// setAsideForReseed runs at Open: when the data dir is marked for a
// re-seed, it moves the database, the log and the term history into
// DATA_DIR/reseed-<time>/, so the node starts empty and seeds. The node's
// identity, its term and its raft state stay.
func setAsideForReseed(dir string) (string, string, error) {
	b, err := os.ReadFile(filepath.Join(dir, reseedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("read %s: %w", reseedFile, err)
	}
	var m reseedMark
	if err := json.Unmarshal(b, &m); err != nil {
		return "", "", fmt.Errorf("read %s: %w; remove the file to start without re-seeding", filepath.Join(dir, reseedFile), err)
	}
	aside := filepath.Join(dir, "reseed-"+time.Now().UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(aside, 0o755); err != nil {
		return "", "", err
	}
	for _, name := range []string{dbFile, dbFile + "-wal", dbFile + "-shm", logDir, termsFile, slotsFile} {
		err := os.Rename(filepath.Join(dir, name), filepath.Join(aside, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("set the old copy aside for a re-seed: %w", err)
		}
	}
	if err := os.Remove(filepath.Join(dir, reseedFile)); err != nil {
		return "", "", err
	}
	return aside, m.Reason, syncDir(dir)
}
