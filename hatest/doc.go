// Package hatest tests automatic failover (issue 4) with real processes:
// a Cluster of `tandem serve` members on fixed loopback addresses sharing a
// cluster secret, SIGKILLed and restarted on the same addresses and data
// dirs, and a bounded write Load that records every acknowledged write.
//
// Its tests are the acceptance tests of automatic failover: an acknowledged
// remote_flush write survives the SIGKILL of the primary; under async
// commit an acknowledged write is either on the new primary or in the old
// primary's lost-transactions file; a nofailover member is never promoted;
// a switchover under load loses nothing. TestRTO and TestLeaseCost measure
// recovery time and the lease's cost to write throughput, and run only when
// asked (TANDEM_RTO_ROUNDS, TANDEM_LEASE_ROUNDS; see
// bench/scripts/failover.sh).
//
// Invariants of the harness:
//
//   - A member keeps its HTTP, replication and raft addresses and its data
//     dir for the whole test: the cluster state records them. Ports are
//     picked outside the kernel's ephemeral range, so an outgoing
//     connection cannot take a killed member's port before it restarts.
//   - Nothing sleeps to synchronise: every wait polls with a deadline.
//   - A member that exits without the test stopping it fails the test
//     with its stderr.
//   - Every write of a Load inserts a row with a fresh PRIMARY KEY, so an
//     acknowledged write is checked by looking its id up, and a row nobody
//     wrote is detectable.
//   - With Options.Proxies, each member's replication address is a proxy
//     the member advertises (--repl-advertise), and each member dials from
//     its own loopback IP (--source-addr): Hold stops the stream from the
//     primary to chosen replicas, so they really fall behind (the kernel
//     would otherwise deliver what a killed primary had sent), and Cut
//     drops what was held. Raft and HTTP go direct.
//
// The binary is built once per test binary (TestMain); TANDEM_HA_BINARY
// runs a prebuilt one instead.
package hatest
