package sqlitedb

import (
	"fmt"
	"strings"
	"sync"

	"github.com/tandem-db/tandem/changeset"
	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// captures maps the id passed to SQLite as the hook's context to its capture.
var captures = struct {
	sync.RWMutex
	next uintptr
	m    map[uintptr]*capture
}{m: make(map[uintptr]*capture)}

// opKind says what a captured step is.
type opKind uint8

const (
	opRow  opKind = iota + 1 // a row change seen by the pre-update hook
	opStmt                   // a write statement, as run
	opDDL                    // a schema change, as run
)

// op is one captured step of a client transaction, in execution order.
type op struct {
	kind     opKind
	table    *tableInfo
	change   changeset.Op
	old, new []any
	sql      string
	args     []any
	named    map[string]any
}

// capture collects the row changes the writer connection makes while a
// client transaction runs. The pre-update hook feeds it; it costs a few
// microseconds per row, where a SQLite session costs 75-110 µs per
// changeset (see docs/ARCHITECTURE.md).
type capture struct {
	id     uintptr
	tls    *libc.TLS
	pp     uintptr // sqlite3_value** scratch, C memory
	active bool
	schema *schema
	byPtr  map[uintptr]*tableInfo // table name pointer -> info, valid until the schema changes
	ops    []op
	err    error // first error the hook met in the current statement
	noPK   string
	rows   int // direct row changes in the current statement
}

func newCapture(tls *libc.TLS, s *schema) *capture {
	c := &capture{tls: tls, schema: s, byPtr: make(map[uintptr]*tableInfo)}
	c.pp = libc.Xmalloc(tls, 8)
	captures.Lock()
	captures.next++
	c.id = captures.next
	captures.m[c.id] = c
	captures.Unlock()
	return c
}

func (c *capture) close() {
	captures.Lock()
	delete(captures.m, c.id)
	captures.Unlock()
	if c.pp != 0 {
		libc.Xfree(c.tls, c.pp)
		c.pp = 0
	}
}

// schemaChanged drops cached table pointers; SQLite may reuse them.
func (c *capture) schemaChanged() { clear(c.byPtr) }

func preupdateTrampoline(tls *libc.TLS, pCtx uintptr, db uintptr, op int32, zDb uintptr, zName uintptr, iKey1, iKey2 int64) {
	captures.RLock()
	c := captures.m[pCtx]
	captures.RUnlock()
	if c == nil || !c.active {
		return
	}
	c.onChange(tls, db, op, zDb, zName)
}

func (c *capture) onChange(tls *libc.TLS, db uintptr, code int32, zDb, zName uintptr) {
	if c.err != nil {
		return
	}
	if lib.Xsqlite3_preupdate_depth(tls, db) > 0 {
		// Trigger and foreign-key action effects: the same triggers and
		// actions run again wherever the change is applied.
		return
	}
	t := c.byPtr[zName]
	if t == nil {
		if libc.GoString(zDb) != "main" {
			return // temp tables are not replicated
		}
		name := libc.GoString(zName)
		t = c.schema.tables[name]
		if t == nil {
			switch {
			case strings.HasPrefix(name, "sqlite_"):
				t = &tableInfo{name: name, internal: true}
			default:
				c.err = fmt.Errorf("table %s is not in the captured schema; this is a bug in Tandem", name)
				return
			}
		}
		c.byPtr[zName] = t
	}
	switch {
	case t.internal:
		return
	case t.reserved:
		c.err = fmt.Errorf("%w: table %s belongs to Tandem", ErrReserved, t.name)
		return
	case !t.table.HasPK():
		c.rows++
		if c.noPK == "" {
			c.noPK = t.name
		}
		return
	}
	n := int(lib.Xsqlite3_preupdate_count(tls, db))
	if n != t.table.NumCols() {
		c.err = fmt.Errorf("%w: table %s has %d stored columns but the schema lists %d (generated columns are not replicated yet)",
			ErrUnsupported, t.name, n, t.table.NumCols())
		return
	}
	o := op{kind: opRow, table: t, change: changeset.Op(code)}
	if code != lib.SQLITE_INSERT {
		o.old = c.row(tls, db, n, false)
	}
	if code != lib.SQLITE_DELETE {
		o.new = c.row(tls, db, n, true)
	}
	c.rows++
	c.ops = append(c.ops, o)
}

func (c *capture) row(tls *libc.TLS, db uintptr, n int, isNew bool) []any {
	row := make([]any, n)
	for i := range row {
		if isNew {
			lib.Xsqlite3_preupdate_new(tls, db, int32(i), c.pp)
		} else {
			lib.Xsqlite3_preupdate_old(tls, db, int32(i), c.pp)
		}
		row[i] = value(tls, derefPtr(c.pp))
	}
	return row
}
