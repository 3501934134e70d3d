package sqlitedb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tandem-db/tandem/changeset"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/payload"
	"zombiezen.com/go/sqlite"
)

// ErrCannotRewind reports a transaction that cannot be undone from its
// record: statement-format records and DDL carry no before-images.
var ErrCannotRewind = errors.New("cannot rewind")

// LostTxn is a transaction a rewind undid: what the operator gets in the
// lost-transactions file, so nothing is discarded silently.
type LostTxn struct {
	GTID    string       `json:"gtid"`
	LSN     lsn.LSN      `json:"lsn"` // end LSN of its record
	Changes []LostChange `json:"changes"`
}

// LostChange is one row change of a lost transaction. Before is the row
// before the transaction (nil for an insert), After the row it wrote (nil
// for a delete); columns an update did not change are null in both.
type LostChange struct {
	Table  string `json:"table"`
	Op     string `json:"op"`
	Before []any  `json:"before,omitempty"`
	After  []any  `json:"after,omitempty"`
}

// Rewind undoes txns, the divergent tail of the log given oldest first, in
// one SQLite transaction: newest first, each by applying its inverted
// changesets, then records to and last as the applied position. This is
// how a diverged ex-primary goes back to the point where it forked from the
// new primary's history. It changes nothing and returns ErrCannotRewind
// when a transaction holds statements or DDL; a conflict (the data no
// longer matches the record) also undoes nothing.
func (w *Writer) Rewind(txns []ApplyTxn, to lsn.LSN, last gtid.GTID) ([]LostTxn, error) {
	lost := make([]LostTxn, len(txns))
	inverted := make([][][]byte, len(txns))
	for i := range txns {
		entries, err := payload.Decode(txns[i].Payload)
		if err != nil {
			return nil, fmt.Errorf("rewind %s: %w", txns[i].GTID, err)
		}
		lost[i] = LostTxn{GTID: txns[i].GTID.String(), LSN: txns[i].End}
		for _, e := range entries {
			if e.Type != payload.TypeChangeset {
				return nil, fmt.Errorf("%w: transaction %s (record ending at LSN %s) holds a %s entry (%q), which has no before-image; re-seed this node instead",
					ErrCannotRewind, txns[i].GTID, txns[i].End, e.Type, e.SQL)
			}
			if err := describeLost(&lost[i], e.Changeset); err != nil {
				return nil, fmt.Errorf("rewind %s: %w", txns[i].GTID, err)
			}
			var inv bytes.Buffer
			if err := sqlite.InvertChangeset(&inv, bytes.NewReader(e.Changeset)); err != nil {
				return nil, fmt.Errorf("rewind %s: %w", txns[i].GTID, err)
			}
			inverted[i] = append(inverted[i], inv.Bytes())
		}
	}
	if err := w.Begin(); err != nil {
		return nil, err
	}
	for i := len(txns) - 1; i >= 0; i-- {
		// A transaction's changesets are undone in reverse order too.
		for j := len(inverted[i]) - 1; j >= 0; j-- {
			if _, _, err := w.checkSchema(inverted[i][j]); err != nil {
				w.Rollback()
				return nil, &ApplyError{LSN: txns[i].End, GTID: txns[i].GTID, Err: fmt.Errorf("rewind: %w", err)}
			}
			if table, err := w.applyChangeset(inverted[i][j]); err != nil {
				w.Rollback()
				return nil, &ApplyError{LSN: txns[i].End, GTID: txns[i].GTID, Table: table, Err: fmt.Errorf("rewind: %w", err)}
			}
		}
	}
	if err := w.Commit(to, last); err != nil {
		w.Rollback()
		return nil, err
	}
	return lost, nil
}

func describeLost(lt *LostTxn, cs []byte) error {
	return changeset.Iterate(cs, func(t *changeset.Table, c *changeset.Change) error {
		lt.Changes = append(lt.Changes, LostChange{Table: t.Name, Op: c.Op.String(), Before: jsonRow(c.Old), After: jsonRow(c.New)})
		return nil
	})
}

// jsonRow turns undefined values (columns an update left alone) into null.
func jsonRow(row []any) []any {
	if row == nil {
		return nil
	}
	out := make([]any, len(row))
	for i, v := range row {
		if _, undef := v.(changeset.Undefined); !undef {
			out[i] = v
		}
	}
	return out
}

// WriteLostTxns writes lost transactions as JSON lines, one per transaction.
func WriteLostTxns(w io.Writer, lost []LostTxn) error {
	enc := json.NewEncoder(w)
	for i := range lost {
		if err := enc.Encode(&lost[i]); err != nil {
			return err
		}
	}
	return nil
}

// DescribeTxn lists a logged transaction's row changes the way Rewind
// lists what it undid, for records that are discarded without having been
// applied.
func DescribeTxn(t ApplyTxn) (LostTxn, error) {
	lt := LostTxn{GTID: t.GTID.String(), LSN: t.End}
	entries, err := payload.Decode(t.Payload)
	if err != nil {
		return lt, err
	}
	for _, e := range entries {
		if e.Type != payload.TypeChangeset {
			lt.Changes = append(lt.Changes, LostChange{Op: e.Type.String() + ": " + e.SQL})
			continue
		}
		if err := describeLost(&lt, e.Changeset); err != nil {
			return lt, err
		}
	}
	return lt, nil
}
