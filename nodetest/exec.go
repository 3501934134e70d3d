package nodetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tandem-db/tandem/command"
)

// Execute runs one statement on node name at a commit level. A statement
// the node ran but that failed is an error too, with the response.
func (c *Cluster) Execute(name string, level command.CommitLevel, sql string, args ...any) (*command.ExecuteResponse, error) {
	n := c.Node(name)
	if n == nil {
		return nil, fmt.Errorf("nodetest: node %s is not running", name)
	}
	ctx, cancel := ctx()
	defer cancel()
	resp, err := n.Execute(ctx, &command.ExecuteRequest{Commit: level,
		Statements: []command.Statement{{SQL: sql, Args: args}}})
	if err != nil {
		return resp, err
	}
	for _, r := range resp.Results {
		if r.Error != "" {
			return resp, errors.New(r.Error)
		}
	}
	return resp, nil
}

// Exec runs one statement on node name at commit level local and fails
// the test if it fails.
func (c *Cluster) Exec(t testing.TB, name, sql string, args ...any) *command.ExecuteResponse {
	t.Helper()
	return c.ExecAt(t, name, command.CommitLocal, sql, args...)
}

// ExecAt runs one statement at a commit level and fails the test if it
// fails.
func (c *Cluster) ExecAt(t testing.TB, name string, level command.CommitLevel, sql string, args ...any) *command.ExecuteResponse {
	t.Helper()
	resp, err := c.Execute(name, level, sql, args...)
	if err != nil {
		t.Fatalf("nodetest: %s on %s at %s: %v", sql, name, level, err)
	}
	return resp
}

// Read runs a query request on node name.
func (c *Cluster) Read(name string, req *command.QueryRequest) ([]command.Result, error) {
	n := c.Node(name)
	if n == nil {
		return nil, fmt.Errorf("nodetest: node %s is not running", name)
	}
	ctx, cancel := ctx()
	defer cancel()
	res, err := n.Query(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		if r.Error != "" {
			return res, errors.New(r.Error)
		}
	}
	return res, nil
}

// Query runs one query on node name at read level none (local data, no
// waiting) and returns its rows; it fails the test if the query fails.
func (c *Cluster) Query(t testing.TB, name, sql string, args ...any) [][]any {
	t.Helper()
	res, err := c.Read(name, &command.QueryRequest{Level: command.ReadNone,
		Statements: []command.Statement{{SQL: sql, Args: args}}})
	if err != nil {
		t.Fatalf("nodetest: %s on %s: %v", sql, name, err)
	}
	return res[0].Rows
}

// QueryInt runs a query that returns one integer (count(*), a max...).
func (c *Cluster) QueryInt(t testing.TB, name, sql string, args ...any) int64 {
	t.Helper()
	rows := c.Query(t, name, sql, args...)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("nodetest: %s on %s: want one value, got %v", sql, name, rows)
	}
	v, ok := rows[0][0].(int64)
	if !ok && rows[0][0] != nil {
		t.Fatalf("nodetest: %s on %s: want an integer, got %T %v", sql, name, rows[0][0], rows[0][0])
	}
	return v
}
