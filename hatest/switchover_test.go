package hatest_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/hatest"
)

// switchover runs `tandem switchover --addr PRIMARY --to ID` and returns
// its output.
func switchover(t *testing.T, c *hatest.Cluster, from, to string) string {
	t.Helper()
	out, err := exec.Command(binary, "switchover", "--addr", c.Member(from).HTTPAddr, "--to", to).CombinedOutput()
	if err != nil {
		c.CheckExits()
		t.Fatalf("tandem switchover --addr %s --to %s: %v\n%s", c.Member(from).HTTPAddr, to, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestSwitchover_UnderLoad hands the primary role over with the CLI while
// a remote_flush load writes through every member: nothing acknowledged
// is lost, the target takes writes, the old primary follows it, and every
// member reads the same.
func TestSwitchover_UnderLoad(t *testing.T) {
	rng, seed := seeded(t)
	c := startThree(t, hatest.Options{}, syncAny1, nil, nil)
	led := newLedger()
	for round := range rounds() {
		old := c.WaitPrimary(primaryTimeout)
		var to string
		for to == "" || to == old {
			to = c.Running()[rng.IntN(3)]
		}
		l := hatest.StartLoad(hatest.LoadOptions{Commit: "remote_flush", FirstID: int64(round+1) * 1_000_000, Seed: seed + uint64(round),
			Targets: c.Live, Duration: time.Minute})
		defer l.Stop()
		want := 50 + rng.IntN(150)
		c.Poll(primaryTimeout, fmt.Sprintf("%d acknowledged writes", want), func() (bool, string) {
			n := l.Acked()
			return n >= want, fmt.Sprintf("%d acknowledged", n)
		})
		at := time.Now()
		msg := switchover(t, c, old, to)
		if p := c.WaitPrimary(primaryTimeout); p != to {
			t.Fatalf("round %d: primary %s after the switchover to %s", round, p, to)
		}
		c.Poll(primaryTimeout, fmt.Sprintf("%d writes acknowledged by %s", newAcks, to), func() (bool, string) {
			n := 0
			for _, a := range l.Acks() {
				if c.Origin(a.GTID) == to {
					n++
				}
			}
			return n >= newAcks, fmt.Sprintf("%d so far", n)
		})
		res := l.Stop()
		led.add(res)
		t.Logf("round %d: %s -> %s: %s; %d acknowledged, %d of unknown outcome", round, old, to, msg, len(res.Acks), len(res.Uncertain))
		rows := c.WaitConverged(convergeTimeout, hatest.Table)
		if m := led.missing(rows); len(m) > 0 {
			t.Errorf("round %d: the cluster lacks %d acknowledged writes after the switchover from %s to %s:%s", round, len(m), old, to, describe(m, at))
		}
		if p := led.phantoms(rows); len(p) > 0 {
			t.Errorf("round %d: the cluster holds %d rows no write attempted: %v", round, len(p), p)
		}
		if st, err := c.Status(old); err != nil || st.Node.Role != "replica" {
			t.Errorf("round %d: the old primary %s: %s (%v), want a replica", round, old, st.Summary(), err)
		}
		if t.Failed() {
			return
		}
	}
}
