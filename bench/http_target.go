package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/tandem-db/tandem/client"
)

// HTTPTarget drives a Tandem node (or rqlite) through its HTTP API: writes
// through /db/execute at the run's commit level, reads through /db/query
// at its read level.
//
// It sends the requests with the bench's own raw HTTP/1.1 client unless
// Config.HTTPClient is HTTPClientStd or the node's address is https, which
// the raw client does not speak; then it uses the client package. Both
// send the same bodies and judge responses the same way.
type HTTPTarget struct {
	c      *client.Client
	raw    *rawClient // nil for https
	useRaw bool
	commit string
	level  string

	// Request targets (prefix, path and query) of the raw client.
	execTarget, execTxTarget, queryTarget string
}

var _ Target = (*HTTPTarget)(nil)

// NewHTTPTarget returns a target for the node at addr ("host:port" or a
// URL) whose keep-alive pool fits clients concurrent workers.
func NewHTTPTarget(addr string, clients int) (*HTTPTarget, error) {
	c, err := client.New(addr, client.WithMaxConns(max(clients, client.DefaultMaxConns)))
	if err != nil {
		return nil, err
	}
	h := &HTTPTarget{c: c}
	h.raw, err = newRawClient(c.URL(), clients)
	switch {
	case errors.Is(err, errRawScheme):
		h.raw = nil
	case err != nil:
		return nil, err
	}
	h.useRaw = h.raw != nil
	h.setLevels("", "")
	return h, nil
}

// String returns the node's base URL.
func (h *HTTPTarget) String() string { return h.c.URL() }

// Client names the HTTP client in use: HTTPClientRaw or HTTPClientStd.
func (h *HTTPTarget) Client() string {
	if h.useRaw {
		return HTTPClientRaw
	}
	return HTTPClientStd
}

// Setup takes the HTTP client and the commit and read levels from cfg and
// creates the table.
func (h *HTTPTarget) Setup(ctx context.Context, cfg Config) error {
	h.useRaw = h.raw != nil && cfg.HTTPClient != HTTPClientStd
	h.setLevels(cfg.Commit, cfg.Level)
	if h.useRaw {
		return h.rawPost(ctx, h.execTarget, "/db/execute", func(b []byte) []byte {
			return append(append(append(b, '['), jsonCreateSQL...), ']')
		}, false)
	}
	return h.exec(ctx, client.SQL(createSQL), false)
}

// setLevels sets the commit and read levels and the raw request targets,
// whose query strings are those the client package sends.
func (h *HTTPTarget) setLevels(commit, level string) {
	h.commit, h.level = commit, level
	prefix := ""
	if h.raw != nil {
		prefix = h.raw.prefix
	}
	target := func(path string, params ...string) string {
		var q []string
		for _, p := range params {
			if p != "" {
				q = append(q, p)
			}
		}
		if len(q) == 0 {
			return prefix + path
		}
		return prefix + path + "?" + strings.Join(q, "&")
	}
	value := func(name, v string) string {
		if v == "" {
			return ""
		}
		return name + "=" + url.QueryEscape(v)
	}
	h.execTarget = target("/db/execute", value("commit", commit))
	h.execTxTarget = target("/db/execute", "transaction", value("commit", commit))
	h.queryTarget = target("/db/query", value("level", level))
}

// CountIDs counts the rows with an id in [1, hi].
func (h *HTTPTarget) CountIDs(ctx context.Context, hi int64) (int64, error) {
	if h.useRaw {
		return h.rawCountIDs(ctx, hi)
	}
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

func (h *HTTPTarget) rawCountIDs(ctx context.Context, hi int64) (int64, error) {
	var n int64
	err := h.raw.post(ctx, h.queryTarget, func(b []byte) []byte {
		return appendIntStmt(b, jsonCountIDsSQL, hi)
	}, func(status int, body []byte) error {
		if err := checkResponse("/db/query", status, body, false); err != nil {
			return err
		}
		var r struct {
			Results []struct {
				Values [][]json.RawMessage `json:"values"`
			} `json:"results"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Errorf("POST /db/query: decode response: %w", err)
		}
		if len(r.Results) != 1 || len(r.Results[0].Values) != 1 || len(r.Results[0].Values[0]) != 1 {
			return fmt.Errorf("count rows: unexpected response %s", body)
		}
		v := r.Results[0].Values[0][0]
		var err error
		if n, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return fmt.Errorf("count rows: got %s, want an integer", v)
		}
		return nil
	})
	return n, err
}

// Insert sends rows as one /db/execute request, in a transaction when
// there is more than one.
func (h *HTTPTarget) Insert(ctx context.Context, rows []Row) error {
	if h.useRaw {
		target := h.execTarget
		if len(rows) > 1 {
			target = h.execTxTarget
		}
		return h.rawPost(ctx, target, "/db/execute", func(b []byte) []byte {
			return appendInsertBody(b, rows)
		}, false)
	}
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
	if h.useRaw {
		return h.rawPost(ctx, h.queryTarget, "/db/query", func(b []byte) []byte {
			return appendIntStmt(b, jsonPointSelectSQL, id)
		}, true)
	}
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

// rawPost sends the body built by body to target through the raw client
// and checks the response with checkResponse.
func (h *HTTPTarget) rawPost(ctx context.Context, target, path string, body func([]byte) []byte, wantRow bool) error {
	return h.raw.post(ctx, target, body, func(status int, resp []byte) error {
		return checkResponse(path, status, resp, wantRow)
	})
}

// Close releases idle connections.
func (h *HTTPTarget) Close() error {
	if h.raw != nil {
		h.raw.closeIdle()
	}
	return h.c.Close()
}
