// Package bench is Tandem's load generator, the engine behind `tandem bench`:
// a small pgbench for a Tandem node over HTTP, with a plain SQLite file as
// the baseline to compare against.
//
// Run drives a Target with Config.Clients workers. Each worker has its own
// math/rand/v2 source, seeded from Config.Seed and its index, and runs one
// operation (one transaction) at a time. A run always has a bound: it stops
// after Config.Duration, or after Config.Count operations have been started,
// whichever comes first; Validate refuses a run with neither.
//
// # Schema and workloads
//
// Every workload uses one table:
//
//	CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, k TEXT, v BLOB(100))
//
// The workloads:
//
//   - insert: one transaction per row, INSERT INTO bench(k, v) VALUES(?, ?),
//     k a 12-character random key and v a 100-byte value.
//   - batch: Config.BatchSize such rows in one transaction; over HTTP one
//     /db/execute request with that many statements and ?transaction.
//   - point-select: SELECT k, v FROM bench WHERE id = ?, id uniform in
//     [1, Config.Rows]; over HTTP through /db/query at Config.Level.
//   - mixed: each operation is a point-select with probability 80% and an
//     insert otherwise.
//
// The value v is a 100-character ASCII string, bound as text on both
// targets: JSON cannot carry a BLOB, and the SQLite baseline binds the same
// string so both targets write the same bytes. (The column's BLOB affinity
// stores it as given.)
//
// Setup is not timed. It creates the table and, for point-select and mixed,
// makes sure every id in [1, Rows] exists, inserting the missing ones with
// INSERT OR IGNORE in transactions of 500 rows.
//
// # HTTP clients
//
// The node and the load generator usually share a machine, so every
// microsecond of CPU the generator spends per request is taken from the
// node. By default (Config.HTTPClient "raw") the HTTP target therefore uses
// its own minimal HTTP/1.1 client: one keep-alive connection per worker,
// requests appended into a reused buffer, request bodies written by hand,
// and responses checked by a small scanner that falls back to
// encoding/json only for what is not plain success (a statement error, an
// unexpected shape), which also supplies the error message. It allocates
// nothing per request and costs well under half the CPU of "std", the
// client package (net/http and encoding/json), which stays available for
// comparison. Both send the same requests and judge responses alike: a
// status other than 200, a failed statement, or a point-select without
// exactly one row is an error. A connection that breaks fails the
// operation in flight (counted, never retried: a write may have committed)
// and the next operation dials again. The raw client speaks plain http; an
// https address uses the client package.
//
// # Results
//
// An operation that fails is counted in Report.Errors and does not stop the
// run; the first distinct messages are kept in Report.ErrorSamples.
// Latencies of successful operations go to a per-worker log-linear
// histogram (fixed size, under 1% relative error), merged at the end for
// the p50, p95 and p99 in the Report.
package bench
