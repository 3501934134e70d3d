// Package node is Tandem's composition root: it opens a node's data
// directory (identity, replication log, SQLite database), recovers it, runs
// the writer goroutine that owns the write path, and serves the HTTP API.
//
// The write path is log first with group commit:
//
//	client requests -> queue -> writer goroutine:
//	  BEGIN; each request in its own SAVEPOINT, captured
//	  -> one log record per request that changed something
//	  -> rlog.Append (one write) -> reply to commit=off requests
//	  -> rlog.Sync (one fsync for the whole batch)
//	  -> SQLite meta table := batch end LSN; COMMIT (synchronous=NORMAL)
//	  -> reply to each request with its commit LSN and GTID
//
// Invariants:
//   - A transaction is acknowledged at commit=local only after its record
//     is fsynced. SQLite never commits a change whose record is not durable,
//     so SQLite's applied LSN never passes the log's durable end.
//   - On start, every record after SQLite's applied LSN is re-applied, so
//     SQLite always equals a replay of the log.
//   - A failed log write or fsync stops the write path: later writes fail
//     until the node is restarted and has recovered from the log.
//   - GTID sequence numbers of one origin have no gaps.
package node
