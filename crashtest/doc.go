// Package crashtest holds Tandem's crash-recovery tests for the single-node
// write path, and the helpers they are built on: Build compiles the tandem
// binary, Start runs `tandem serve` as a real child process and waits for
// its /readyz, Proc.Kill sends SIGKILL, and CheckReplay compares a stopped
// node's SQLite database with a replay of its replication log.
//
// The tests kill real processes on loopback and then check the promises of
// package node: every acknowledged transaction survives, every refused one
// is absent, an ambiguous one is all-or-nothing, SQLite equals a replay of
// the log, a torn log tail is cut and reported, and corruption anywhere
// else stops the node with an error that names the segment and the LSN.
//
// The helpers are meant to be reused by multi-process harnesses (chaos):
// they poll with deadlines, never sleep to synchronise, and bound every
// wait.
package crashtest
