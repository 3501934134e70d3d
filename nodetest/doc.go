// Package nodetest is Tandem's in-process cluster harness: it starts nodes
// with node.Open in one test process, on loopback ports, links replicas to
// their upstreams through TCP proxies the test controls, and waits for
// positions and compares contents by polling with deadlines (never by
// sleeping).
//
//	c := nodetest.NewCluster(t, nodetest.Options{})
//	c.Start(t, "n1")
//	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
//	resp := c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY)")
//	c.WaitApplied(t, "n2", resp.LSN, 5*time.Second)
//	c.Cut("n1", "n2") // ... c.Heal("n1", "n2")
//	c.WaitConverged(t, "n1", "n2")
//
// Every node gets an HTTP API and a replication server on 127.0.0.1:0 and
// the cluster secret Secret. A node whose Config.Primary names another
// member ("n1") is that member's replica: it connects to a Proxy for the
// directed link upstream->replica, which dials the upstream's current
// replication address, so the upstream may restart on another port.
//
// Invariants:
//   - Cut closes the link's proxied connections at once and refuses new
//     ones until Heal; only replication traffic crosses proxies (a
//     replica's forwarded writes go straight to the primary's HTTP API).
//   - Every node, proxy and goroutine the harness starts is stopped by
//     t.Cleanup; the package's tests check for leaks with goleak.
//   - Node logs are kept in memory and printed only when the test fails
//     (or live on stderr with NODETEST_LOG=1).
package nodetest
