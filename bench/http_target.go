package bench

import (
	"context"
	"fmt"

	"github.com/tandem-db/tandem/client"
)

// HTTPTarget drives a Tandem node (or rqlite) through its HTTP API: writes
// through /db/execute at the run's commit level, reads through /db/query
// at its read level.
type HTTPTarget struct {
	c      *client.Client
	commit string
	level  string
}

var _ Target = (*HTTPTarget)(nil)

// NewHTTPTarget returns a target for the node at addr ("host:port" or a
// URL) whose keep-alive pool fits clients concurrent workers.
func NewHTTPTarget(addr string, clients int) (*HTTPTarget, error) {
	c, err := client.New(addr, client.WithMaxConns(max(clients, client.DefaultMaxConns)))
	if err != nil {
		return nil, err
	}
	return &HTTPTarget{c: c}, nil
}

// String returns the node's base URL.
func (h *HTTPTarget) String() string { return h.c.URL() }

// Setup takes the commit and read levels from cfg and creates the table.
func (h *HTTPTarget) Setup(ctx context.Context, cfg Config) error {
	h.commit, h.level = cfg.Commit, cfg.Level
	return h.exec(ctx, client.SQL(createSQL), false)
}

// CountIDs counts the rows with an id in [1, hi].
func (h *HTTPTarget) CountIDs(ctx context.Context, hi int64) (int64, error) {
	resp, err := h.c.Query(ctx, []client.Statement{{SQL: countIDsSQL, Args: []any{hi}}}, client.QueryOptions{Level: h.level})
	if err != nil {
		return 0, err
	}
	if err := resp.Err(); err != nil {
		return 0, err
	}
	if len(resp.Results) != 1 || len(resp.Results[0].Values) != 1 || len(resp.Results[0].Values[0]) != 1 {
		return 0, fmt.Errorf("count rows: unexpected result %+v", resp.Results)
	}
	n, ok := resp.Results[0].Values[0][0].(int64)
	if !ok {
		return 0, fmt.Errorf("count rows: got %T %v, want an integer", resp.Results[0].Values[0][0], resp.Results[0].Values[0][0])
	}
	return n, nil
}

// Insert sends rows as one /db/execute request, in a transaction when
// there is more than one.
func (h *HTTPTarget) Insert(ctx context.Context, rows []Row) error {
	stmts := make([]client.Statement, len(rows))
	for i, r := range rows {
		if r.ID != 0 {
			stmts[i] = client.Statement{SQL: insertIDSQL, Args: []any{r.ID, r.K, r.V}}
		} else {
			stmts[i] = client.Statement{SQL: insertSQL, Args: []any{r.K, r.V}}
		}
	}
	return h.exec(ctx, stmts, len(rows) > 1)
}

func (h *HTTPTarget) exec(ctx context.Context, stmts []client.Statement, tx bool) error {
	resp, err := h.c.Execute(ctx, stmts, client.ExecOptions{Transaction: tx, Commit: h.commit})
	if err != nil {
		return err
	}
	return resp.Err()
}

// PointSelect reads the k and v of row id through /db/query.
func (h *HTTPTarget) PointSelect(ctx context.Context, id int64) error {
	resp, err := h.c.Query(ctx, []client.Statement{{SQL: pointSelectSQL, Args: []any{id}}}, client.QueryOptions{Level: h.level})
	if err != nil {
		return err
	}
	if err := resp.Err(); err != nil {
		return err
	}
	if len(resp.Results) != 1 || len(resp.Results[0].Values) != 1 {
		return ErrNoRow
	}
	return nil
}

// Close releases idle connections.
func (h *HTTPTarget) Close() error { return h.c.Close() }
