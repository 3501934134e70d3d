package crashtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/hlc"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
	"github.com/tandem-db/tandem/sqlitedb"
)

// Replay compares a node's database with a replay of its log.
type Replay struct {
	// LogFirst and LogEnd bound the log; Records is how many it holds.
	LogFirst, LogEnd lsn.LSN
	Records          int
	// LogCut is set when opening the copied log cut a torn tail: the
	// node was not stopped cleanly after its last recovery.
	LogCut bool
	// NodeApplied is the applied LSN in the node's database.
	NodeApplied lsn.LSN
	// NodeChecksum and ReplayChecksum are sqlitedb checksums of the node's
	// database and of a fresh database that every log record was applied to.
	NodeChecksum, ReplayChecksum string
	// Order describes the first record out of order in the log: a GTID
	// sequence number of one origin that is not the previous one plus 1
	// (starting at 1), or an HLC that does not increase. Empty when none.
	Order string
}

// replayBatch is how many records one SQLite transaction applies.
const replayBatch = 256

// CheckReplay copies the data directory of a stopped node into scratch,
// applies every record of the copied log to a fresh database, and returns
// the checksums of that database and of the copied node database. Work
// happens on copies because opening a log may cut a torn tail.
func CheckReplay(ctx context.Context, dataDir, scratch string) (Replay, error) {
	var res Replay
	nodeDir := filepath.Join(scratch, "node")
	if err := CopyDir(dataDir, nodeDir); err != nil {
		return res, err
	}
	l, err := rlog.Open(rlog.Options{Dir: filepath.Join(nodeDir, "log"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return res, fmt.Errorf("crashtest: open copied log: %w", err)
	}
	defer l.Close()
	res.LogFirst, res.LogEnd, res.LogCut = l.First(), l.End(), l.Recovered().Cut
	if res.LogFirst != 0 {
		return res, fmt.Errorf("crashtest: log starts at LSN %s, not 0: it cannot be replayed from scratch", res.LogFirst)
	}

	nodeDB, err := sqlitedb.Open(sqlitedb.DefaultConfig(filepath.Join(nodeDir, "db.sqlite")))
	if err != nil {
		return res, fmt.Errorf("crashtest: open copied node database: %w", err)
	}
	defer nodeDB.Close()
	if res.NodeApplied, _, err = nodeDB.Applied(ctx); err != nil {
		return res, fmt.Errorf("crashtest: node database: %w", err)
	}
	if res.NodeChecksum, err = nodeDB.Checksum(ctx); err != nil {
		return res, fmt.Errorf("crashtest: node database: %w", err)
	}

	fresh, err := sqlitedb.Open(sqlitedb.DefaultConfig(filepath.Join(scratch, "replay.sqlite")))
	if err != nil {
		return res, fmt.Errorf("crashtest: create replay database: %w", err)
	}
	defer fresh.Close()
	r, err := l.NewReader(res.LogFirst)
	if err != nil {
		return res, fmt.Errorf("crashtest: read copied log: %w", err)
	}
	defer r.Close()
	var order orderCheck
	batch := make([]sqlitedb.ApplyTxn, 0, replayBatch)
	flush := func() error {
		err := fresh.Writer().Apply(batch)
		batch = batch[:0]
		return err
	}
	for {
		rec, err := r.TryNext()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("crashtest: read copied log after %d records: %w", res.Records, err)
		}
		res.Records++
		order.see(rec)
		batch = append(batch, sqlitedb.ApplyTxn{End: rec.End(), GTID: rec.GTID, Payload: rec.Payload})
		if len(batch) == replayBatch {
			if err := flush(); err != nil {
				return res, fmt.Errorf("crashtest: replay: %w", err)
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return res, fmt.Errorf("crashtest: replay: %w", err)
		}
	}
	res.Order = order.problem
	if res.ReplayChecksum, err = fresh.Checksum(ctx); err != nil {
		return res, fmt.Errorf("crashtest: replay database: %w", err)
	}
	return res, nil
}

// orderCheck finds the first record whose GTID or HLC is out of order.
type orderCheck struct {
	seqs    map[gtid.UUID]uint64
	hlc     hlc.Timestamp
	problem string
}

func (o *orderCheck) see(rec *rlog.Record) {
	if o.problem != "" {
		return
	}
	if o.seqs == nil {
		o.seqs = make(map[gtid.UUID]uint64)
	}
	if want := o.seqs[rec.GTID.Origin] + 1; rec.GTID.Seq != want {
		o.problem = fmt.Sprintf("record at LSN %s has GTID %s, want sequence number %d", rec.LSN, rec.GTID, want)
		return
	}
	o.seqs[rec.GTID.Origin] = rec.GTID.Seq
	if rec.HLC <= o.hlc {
		o.problem = fmt.Sprintf("record at LSN %s (GTID %s) has HLC %s, not after the previous record's %s", rec.LSN, rec.GTID, rec.HLC, o.hlc)
		return
	}
	o.hlc = rec.HLC
}
