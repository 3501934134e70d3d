// Package changeset writes and reads SQLite's changeset format, so that row
// changes Tandem captures with the pre-update hook can be applied, inverted
// and conflict-checked by SQLite's own session extension
// (sqlite3changeset_apply and friends).
//
// A changeset is a sequence of table blocks. Each block starts with a table
// header and is followed by that table's changes:
//
//	table header:  'T' | varint nCol | nCol bytes PK | table name | 0x00
//	               (PK byte i is the column's 1-based position in the
//	               primary key, 0 when the column is not part of it)
//	change:        op (INSERT 0x12, UPDATE 0x17, DELETE 0x09) | indirect (0|1) | records
//	               INSERT: new record; DELETE: old record; UPDATE: old, then new
//	record:        nCol values
//	value:         0x00 undefined
//	               0x01 integer: 8 bytes big-endian two's complement
//	               0x02 real:    8 bytes big-endian IEEE 754
//	               0x03 text:    varint n | n bytes UTF-8
//	               0x04 blob:    varint n | n bytes
//	               0x05 NULL
//
// Varints are SQLite's: big-endian, 7 bits per byte with the high bit set on
// every byte but the last, and a 9th byte carrying a full 8 bits.
//
// In an UPDATE the old record holds the primary key and the old values of
// the changed columns; the new record holds the new values of the changed
// columns; every other value is undefined. An UPDATE that changes the
// primary key is written as a DELETE and an INSERT. A Builder keeps the net
// effect per row, as a SQLite session does: an INSERT then a DELETE of the
// same row leave nothing, a no-op UPDATE leaves nothing.
//
// Values are Go values of SQLite's storage classes: nil, int64, float64,
// string and []byte. Undefined is its own value, Undefined{}.
package changeset
