package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
	"github.com/tandem-db/tandem/sqlitedb"
)

const (
	dbFile   = "db.sqlite"
	logDir   = "log"
	termFile = "term"
)

// openStorage opens the database and then the log, and recovers: the
// database's applied LSN is the floor below which the log's recovery must
// not cut, and where an empty log starts (a seeded replica's log starts at
// its seed's LSN).
func (n *Node) openStorage() error {
	dbcfg := sqlitedb.DefaultConfig(filepath.Join(n.cfg.DataDir, dbFile))
	dbcfg.Format = n.format
	dbcfg.ReadConns = n.cfg.ReadConns
	db, err := sqlitedb.Open(dbcfg)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	applied, _, err := db.Applied(context.Background())
	if err != nil {
		db.Close()
		return err
	}
	lopts := rlog.DefaultOptions()
	lopts.Dir = filepath.Join(n.cfg.DataDir, logDir)
	lopts.SegmentSize = n.cfg.SegmentSize
	lopts.Logger = n.logger
	lopts.Floor = applied
	lopts.StartLSN = applied
	if n.cfg.LogFS != nil {
		lopts.FS = n.cfg.LogFS
	}
	log, err := rlog.Open(lopts)
	if err != nil {
		db.Close()
		return fmt.Errorf("open log: %w", err)
	}
	n.db, n.log = db, log
	db.Writer().SetOrigin(n.id.UUID)
	own, err := db.OwnSeq(context.Background())
	if err != nil {
		n.db, n.log = nil, nil
		db.Close()
		log.Close()
		return err
	}
	n.seq = max(n.seq, own)
	if n.isReplica() {
		// A replica's applier replays the log from the applied position
		// itself; recovery only restores the term and the clock.
		n.restoreFromLog()
		return n.checkPositions(applied)
	}
	if err := n.recover(); err != nil {
		n.db, n.log = nil, nil
		db.Close()
		log.Close()
		return err
	}
	return nil
}

// installSeed writes a base backup as the database file and opens storage
// with a log that starts at the backup's LSN.
func (n *Node) installSeed(r io.Reader, size int64, at lsn.LSN) error {
	final := filepath.Join(n.cfg.DataDir, dbFile)
	tmp := final + ".seed"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("install seed: %w", err)
	}
	written, err := io.Copy(f, r)
	if err == nil && written != size {
		err = fmt.Errorf("seed is %d bytes, upstream announced %d", written, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("install seed: %w", err)
	}
	// A stale log (from a lost slot) does not belong to the new copy.
	if err := os.RemoveAll(filepath.Join(n.cfg.DataDir, logDir)); err != nil {
		return fmt.Errorf("install seed: remove old log: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(final + suffix)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("install seed: %w", err)
	}
	if err := syncDir(n.cfg.DataDir); err != nil {
		return fmt.Errorf("install seed: %w", err)
	}
	if err := n.openStorage(); err != nil {
		return err
	}
	if got := n.log.End(); got != at {
		return fmt.Errorf("install seed: the seed's database is at LSN %s, the upstream announced %s", got, at)
	}
	n.needsSeed.Store(false)
	n.logger.Info("seed installed", "lsn", at.String(), "bytes", size)
	return n.storageReady()
}

// checkPositions refuses a data dir whose database is not covered by its log.
func (n *Node) checkPositions(applied lsn.LSN) error {
	switch end := n.log.End(); {
	case applied > end:
		return fmt.Errorf("database %s has applied up to LSN %s but the log ends at %s: the log lost records the database holds; restore the data dir from a backup or re-seed this node",
			n.db.Path(), applied, end)
	case applied < n.log.First():
		return fmt.Errorf("database %s has applied up to LSN %s but the log starts at %s: records in between are gone; restore the data dir from a backup or re-seed this node",
			n.db.Path(), applied, n.log.First())
	}
	return nil
}

// loadTerm reads the highest term this node has seen; 1 for a new node.
func loadTerm(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, termFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read term: %w", err)
	}
	t, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || t == 0 {
		return 0, fmt.Errorf("read term file %s: %q is not a positive number; fix or remove the file", filepath.Join(dir, termFile), b)
	}
	return t, nil
}

// saveTerm makes a newly seen term durable before it is acted on.
func saveTerm(dir string, t uint64) error {
	path := filepath.Join(dir, termFile)
	if err := writeFileSync(path+".tmp", []byte(strconv.FormatUint(t, 10)+"\n")); err != nil {
		return fmt.Errorf("save term: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("save term: %w", err)
	}
	return syncDir(dir)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
