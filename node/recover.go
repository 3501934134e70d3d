package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
	"github.com/tandem-db/tandem/sqlitedb"
)

// recoveryInfo reports what the last start did to bring SQLite up to the log.
type recoveryInfo struct {
	Log     rlog.RecoveryInfo `json:"log"`
	From    lsn.LSN           `json:"from_lsn"`
	To      lsn.LSN           `json:"to_lsn"`
	Applied int               `json:"transactions_applied"`
}

const recoveryBatch = 256

// restoreFromLog takes the term, the clock and the GTID sequence to go on
// from out of the log's last record, whether or not SQLite has applied it.
func (n *Node) restoreFromLog() {
	last := n.log.Recovered().Last
	if last.GTID.IsZero() {
		return
	}
	n.lastTerm.Store(last.Term)
	if last.Term > n.term.Load() {
		n.term.Store(last.Term)
	}
	n.clock.Update(last.HLC)
	if last.GTID.Origin == n.id.UUID {
		n.seq = max(n.seq, last.GTID.Seq)
	}
}

// recover re-applies to SQLite every record after its applied LSN, and sets
// the next GTID sequence number and term from the log.
func (n *Node) recover() error {
	ctx := context.Background()
	applied, last, err := n.db.Applied(ctx)
	if err != nil {
		return err
	}
	if last.Origin == n.id.UUID {
		n.seq = last.Seq
	}
	n.recovery = recoveryInfo{Log: n.log.Recovered(), From: applied, To: applied}
	n.restoreFromLog()
	if err := n.checkPositions(applied); err != nil {
		return err
	}
	n.visible.advance(n.log.End())
	if applied == n.log.End() {
		return nil
	}
	r, err := n.log.NewReader(applied)
	if err != nil {
		return fmt.Errorf("recover from LSN %s: %w", applied, err)
	}
	defer r.Close()
	batch := make([]sqlitedb.ApplyTxn, 0, recoveryBatch)
	flush := func() error {
		if err := n.db.Writer().Apply(batch); err != nil {
			return fmt.Errorf("recover: %w", err)
		}
		n.recovery.Applied += len(batch)
		n.recovery.To = batch[len(batch)-1].End
		batch = batch[:0]
		return nil
	}
	for {
		rec, err := r.TryNext()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("recover: read log: %w", err)
		}
		if rec.GTID.Origin == n.id.UUID && rec.GTID.Seq > n.seq {
			n.seq = rec.GTID.Seq
		}
		n.clock.Update(rec.HLC)
		batch = append(batch, sqlitedb.ApplyTxn{End: rec.End(), GTID: rec.GTID, Payload: rec.Payload})
		if len(batch) == recoveryBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	n.logger.Info("recovered database from the log", "from_lsn", n.recovery.From.String(), "to_lsn", n.recovery.To.String(),
		"transactions", n.recovery.Applied)
	return nil
}
