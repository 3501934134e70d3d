package sqlitedb

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sort"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Checksum returns a digest of the schema and every row of every user
// table, read in one snapshot. Two nodes with equal content have equal
// checksums, whatever order their rows were written in.
func (db *DB) Checksum(ctx context.Context) (string, error) {
	rc, err := db.takeRead(ctx)
	if err != nil {
		return "", err
	}
	defer db.putRead(rc)
	return checksum(rc.conn)
}

func checksum(c *sqlite.Conn) (sum string, err error) {
	// One read transaction: every table from the same snapshot.
	if err := sqlitex.ExecuteTransient(c, "BEGIN", nil); err != nil {
		return "", err
	}
	defer sqlitex.ExecuteTransient(c, "ROLLBACK", nil)
	type table struct{ name, sql string }
	var tables []table
	err = sqlitex.ExecuteTransient(c, "SELECT name, sql FROM main.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_tandem\\_%' ESCAPE '\\'", &sqlitex.ExecOptions{
		ResultFunc: func(s *sqlite.Stmt) error {
			tables = append(tables, table{s.ColumnText(0), s.ColumnText(1)})
			return nil
		},
	})
	if err != nil {
		return "", fmt.Errorf("checksum: list tables: %w", err)
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i].name < tables[j].name })
	h := sha256.New()
	var buf []byte
	for _, t := range tables {
		h.Write([]byte(t.name + "\x00" + t.sql + "\x00"))
		// Hash rows in a canonical order: sorted by every column.
		q := fmt.Sprintf("SELECT * FROM main.%q ORDER BY 1", t.name)
		var rows [][]byte
		err := sqlitex.ExecuteTransient(c, q, &sqlitex.ExecOptions{
			ResultFunc: func(s *sqlite.Stmt) error {
				buf = buf[:0]
				for i := range s.ColumnCount() {
					buf = appendCanonical(buf, column(s, i))
				}
				rows = append(rows, append([]byte(nil), buf...))
				return nil
			},
		})
		if err != nil {
			return "", fmt.Errorf("checksum: read table %s: %w", t.name, err)
		}
		sort.Slice(rows, func(i, j int) bool { return string(rows[i]) < string(rows[j]) })
		for _, r := range rows {
			h.Write(r)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func appendCanonical(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 0)
	case int64:
		return binary.BigEndian.AppendUint64(append(b, 1), uint64(x))
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 2), math.Float64bits(x))
	case string:
		return append(binary.BigEndian.AppendUint32(append(b, 3), uint32(len(x))), x...)
	case []byte:
		return append(binary.BigEndian.AppendUint32(append(b, 4), uint32(len(x))), x...)
	}
	return b
}
