package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tandem-db/tandem/gtid"
)

// identity is what a data directory says about the node that owns it.
type identity struct {
	NodeID string    `json:"node_id"`
	UUID   gtid.UUID `json:"-"`
	Raw    string    `json:"uuid"`
}

const identityFile = "node.json"

// loadIdentity reads the data directory's identity, creating it on first
// start. A directory that belongs to another node id is refused.
func loadIdentity(dir, nodeID string) (identity, error) {
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		id := identity{NodeID: nodeID, UUID: gtid.NewUUID()}
		id.Raw = id.UUID.String()
		b, _ := json.MarshalIndent(id, "", "  ")
		tmp := path + ".tmp"
		if err := writeFileSync(tmp, append(b, '\n')); err != nil {
			return identity{}, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return identity{}, fmt.Errorf("create %s: %w", path, err)
		}
		return id, syncDir(dir)
	}
	if err != nil {
		return identity{}, fmt.Errorf("read %s: %w", path, err)
	}
	var id identity
	if err := json.Unmarshal(b, &id); err != nil {
		return identity{}, fmt.Errorf("read %s: %w; the file is damaged, restore it or start with an empty data dir", path, err)
	}
	if id.UUID, err = gtid.ParseUUID(id.Raw); err != nil {
		return identity{}, fmt.Errorf("read %s: %w", path, err)
	}
	if id.NodeID != nodeID {
		return identity{}, fmt.Errorf("data dir %s belongs to node %q, not %q: start it with --node-id %s, or use another data dir", dir, id.NodeID, nodeID, id.NodeID)
	}
	return id, nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
