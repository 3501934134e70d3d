// Package ha holds the cluster state that high availability rests on and
// the pure decisions made from it: who the members are, who is primary in
// which term, the primary's lease, and whom to promote when the primary is
// lost.
//
// Three layers, each usable without the others:
//
//   - The state machine (State, Command, State.Apply) is pure and
//     deterministic: no I/O, no clock; time travels inside each command,
//     set by whoever proposes it. Commands are JSON, versioned
//     ({"v":1,"type":"promote","cmd":{...}}), and validated: every replica
//     refuses the same commands with the same *CommandError. Golden tests
//     in testdata/state.txt pin the rules.
//   - Cluster (Open) runs that state machine on hashicorp/raft, with bbolt
//     stores and snapshots under DataDir/raft and a TCP transport. Apply
//     works on the raft leader only and forwards nothing: elsewhere it
//     returns a *NotLeaderError naming the leader. Every node reads its
//     local copy with State and learns of changes from WatchState and
//     WatchLeadership.
//   - The decisions are pure functions: Choose picks a failover candidate
//     from the candidates' replies (testdata/choose.txt), and LeaseTimer
//     tells the primary whether it may still write and when to renew.
//
// # Invariants
//
//   - Terms only grow, by one per Promote (the first adopts the
//     bootstrapping node's term), and TermHistory records where each began.
//   - A Promote is refused while the lease is held at the proposer's Now;
//     it clears the lease, so the new primary renews before it writes.
//   - Only the primary of the current term renews the lease, and a renewal
//     never shortens it; only its holder releases it.
//   - A primary whose LeaseTimer says !MayWrite accepts no write. With
//     clocks within LeaseMargin of each other, no two primaries accept
//     writes at once (DESIGN.md).
//   - Choose never picks the old primary, a nofailover member or a
//     non-member; under FIRST/ANY k it decides only from n-k+1 replies of
//     the n listed standbys, and only a log at least as recent, by (term,
//     LSN), as all of theirs, so it holds every acknowledged commit.
//
// # Using it from the node
//
// The node opens a Cluster beside its data; on the raft leader an HA
// manager watches the lease: when Lease.Expires passes it asks candidates
// for their flushed LSN and last term, calls Choose with Lease.FlushedLSN
// as the old primary's last known LSN, and applies a Promote of
// Decision.Primary at Term+1 and Decision.LSN. The primary owns a
// LeaseTimer: it sends Renewal commands to the leader (through the
// leader's HTTP address, from State.Members) every third of the lease,
// calls Renewed on success, checks MayWrite before it makes a batch
// visible and acknowledges it, and fails pending commit waits once
// MayWrite turns false. Every node follows State.Primary; a returning
// ex-primary finds its fork point in TermHistory and rewinds.
package ha
