package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
	"github.com/tandem-db/tandem/sqlitedb"
)

// Rewind takes this replica back to LSN to, the point where its log forked
// from its upstream's history (the upstream names it when it refuses the
// replica as diverged): transactions after it that the database applied
// are undone with their inverted changesets, the log is cut at to, and
// every discarded transaction is written to
// DATA_DIR/lost-transactions/<term>-<lsn>.jsonl for the operator. Then the
// replica streams again from to. A statement-format record after to cannot
// be undone: the rewind is refused and the replica must re-seed.
func (n *Node) Rewind(ctx context.Context, to lsn.LSN) (string, error) {
	n.promoteMu.Lock()
	defer n.promoteMu.Unlock()
	if !n.isReplica() || !n.isReady() {
		return "", &promoteError{"rewind: only a running replica can be rewound (restart a diverged ex-primary with --primary first)"}
	}
	if to < n.log.First() || to > n.log.End() {
		return "", &promoteError{fmt.Sprintf("rewind: LSN %s is outside this node's log (%s..%s)", to, n.log.First(), n.log.End())}
	}
	txns, err := n.readFrom(to)
	if err != nil {
		return "", &promoteError{fmt.Sprintf("rewind: %v (is %s a record boundary of this log?)", err, to)}
	}
	n.stopClient()
	<-n.clientDone
	n.stopApplier()
	<-n.applierDone
	restart := func() error {
		n.applierP.Store(newApplier(n, n.appliedFromDB(), n.cfg.ApplyDelay))
		actx, cancel := context.WithCancel(n.ctx)
		n.stopApplier, n.applierDone = cancel, make(chan struct{})
		a, done := n.app(), n.applierDone
		n.goFunc(func() { defer close(done); a.run(actx) })
		return n.startClient()
	}

	applied := n.appliedFromDB()
	var undo, drop []sqlitedb.ApplyTxn
	for _, t := range txns {
		if t.End <= applied {
			undo = append(undo, t)
		} else {
			drop = append(drop, t)
		}
	}
	forkGTID, err := n.gtidEndingAt(to)
	if err != nil {
		restart()
		return "", err
	}
	lost, err := n.db.Writer().Rewind(undo, to, forkGTID)
	if err != nil {
		if rerr := restart(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return "", fmt.Errorf("rewind refused, nothing changed: %w", err)
	}
	for _, t := range drop {
		lt, err := sqlitedb.DescribeTxn(t)
		if err != nil {
			return "", err
		}
		lost = append(lost, lt)
	}
	path, err := n.writeLost(to, lost)
	if err != nil {
		return "", err
	}
	if err := n.log.TruncateAfter(to); err != nil {
		return "", fmt.Errorf("rewind: cut the log at %s: %w; the database is rewound, restart the node", to, err)
	}
	last, err := n.lastTermBefore(to)
	if err != nil {
		return "", err
	}
	if err := n.terms.cut(to, last); err != nil {
		return "", fmt.Errorf("rewind: %w", err)
	}
	n.lastTerm.Store(last)
	if err := restart(); err != nil {
		return "", err
	}
	n.history = append(n.history, roleEvent{At: time.Now().UTC(), Kind: "rewind", Term: n.term.Load(), LSN: to,
		Reason: fmt.Sprintf("%d transactions discarded, listed in %s", len(lost), path)})
	n.logger.Warn("rewound to the fork point", "lsn", to.String(), "discarded", len(lost), "file", path)
	return fmt.Sprintf("rewound to LSN %s: %d transactions discarded and listed in %s; streaming again", to, len(lost), path), nil
}

// readFrom reads the records from at to the end of the log.
func (n *Node) readFrom(at lsn.LSN) ([]sqlitedb.ApplyTxn, error) {
	r, err := n.log.NewReader(at)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []sqlitedb.ApplyTxn
	for {
		rec, err := r.TryNext()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sqlitedb.ApplyTxn{End: rec.End(), GTID: rec.GTID, Payload: rec.Payload})
	}
}

// scan calls f for every record of the retained log, oldest first.
func (n *Node) scan(f func(*rlog.Record) bool) error {
	r, err := n.log.NewReader(n.log.First())
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		rec, err := r.TryNext()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if !f(rec) {
			return nil
		}
	}
}

// gtidEndingAt is the GTID of the record that ends at at (zero at the
// log's start).
func (n *Node) gtidEndingAt(at lsn.LSN) (gtid.GTID, error) {
	var g gtid.GTID
	err := n.scan(func(r *rlog.Record) bool {
		if r.End() == at {
			g = r.GTID
		}
		return r.End() < at
	})
	return g, err
}

// lastTermBefore is the term of the record that ends at at, 0 if none.
func (n *Node) lastTermBefore(at lsn.LSN) (uint64, error) {
	var t uint64
	err := n.scan(func(r *rlog.Record) bool {
		if r.End() <= at {
			t = r.Term
		}
		return r.End() < at
	})
	return t, err
}

func (n *Node) appliedFromDB() lsn.LSN {
	applied, _, err := n.db.Applied(n.ctx)
	if err != nil {
		pos, _ := n.app().position()
		return pos
	}
	return applied
}

// writeLost writes the discarded transactions for the operator.
func (n *Node) writeLost(to lsn.LSN, lost []sqlitedb.LostTxn) (string, error) {
	dir := filepath.Join(n.cfg.DataDir, "lost-transactions")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("%d-%016X.jsonl", n.term.Load(), uint64(to)))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := sqlitedb.WriteLostTxns(f, lost); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
