package sqlitedb

import (
	"fmt"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
	"zombiezen.com/go/sqlite"
)

// zombiezen.com/go/sqlite keeps the sqlite3* and sqlite3_stmt* handles
// unexported, but Tandem needs three C APIs it does not wrap: the pre-update
// hook, sqlite3_column_decltype and sqlite3_stmt_readonly. These mirrors of
// the first fields of its Conn and Stmt (v1.4.2, pinned in go.mod) reach the
// handles; checkHandle verifies the layout on every Open, so a changed
// layout fails loudly instead of corrupting memory.
type zconn struct {
	tls  *libc.TLS
	conn uintptr
}

type zstmt struct {
	conn *sqlite.Conn
	stmt uintptr
}

func connHandle(c *sqlite.Conn) (*libc.TLS, uintptr) {
	z := (*zconn)(unsafe.Pointer(c))
	return z.tls, z.conn
}

func stmtHandle(s *sqlite.Stmt) uintptr {
	return (*zstmt)(unsafe.Pointer(s)).stmt
}

// checkHandle verifies that the handle read through the mirror is the
// connection's, by asking SQLite for the file it opened.
func checkHandle(c *sqlite.Conn, path string) error {
	tls, db := connHandle(c)
	if tls == nil || db == 0 {
		return fmt.Errorf("sqlitedb: cannot reach the SQLite handle of zombiezen.com/go/sqlite; is go.mod still at v1.4.2?")
	}
	name, err := libc.CString("main")
	if err != nil {
		return err
	}
	defer libc.Xfree(tls, name)
	got := libc.GoString(lib.Xsqlite3_db_filename(tls, db, name))
	if path != "" && got != path {
		return fmt.Errorf("sqlitedb: SQLite handle check failed (file %q, want %q); zombiezen.com/go/sqlite layout changed", got, path)
	}
	s, _, err := c.PrepareTransient("SELECT 1")
	if err != nil {
		return err
	}
	defer s.Finalize()
	if lib.Xsqlite3_stmt_readonly(tls, stmtHandle(s)) != 1 {
		return fmt.Errorf("sqlitedb: statement handle check failed; zombiezen.com/go/sqlite layout changed")
	}
	return nil
}

// declType returns the declared type of a result column, "" for expressions.
func declType(c *sqlite.Conn, s *sqlite.Stmt, col int) string {
	tls, _ := connHandle(c)
	return libc.GoString(lib.Xsqlite3_column_decltype(tls, stmtHandle(s), int32(col)))
}

// readOnly reports whether a prepared statement makes no direct change.
func readOnly(c *sqlite.Conn, s *sqlite.Stmt) bool {
	tls, _ := connHandle(c)
	return lib.Xsqlite3_stmt_readonly(tls, stmtHandle(s)) != 0
}

// cFuncPointer turns a Go function into a pointer the transpiled SQLite can
// call, the way modernc.org/sqlite registers its own callbacks.
func cFuncPointer[T any](f T) uintptr {
	return *(*uintptr)(unsafe.Pointer(&struct{ f T }{f}))
}

// derefPtr reads the pointer stored at C address p.
func derefPtr(p uintptr) uintptr {
	return *(*uintptr)(unsafe.Pointer(&libc.GoBytes(p, int(unsafe.Sizeof(p)))[0]))
}

// value copies an sqlite3_value into a Go value of its storage class.
func value(tls *libc.TLS, v uintptr) any {
	switch lib.Xsqlite3_value_type(tls, v) {
	case lib.SQLITE_INTEGER:
		return int64(lib.Xsqlite3_value_int64(tls, v))
	case lib.SQLITE_FLOAT:
		return lib.Xsqlite3_value_double(tls, v)
	case lib.SQLITE_TEXT:
		p := lib.Xsqlite3_value_text(tls, v)
		n := int(lib.Xsqlite3_value_bytes(tls, v))
		if n == 0 {
			return ""
		}
		return string(libc.GoBytes(p, n))
	case lib.SQLITE_BLOB:
		n := int(lib.Xsqlite3_value_bytes(tls, v))
		b := make([]byte, n)
		if n > 0 {
			copy(b, libc.GoBytes(lib.Xsqlite3_value_blob(tls, v), n))
		}
		return b
	default:
		return nil
	}
}
