// Package httpapi is Tandem's HTTP API: the JSON front end of a node,
// compatible with rqlite's HTTP API so that rqlite client libraries
// (gorqlite, pyrqlite, rqlite-js, ...) work unchanged.
//
// It turns HTTP requests into command requests for a Store, which the node
// implements, and turns the results back into rqlite's JSON shapes. It
// knows nothing about replication: a Store error carries its own HTTP
// status (see StatusCoder).
//
// # Endpoints
//
//	POST /db/execute    statements on the write path
//	GET  /db/query?q=   one read; POST /db/query takes a statement list
//	POST /db/request    reads and writes (rqlite's unified endpoint)
//	GET  /db/backup     the SQLite database file (?compress gzips it)
//	GET  /status        the Store's status document
//	GET  /readyz        200 "[+]node ok" or 503 "[-]node not ready: ..."
//	POST /replica/skip  ?gtid=G skips the transaction a replica stopped on
//	                    (only when the Store implements ReplicaAdmin)
//
// A statement list is a JSON array of "SQL" strings and ["SQL", args...]
// arrays, where args are positional values or one object of named values;
// see ParseStatements.
//
// # Compatibility promise
//
// Request bodies, the query parameters transaction, timings, pretty,
// associative, blob_array, level, timeout, db_timeout, q, fmt and compress,
// and the response shapes (results with last_insert_id, rows_affected,
// columns, types, values, rows, error, time) match rqlite. Zero fields are
// left out as rqlite leaves them out. Known differences:
//
//   - An error of the whole request (bad JSON, a store failure) gets a 4xx
//     or 5xx status and {"error":"..."}; rqlite often answers those with
//     200 or plain text.
//   - A flag set to false ("?transaction=false") is off; rqlite turns a flag
//     on whenever its key is present.
//   - ?queue and ?freshness are refused with 400: Tandem has no write queue
//     (group commit batches writes) and no bounded-staleness reads yet.
//     ?wait, ?redirect, ?noleader and other rqlite parameters are ignored.
//   - level=linearizable means strong; level=auto is refused.
//   - A SELECT sent to /db/execute returns its rows, like /db/request does.
//   - NaN and infinite floats are written as null, since JSON has no
//     other spelling for them.
//   - fmt=sql backups, /db/load, /nodes, /remove and auth are not served.
//
// # Extensions
//
//   - ?commit=off|local|remote_write|remote_flush|remote_apply on writes
//     chooses the transaction's commit level (see command.CommitLevel).
//   - A write response carries "lsn" (the commit LSN, a read-your-writes
//     token) and "gtid" when the request wrote something.
//   - Limits: Config.MaxBodyBytes (413) and Config.MaxStatements (400).
package httpapi
