// Package lsn defines the log sequence number, Tandem's position type.
//
// An LSN is a byte position in a node's replication log stream. The first
// record of a log starts at LSN 0; a record that starts at LSN L and is n
// bytes long ends at L+n, which is where the next record starts. Lag in bytes
// between two positions is a subtraction.
//
// Positions that describe progress (the applied LSN kept in SQLite's meta
// table, a write response's commit LSN, a replica's write, flush and apply
// LSN) are end positions: "every record that ends at or before this LSN is
// included". LSN 0 therefore means "nothing yet".
//
// An LSN is printed one way everywhere: two upper-case hexadecimal halves
// separated by a slash, high 32 bits then low 32 bits, the low half padded
// to eight digits ("0/0000A3F0"). Parse accepts that form and plain decimal.
package lsn
