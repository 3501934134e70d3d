// Package payload encodes the body of a transaction's log record: the
// ordered steps that reproduce the transaction on another node.
//
//	payload:   version (0x01) | entry...
//	entry:     type | body
//	  0x01 changeset:  varint n | n bytes of SQLite changeset (package changeset)
//	  0x02 statement:  sql | args
//	  0x03 ddl:        sql | args   (a schema change; applied in order)
//	sql:       varint n | n bytes UTF-8
//	args:      varint nPositional | value... | varint nNamed | (varint n | name | value)...
//
// Values use the changeset value encoding. Entries keep the order in which
// the transaction ran them, so a DDL statement between two row changes is
// applied between them. Decoding copies everything it returns.
package payload
