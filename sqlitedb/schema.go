package sqlitedb

import (
	"fmt"
	"strings"

	"github.com/tandem-db/tandem/changeset"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// metaTable holds the last applied LSN and GTID, written in the same SQLite
// transaction as the changes they describe.
const metaTable = "_tandem_meta"

// tableInfo is what capture and apply need to know of one table.
type tableInfo struct {
	name     string
	cols     []string         // column names, in table order
	table    *changeset.Table // nil for internal tables
	internal bool             // sqlite_* bookkeeping, never replicated itself
	reserved bool             // Tandem's own tables
}

// schema is the writer connection's view of the main database's tables.
type schema struct {
	tables map[string]*tableInfo
}

func loadSchema(c *sqlite.Conn) (*schema, error) {
	s := &schema{tables: make(map[string]*tableInfo)}
	var names []string
	err := sqlitex.ExecuteTransient(c, "SELECT name FROM main.sqlite_schema WHERE type = 'table'", &sqlitex.ExecOptions{
		ResultFunc: func(st *sqlite.Stmt) error {
			names = append(names, st.ColumnText(0))
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	for _, name := range names {
		ti := &tableInfo{name: name}
		switch {
		case strings.HasPrefix(name, "sqlite_"):
			ti.internal = true
		case strings.HasPrefix(name, "_tandem_"):
			ti.reserved = true
		}
		t := &changeset.Table{Name: name}
		err := sqlitex.ExecuteTransient(c, "SELECT name, pk FROM pragma_table_info(?)", &sqlitex.ExecOptions{
			Args: []any{name},
			ResultFunc: func(st *sqlite.Stmt) error {
				ti.cols = append(ti.cols, st.ColumnText(0))
				t.PK = append(t.PK, uint8(st.ColumnInt(1)))
				return nil
			},
		})
		if err != nil {
			return nil, fmt.Errorf("read columns of table %s: %w", name, err)
		}
		ti.table = t
		s.tables[name] = ti
	}
	return s, nil
}

// check verifies that a changeset's table matches the local table, because
// SQLite's apply silently skips changes for a missing table or a table with
// a different number of columns.
func (s *schema) check(t *changeset.Table) error {
	local := s.tables[t.Name]
	if local == nil || local.internal {
		return &SchemaError{Table: t.Name, Reason: "table does not exist here"}
	}
	if local.reserved {
		return &SchemaError{Table: t.Name, Reason: "table is reserved for Tandem"}
	}
	if got, want := local.table.NumCols(), t.NumCols(); got != want {
		return &SchemaError{Table: t.Name, Reason: fmt.Sprintf("change has %d columns, table here has %d", want, got)}
	}
	for i := range t.PK {
		if (t.PK[i] != 0) != (local.table.PK[i] != 0) {
			return &SchemaError{Table: t.Name, Reason: fmt.Sprintf("primary key differs at column %d", i)}
		}
	}
	return nil
}
