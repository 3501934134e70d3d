package chaos

import (
	"context"
	"fmt"

	"github.com/tandem-db/tandem/client"
)

// register is reads, writes and compare-and-sets on a few keys; every
// value written is the writing op's ID, so each value is unique.
type register struct{ keys int }

func (r *register) Name() string     { return "register" }
func (r *register) Tables() []string { return []string{"reg", "chaos_ops"} }

func (r *register) Setup(ctx context.Context, c *client.Client) error {
	stmts := client.SQL("CREATE TABLE reg(k INTEGER PRIMARY KEY, v INTEGER NOT NULL)",
		"CREATE TABLE chaos_ops(id INTEGER PRIMARY KEY)")
	for k := range r.keys {
		stmts = append(stmts, client.Statement{SQL: "INSERT INTO reg(k, v) VALUES(?, 0)", Args: []any{k}})
	}
	return execAll(ctx, c, stmts...)
}

func (r *register) Do(ctx context.Context, w *worker) Op {
	key := w.rng.IntN(r.keys)
	switch p := w.rng.IntN(10); {
	case p < 5:
		t := w.any()
		op := w.begin(OpRead, t)
		op.Key = key
		if res := w.query(ctx, t, &op, "strong", client.Statement{SQL: "SELECT v FROM reg WHERE k = ?", Args: []any{key}}); res != nil {
			if len(res.Values) == 1 {
				if v, ok := res.Values[0][0].(int64); ok {
					op.Read = &v
					w.seen[key] = v
				}
			}
		}
		return op
	case p < 8:
		t := w.any()
		op := w.begin(OpWrite, t)
		op.Key, op.Value = key, op.ID
		w.exec(ctx, t, &op, []client.Statement{
			{SQL: "UPDATE reg SET v = ? WHERE k = ?", Args: []any{op.Value, key}},
			{SQL: "INSERT INTO chaos_ops(id) VALUES(?)", Args: []any{op.ID}},
		})
		if op.Result == OK {
			w.seen[key] = op.Value
		}
		return op
	default:
		t := w.any()
		op := w.begin(OpCAS, t)
		// Expect the value this worker saw last, so that some succeed.
		op.Key, op.Value, op.Expect = key, op.ID, w.seen[key]
		if resp := w.exec(ctx, t, &op, []client.Statement{
			{SQL: "UPDATE reg SET v = ? WHERE k = ? AND v = ?", Args: []any{op.Value, key, op.Expect}},
			{SQL: "INSERT INTO chaos_ops(id) VALUES(?)", Args: []any{op.ID}},
		}); resp != nil {
			op.Swapped = len(resp.Results) > 0 && resp.Results[0].RowsAffected == 1
			if op.Swapped {
				w.seen[key] = op.Value
			}
		}
		return op
	}
}

func (r *register) Final(ctx context.Context, c *client.Client) (*Final, error) {
	ids, err := presentIDs(ctx, c, "SELECT id FROM chaos_ops")
	if err != nil {
		return nil, err
	}
	return &Final{Present: ids}, nil
}

// bank is transfers between accounts, each a ?transaction request that a
// CHECK constraint aborts on an overdraft, and reads of every balance in
// one query; the total never changes.
type bank struct {
	accounts int
	initial  int64
}

func (b *bank) Name() string     { return "bank" }
func (b *bank) Tables() []string { return []string{"acct", "chaos_ops"} }

func (b *bank) Total() int64 { return int64(b.accounts) * b.initial }

func (b *bank) Setup(ctx context.Context, c *client.Client) error {
	stmts := client.SQL("CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL CHECK (bal >= 0))",
		"CREATE TABLE chaos_ops(id INTEGER PRIMARY KEY)")
	for i := range b.accounts {
		stmts = append(stmts, client.Statement{SQL: "INSERT INTO acct(id, bal) VALUES(?, ?)", Args: []any{i, b.initial}})
	}
	return execAll(ctx, c, stmts...)
}

func (b *bank) Do(ctx context.Context, w *worker) Op {
	if w.rng.IntN(10) < 4 {
		// Strong reads go through the primary; local reads show each
		// replica's own state, which must balance too.
		t, level := w.any(), "strong"
		if w.rng.IntN(2) == 0 {
			level = "none"
		}
		op := w.begin(OpBalances, t)
		if res := w.query(ctx, t, &op, level, client.Statement{SQL: "SELECT id, bal FROM acct ORDER BY id"}); res != nil {
			op.Balances = make([]int64, 0, len(res.Values))
			for _, row := range res.Values {
				v, _ := row[1].(int64)
				op.Balances = append(op.Balances, v)
			}
		}
		return op
	}
	t := w.any()
	op := w.begin(OpTransfer, t)
	op.From = w.rng.IntN(b.accounts)
	op.To = (op.From + 1 + w.rng.IntN(b.accounts-1)) % b.accounts
	op.Value = 1 + w.rng.Int64N(5)
	w.exec(ctx, t, &op, []client.Statement{
		{SQL: "UPDATE acct SET bal = bal - ? WHERE id = ?", Args: []any{op.Value, op.From}},
		{SQL: "UPDATE acct SET bal = bal + ? WHERE id = ?", Args: []any{op.Value, op.To}},
		{SQL: "INSERT INTO chaos_ops(id) VALUES(?)", Args: []any{op.ID}},
	})
	return op
}

func (b *bank) Final(ctx context.Context, c *client.Client) (*Final, error) {
	ids, err := presentIDs(ctx, c, "SELECT id FROM chaos_ops")
	if err != nil {
		return nil, err
	}
	resp, err := c.Query(ctx, client.SQL("SELECT bal FROM acct ORDER BY id"), client.QueryOptions{Level: "strong"})
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("chaos: final balances: %w", err)
	}
	f := &Final{Present: ids}
	for _, row := range resp.Results[0].Values {
		v, _ := row[0].(int64)
		f.Balances = append(f.Balances, v)
	}
	return f, nil
}

// set is unique inserts: each element is the op's ID.
type set struct{}

func (s *set) Name() string     { return "set" }
func (s *set) Tables() []string { return []string{"items"} }

func (s *set) Setup(ctx context.Context, c *client.Client) error {
	return execAll(ctx, c, client.SQL("CREATE TABLE items(id INTEGER PRIMARY KEY, worker INTEGER NOT NULL)")...)
}

func (s *set) Do(ctx context.Context, w *worker) Op {
	t := w.any()
	op := w.begin(OpAdd, t)
	op.Value = op.ID
	w.exec(ctx, t, &op, []client.Statement{{SQL: "INSERT INTO items(id, worker) VALUES(?, ?)", Args: []any{op.ID, w.id}}})
	return op
}

func (s *set) Final(ctx context.Context, c *client.Client) (*Final, error) {
	ids, err := presentIDs(ctx, c, "SELECT id FROM items")
	if err != nil {
		return nil, err
	}
	return &Final{Present: ids}, nil
}
