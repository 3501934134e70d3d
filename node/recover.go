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
	if last := n.recovery.Log.Last; !last.GTID.IsZero() {
		// The log's last record carries the term and commit time to go on
		// from, whether or not SQLite has applied it.
		n.term = max(n.term, last.Term)
		n.clock.Update(last.HLC)
		if last.GTID.Origin == n.id.UUID {
			n.seq = max(n.seq, last.GTID.Seq)
		}
	}
	end := n.log.End()
	switch {
	case applied > end:
		return fmt.Errorf("database %s has applied up to LSN %s but the log ends at %s: the log lost records the database holds; restore the data dir from a backup or re-seed this node",
			n.db.Path(), applied, end)
	case applied < n.log.First():
		return fmt.Errorf("database %s has applied up to LSN %s but the log starts at %s: records in between are gone; restore the data dir from a backup or re-seed this node",
			n.db.Path(), applied, n.log.First())
	}
	if applied == end {
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
		n.term = max(n.term, rec.Term)
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
