// Package chaos is Tandem's Jepsen-style fault-injection harness, behind
// `tandem chaos run`. It starts a cluster of real `tandem serve` processes
// on loopback, runs a workload against it while a seeded schedule injects
// faults, heals them, lets the cluster settle, and checks what Tandem
// promised.
//
//	workers (register | bank | set) --HTTP--> Proxy client->nX --> nX
//	n1 (primary) <--replication-- Proxy n1->nX <-- nX (replica, --primary = proxy)
//	nemesis: kill, pause, partition, latency, stall, cut, skew, disk
//	monitor: every node's /status every 100 ms, straight (not proxied)
//	checkers: lost writes, convergence, linearizability (porcupine),
//	          bank invariant, one primary per term, corruption detected
//
// Faults. A Proxy sits on every replication link (replica to upstream) and
// every client link; it drops one or both directions (a partition), holds
// bytes (a stall), delays them with seeded jitter, or closes connections (a
// cut). Processes are killed (SIGKILL, then restarted on the same data dir)
// or paused (SIGSTOP, SIGCONT). A full disk is a tmpfs data dir shrunk to
// what it holds (root only); a flipped byte goes into a record of a closed
// log segment of a stopped node, which is then started and must refuse.
// Clock skew needs a clock-offset flag that `tandem serve` does not have
// yet: the run probes `serve --help` and reports the fault as skipped
// until it exists. Nothing is faked: a fault that cannot be injected is
// reported as skipped, with the reason.
//
// Invariants:
//   - The schedule depends only on the seed, the fault kinds, the duration
//     and the topology; it is printed before the run, so --seed reproduces
//     it. The workers' choices are seeded too; timing is not.
//   - Every write transaction records its op ID in the same transaction
//     (chaos_ops, or the set's element), so a lost acknowledged write is
//     found by its absence, and a write reported failed must be absent.
//   - An op whose outcome the client did not learn is "info": it may or
//     may not have happened, and the checkers treat it so. A forwarded
//     write that a replica could not even send to the primary is a failure.
//   - Every loop is bounded in count and time; waits poll with deadlines or
//     wait on events, never sleep to synchronise. Every goroutine, process,
//     proxy and mount the harness starts is stopped before Run returns.
//   - The harness reads status, contents and final state straight from
//     each node, never through a proxy, and only after every fault is
//     healed and the cluster has converged.
//
// Failover does not exist yet (issue 4): a killed primary stays down until
// the harness restarts it, and the single-primary checker sees one primary
// in one term. Failover scenarios come with it.
package chaos
