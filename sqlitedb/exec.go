package sqlitedb

import (
	"fmt"
	"strings"
	"time"

	"github.com/tandem-db/tandem/command"
	"zombiezen.com/go/sqlite"
)

// stmtCache keeps a bounded number of prepared statements of one connection.
type stmtCache struct {
	conn *sqlite.Conn
	max  int
	m    map[string]*sqlite.Stmt
}

func newStmtCache(c *sqlite.Conn, max int) *stmtCache {
	return &stmtCache{conn: c, max: max, m: make(map[string]*sqlite.Stmt)}
}

// prepare returns a prepared statement for the first statement in sql and
// the text that follows it. Statements followed by more text are not cached.
func (c *stmtCache) prepare(sql string) (*sqlite.Stmt, string, bool, error) {
	if s := c.m[sql]; s != nil {
		return s, "", true, nil
	}
	s, trailing, err := c.conn.PrepareTransient(sql)
	if err != nil {
		return nil, "", false, err
	}
	rest := sql[len(sql)-trailing:]
	if strings.TrimSpace(rest) != "" || s == nil {
		return s, rest, false, nil
	}
	if len(c.m) >= c.max {
		c.clear()
	}
	c.m[sql] = s
	return s, "", true, nil
}

func (c *stmtCache) clear() {
	for k, s := range c.m {
		s.Finalize()
		delete(c.m, k)
	}
}

// release resets a statement after use, finalizing it if it is not cached.
func release(s *sqlite.Stmt, cached bool) {
	if cached {
		s.Reset()
		s.ClearBindings()
		return
	}
	s.Finalize()
}

// bind binds a statement's parameters, positional or named.
func bind(s *sqlite.Stmt, st *command.Statement) error {
	n := s.BindParamCount()
	if len(st.Named) > 0 {
		for i := 1; i <= n; i++ {
			name := s.BindParamName(i)
			if name == "" {
				return fmt.Errorf("parameter %d is positional, but the statement was given named parameters", i)
			}
			v, ok := st.Named[name[1:]]
			if !ok {
				v, ok = st.Named[name]
			}
			if !ok {
				return fmt.Errorf("missing named parameter %s", name)
			}
			if err := bindValue(s, i, v); err != nil {
				return fmt.Errorf("parameter %s: %w", name, err)
			}
		}
		return nil
	}
	if len(st.Args) != n {
		return fmt.Errorf("statement has %d parameters but %d values were given", n, len(st.Args))
	}
	for i, v := range st.Args {
		if err := bindValue(s, i+1, v); err != nil {
			return fmt.Errorf("parameter %d: %w", i+1, err)
		}
	}
	return nil
}

func bindValue(s *sqlite.Stmt, i int, v any) error {
	switch x := v.(type) {
	case nil:
		s.BindNull(i)
	case int64:
		s.BindInt64(i, x)
	case int:
		s.BindInt64(i, int64(x))
	case float64:
		s.BindFloat(i, x)
	case string:
		s.BindText(i, x)
	case []byte:
		s.BindBytes(i, x)
	case bool:
		s.BindBool(i, x)
	default:
		return fmt.Errorf("value of type %T has no SQLite type", v)
	}
	return nil
}

// step runs a bound statement to completion and fills res: rows for a
// statement with result columns, changes otherwise.
func step(c *sqlite.Conn, s *sqlite.Stmt, res *command.Result, timings bool) error {
	start := time.Time{}
	if timings {
		start = time.Now()
	}
	cols := s.ColumnCount()
	if cols > 0 {
		res.Columns = make([]string, cols)
		res.Types = make([]string, cols)
		for i := range cols {
			res.Columns[i] = s.ColumnName(i)
			res.Types[i] = strings.ToLower(declType(c, s, i))
		}
		res.Rows = [][]any{}
	}
	for {
		row, err := s.Step()
		if err != nil {
			return err
		}
		if !row {
			break
		}
		if cols == 0 {
			continue
		}
		vals := make([]any, cols)
		for i := range cols {
			vals[i] = column(s, i)
			if res.Types[i] == "" && vals[i] != nil {
				res.Types[i] = storageName(s.ColumnType(i))
			}
		}
		res.Rows = append(res.Rows, vals)
	}
	if timings {
		res.Seconds = time.Since(start).Seconds()
	}
	return nil
}

func column(s *sqlite.Stmt, i int) any {
	switch s.ColumnType(i) {
	case sqlite.TypeInteger:
		return s.ColumnInt64(i)
	case sqlite.TypeFloat:
		return s.ColumnFloat(i)
	case sqlite.TypeText:
		return s.ColumnText(i)
	case sqlite.TypeBlob:
		b := make([]byte, s.ColumnLen(i))
		s.ColumnBytes(i, b)
		return b
	default:
		return nil
	}
}

func storageName(t sqlite.ColumnType) string {
	switch t {
	case sqlite.TypeInteger:
		return "integer"
	case sqlite.TypeFloat:
		return "real"
	case sqlite.TypeText:
		return "text"
	case sqlite.TypeBlob:
		return "blob"
	}
	return ""
}
