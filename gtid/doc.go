// Package gtid defines global transaction identifiers.
//
// A GTID names one transaction everywhere it travels: the UUID of its origin
// node (the node where it first committed) and a sequence number that origin
// assigns, counting from 1 without gaps. It prints as "origin-uuid:seq", as
// in MySQL. GTID sets, which record what a node has executed, build on it.
package gtid
