package sqlitedb

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	"zombiezen.com/go/sqlite"
)

// BackupInfo describes a backup: the database it copies includes every
// transaction up to Applied.
type BackupInfo struct {
	Applied lsn.LSN
	GTID    gtid.GTID
	Bytes   int64
}

// Backup writes a consistent copy of the database file to w. It copies
// through SQLite's online backup in one step from a read transaction, so
// writers keep committing meanwhile. The copy's _tandem_meta table says
// which LSN it matches.
func (db *DB) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	tmp, err := os.CreateTemp(filepath.Dir(db.path), ".backup-*.db")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	defer os.Remove(name + "-journal")

	rc, err := db.takeRead(ctx)
	if err != nil {
		return BackupInfo{}, err
	}
	info, err := copyTo(rc.conn, name)
	db.putRead(rc)
	if err != nil {
		return BackupInfo{}, err
	}
	f, err := os.Open(name)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	info.Bytes = n
	if err != nil {
		return info, fmt.Errorf("backup: send copy: %w", err)
	}
	return info, nil
}

func copyTo(src *sqlite.Conn, path string) (BackupInfo, error) {
	dst, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: open copy: %w", err)
	}
	defer dst.Close()
	b, err := sqlite.NewBackup(dst, "main", src, "main")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if _, err := b.Step(-1); err != nil {
		b.Close()
		return BackupInfo{}, fmt.Errorf("backup: copy pages: %w", err)
	}
	if err := b.Close(); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	l, g, err := readMeta(dst)
	if err != nil {
		return BackupInfo{}, err
	}
	return BackupInfo{Applied: l, GTID: g}, nil
}
