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
// HA mode (Config.HA, `--ha`) runs the nodes as one HA cluster instead: n1
// bootstraps it, the others join, and the cluster state names the primary.
// Every listener of every node has a proxy (nX/raft, nX/repl, nX/http: the
// addresses it advertises), and node i dials the others from its own
// loopback IP 127.0.0.(10+i) (--source-addr), so a proxy knows which node
// dialed it; a partition between nodes drops, on each side's proxies, the
// connections from the other's IP. The workload's clients come from
// 127.0.0.1 through client->nX, a path of their own. Kills, pauses and
// partitions often target "primary", resolved when injected; clients stick
// to a node and move on after an error, resending at once only a write a
// node refused unrun; the checkers follow the primary across failovers.
//
// Faults. A Proxy sits on every replication link (replica to upstream) and
// every client link; it drops one or both directions (a partition), holds
// bytes (a stall), delays them with seeded jitter, or closes connections (a
// cut). Processes are killed (SIGKILL, then restarted on the same data dir)
// or paused (SIGSTOP, SIGCONT). A full disk is a tmpfs data dir shrunk to
// what it holds (root only); a flipped byte goes into a record of a closed
// log segment of a stopped node, which is then started and must refuse.
// Clock skew restarts a node with `--clock-offset`, which the run finds in
// `serve --help`; with a binary that lacks it the fault is reported as
// skipped. Nothing is faked: a fault that cannot be injected is reported as
// skipped, with the reason.
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
// Invariants of HA mode:
//   - Partitions between nodes cut only the chosen pairs, in the chosen
//     directions, on every link between them whoever dialed (raft,
//     replication, peer HTTP: joins, positions, proposals, forwarded
//     writes); a partitioned node stays up and, unless the event says
//     Clients, reachable by the workload.
//   - Safety is judged on may_write, a node's own "I may accept writes
//     now" in /status: no term has two nodes that reported it, and no
//     monitor round finds two nodes that report it within the lease margin
//     (fencing leaves at least that gap of real time, whatever the nodes'
//     wall clocks say).
//   - At remote_flush no acknowledged write may be missing after any
//     failover; a weaker write lost by a failover must be listed in the
//     lost-transactions file of the node that rewound (only commit=off,
//     acknowledged before its fsync, may vanish unlisted in a crash).
//   - Convergence means one primary with its lease, named by every node
//     in the same term, every other node its replica, and equal contents.
package chaos
