// Package commitwait is the primary's commit wait for synchronous
// replication: it holds back a transaction's reply until the standbys that
// the standby config names have acknowledged its LSN at the transaction's
// commit level.
//
// Two layers, as STYLE.md #10 asks:
//
//   - The quorum math is pure. Parse reads a config in PostgreSQL's
//     synchronous_standby_names syntax ("FIRST 2 (n2,n3,n4)", "ANY 1
//     (n2,n3)"); Acked computes the LSN the configured quorum has
//     acknowledged at a level from the connected standbys' Positions, and
//     SyncStates labels each standby as pg_stat_replication does. No I/O,
//     no clock; golden tests in testdata pin the results.
//   - The Waiter is a watermark per level with subscribers. The stream
//     sender calls Update and Disconnect as standbys report; the write path
//     calls Wait after the local fsync. Waits sit in a min-heap per level,
//     and each Update recomputes the watermarks and wakes exactly the Waits
//     they cover. Nothing polls; timeouts run on an injected AfterFunc.
//
// # Invariants
//
//   - A Wait at a remote level returns a nil error without Async or
//     Degraded only if, at that moment, Acked for that level reached its
//     LSN: the quorum had written (remote_write), fsynced (remote_flush) or
//     applied (remote_apply) every record up to it.
//   - Positions are taken as reported; a standby is never credited with
//     more than it last said. A watermark may therefore go down (a sync
//     standby leaves, a reseeded one reports less); a Wait already
//     released stays released.
//   - Every Wait ends exactly once: acknowledged, degraded, timed out,
//     cancelled by its context, failed by FailAll, or closed.
//   - Degradation happens only in Fallback mode, only after a Wait timed
//     out, and ends only when the quorum has acknowledged every LSN that
//     was reported degraded (or the config becomes async or the mode
//     Strict). Each transition is logged once, with its reason.
//
// DESIGN.md beside this file says what is promised to clients and why it
// holds, and what Fallback mode gives up.
package commitwait
