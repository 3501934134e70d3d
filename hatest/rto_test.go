package hatest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/crashtest"
	"github.com/tandem-db/tandem/hatest"
)

// probe is the load of the measurements: two writers in a tight loop
// through every live member, each request bounded by a short timeout, so
// the first write a new primary can take is acknowledged at once.
func probe(c *hatest.Cluster, round int) *hatest.Load {
	return hatest.StartLoad(hatest.LoadOptions{Clients: 2, Commit: "remote_flush", Timeout: 250 * time.Millisecond,
		Duration: time.Minute, FirstID: int64(round+1) * 1_000_000, Seed: uint64(round), Targets: c.Live})
}

// TestRTO measures, over TANDEM_RTO_ROUNDS rounds on three members at
// remote_flush (ANY 1), the time from the SIGKILL of the primary to the
// first write the new primary acknowledges, and the time a switchover
// keeps writes from being acknowledged. bench/scripts/failover.sh runs it.
func TestRTO(t *testing.T) {
	n := envInt("TANDEM_RTO_ROUNDS", 0)
	if n <= 0 {
		t.Skip("TestRTO measures failover and switchover times over many rounds; run it with TANDEM_RTO_ROUNDS=10 (bench/scripts/failover.sh)")
	}
	c := startThree(t, hatest.Options{}, syncAny1, nil, nil)
	var rto, sw []time.Duration
	var swServer []string
	for round := range n {
		old := c.WaitPrimary(primaryTimeout)
		l := probe(c, 2*round)
		waitAcked(c, l, 20)
		killAt := time.Now()
		c.Kill(old)
		var first time.Time
		c.Poll(primaryTimeout, "a write acknowledged by a new primary", func() (bool, string) {
			for _, a := range l.Acks() {
				if a.At.After(killAt) && c.Origin(a.GTID) != old {
					first = a.At
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d acknowledged", l.Acked())
		})
		l.Stop()
		d := first.Sub(killAt)
		rto = append(rto, d)
		t.Logf("failover round %d: killed %s; first write acknowledged by a new primary after %v", round, old, d.Round(time.Millisecond))
		c.Restart(old)
		c.WaitConverged(convergeTimeout, hatest.Table)
	}
	for round := range n {
		old := c.WaitPrimary(primaryTimeout)
		to := c.Running()[(slices.Index(c.Running(), old)+1)%3]
		l := probe(c, 2*round+1)
		waitAcked(c, l, 20)
		msg := switchover(t, c, old, to)
		var last, first time.Time
		c.Poll(primaryTimeout, "a write acknowledged by "+to, func() (bool, string) {
			for _, a := range l.Acks() {
				switch c.Origin(a.GTID) {
				case old:
					if first.IsZero() && a.At.After(last) {
						last = a.At
					}
				case to:
					if first.IsZero() || a.At.Before(first) {
						first = a.At
					}
				}
			}
			return !first.IsZero(), fmt.Sprintf("%d acknowledged", l.Acked())
		})
		l.Stop()
		d := first.Sub(last)
		sw = append(sw, d)
		swServer = append(swServer, refusedFor(msg))
		t.Logf("switchover round %d: %s -> %s; no write acknowledged for %v; the server says %q", round, old, to, d.Round(time.Millisecond), msg)
		c.WaitConverged(convergeTimeout, hatest.Table)
	}
	t.Logf("\n| measure (%d rounds, 3 members, remote_flush ANY 1) | median | max | all |\n|---|---|---|---|\n"+
		"| SIGKILL of the primary to the first write acknowledged by the new primary | %v | %v | %v |\n"+
		"| switchover: last write acknowledged by the old primary to the first by the new | %v | %v | %v |\n"+
		"| switchover: writes refused, as the old primary reports it | | | %s |",
		n, median(rto), slices.Max(rto).Round(time.Millisecond), ms(rto), median(sw), slices.Max(sw).Round(time.Millisecond), ms(sw), strings.Join(swServer, " "))
}

func waitAcked(c *hatest.Cluster, l *hatest.Load, n int) {
	c.Poll(primaryTimeout, fmt.Sprintf("%d acknowledged writes", n), func() (bool, string) {
		k := l.Acked()
		return k >= n, fmt.Sprintf("%d acknowledged", k)
	})
}

var refusedRE = regexp.MustCompile(`refused for ([0-9.]+[a-zµ]+)`)

// refusedFor pulls "writes were refused for 44ms" out of a switchover's
// message.
func refusedFor(msg string) string {
	if m := refusedRE.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return "?"
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2].Round(time.Millisecond)
	}
	return ((s[len(s)/2-1] + s[len(s)/2]) / 2).Round(time.Millisecond)
}

func ms(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprint(d.Round(time.Millisecond)))
	}
	return strings.Join(parts, " ")
}

// TestLeaseCost measures what the lease costs steady-state writes: the
// same `tandem bench --workload insert` against a plain primary and
// against a one-member HA cluster (--raft-addr: raft, the lease and its
// renewals), alternating which runs first, over TANDEM_LEASE_ROUNDS
// rounds of TANDEM_LEASE_DURATION (5s) each.
func TestLeaseCost(t *testing.T) {
	n := envInt("TANDEM_LEASE_ROUNDS", 0)
	if n <= 0 {
		t.Skip("TestLeaseCost compares write throughput with and without the HA lease; run it with TANDEM_LEASE_ROUNDS=5 (bench/scripts/failover.sh)")
	}
	dur := "5s"
	if d := os.Getenv("TANDEM_LEASE_DURATION"); d != "" {
		dur = d
	}
	tps := map[string][]float64{}
	var rows []string
	var ratios []float64 // HA over plain, per round
	for round := range n {
		order := []string{"plain", "ha"}
		if round%2 == 1 {
			order = []string{"ha", "plain"}
		}
		got := map[string]float64{}
		for _, v := range order {
			got[v] = benchOnce(t, v, dur)
			tps[v] = append(tps[v], got[v])
		}
		ratios = append(ratios, got["ha"]/got["plain"])
		rows = append(rows, fmt.Sprintf("| %d | %s | %.0f | %.0f | %+.1f%% |", round+1, strings.Join(order, ", "), got["plain"], got["ha"],
			100*(got["ha"]/got["plain"]-1)))
	}
	mp, mh := medianF(tps["plain"]), medianF(tps["ha"])
	t.Logf("\n| round | order | plain primary tx/s | 1-member HA tx/s | HA vs plain |\n|---|---|---|---|---|\n%s\n"+
		"| median | | %.0f | %.0f | %+.1f%% (median of the rounds' ratios: %+.1f%%) |",
		strings.Join(rows, "\n"), mp, mh, 100*(mh/mp-1), 100*(medianF(ratios)-1))
}

// benchOnce starts a fresh node of the variant, runs the insert bench
// against it and returns its transactions per second.
func benchOnce(t *testing.T, variant, dur string) float64 {
	t.Helper()
	var addr string
	var stop func()
	switch variant {
	case "plain":
		ports, err := hatest.FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		p, err := crashtest.Start(context.Background(), crashtest.Options{Binary: binary, NodeID: "p1",
			DataDir: filepath.Join(t.TempDir(), "p1"), Args: []string{"--repl-addr", ports[0], "--cluster-secret", "0123456789abcdef0123456789abcdef"}})
		if err != nil {
			t.Fatal(err)
		}
		addr, stop = p.Addr, func() { _ = p.Kill() }
	case "ha":
		c := newCluster(t)
		m := c.Start("n1")
		c.WaitPrimary(primaryTimeout)
		addr, stop = m.HTTPAddr, func() { c.Kill("n1") }
	}
	defer stop()
	out, err := exec.Command(binary, "bench", "--workload", "insert", "--addr", addr, "--clients", "8", "--duration", dur, "--json").Output()
	if err != nil {
		t.Fatalf("tandem bench against the %s node: %v\n%s", variant, err, out)
	}
	var r struct {
		TPS    float64 `json:"tps"`
		Errors int64   `json:"errors"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("tandem bench --json: %v\n%s", err, out)
	}
	if r.Errors > 0 {
		t.Errorf("tandem bench against the %s node: %d errors", variant, r.Errors)
	}
	t.Logf("%s: %.0f tx/s", variant, r.TPS)
	return r.TPS
}

func medianF(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
