package hatest_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/hatest"
)

// Deadlines of the waits. They are generous: two shared cores run three
// members and the load.
const (
	primaryTimeout  = 20 * time.Second
	convergeTimeout = 15 * time.Second
)

// newAcks is how many writes the new primary must acknowledge before a
// round ends: it takes writes, not just the role.
const newAcks = 20

// startThree starts n1 (bootstrapping), n2 and n3, each with its own
// flags, and creates the load's table.
func startThree(t *testing.T, opts hatest.Options, n1, n2, n3 []string) *hatest.Cluster {
	opts.Binary = binary
	c := hatest.NewCluster(t, opts)
	c.Start("n1", n1...)
	c.Start("n2", n2...)
	c.Start("n3", n3...)
	if p := c.WaitPrimary(primaryTimeout); p != "n1" {
		t.Fatalf("primary %s, want the bootstrapping n1", p)
	}
	c.Exec("n1", "", hatest.CreateTable)
	c.WaitConverged(convergeTimeout, hatest.Table)
	return c
}

// syncAny1 makes every commit wait for one of the other two members.
var syncAny1 = []string{"--sync-standbys", "ANY 1 (n1,n2,n3)"}

// killRound is one round of a failover test: a load through every live
// member; after a seeded number of acknowledged writes, the stream from
// the primary to some replicas held (they fall behind) while more writes
// are acknowledged; the primary SIGKILLed; a new primary that
// acknowledges writes.
type killRound struct {
	old, primary string   // the killed primary and its successor
	held         []string // the replicas held behind
	holdAt       time.Time
	killAt       time.Time
	result       hatest.LoadResult
	before       int // writes acknowledged before the kill
}

// holdFunc picks the replicas to hold behind from the primary's replicas.
type holdFunc func(replicas []string) []string

// holdRandom holds k replicas chosen at random; none when k is 0.
func holdRandom(rng *rand.Rand, k int) holdFunc {
	return func(replicas []string) []string {
		rng.Shuffle(len(replicas), func(i, j int) { replicas[i], replicas[j] = replicas[j], replicas[i] })
		return replicas[:k]
	}
}

// killUnderLoad runs a round, holding the replicas hold picks behind. It
// needs a cluster with proxies when hold picks any.
func killUnderLoad(t *testing.T, c *hatest.Cluster, rng *rand.Rand, opts hatest.LoadOptions, hold holdFunc) killRound {
	t.Helper()
	var r killRound
	r.old = c.WaitPrimary(primaryTimeout)
	opts.Targets, opts.Duration = c.Live, time.Minute
	l := hatest.StartLoad(opts)
	defer l.Stop()
	acked := func(n int, what string) {
		c.Poll(primaryTimeout, fmt.Sprintf("%d acknowledged writes %s", n, what), func() (bool, string) {
			k := l.Acked()
			return k >= n, fmt.Sprintf("%d acknowledged", k)
		})
	}
	acked(50+rng.IntN(200), "before the kill")
	var replicas []string
	for _, id := range c.Running() {
		if id != r.old {
			replicas = append(replicas, id)
		}
	}
	if r.held = hold(replicas); len(r.held) > 0 {
		r.holdAt = time.Now()
		c.Hold(r.old, r.held...)
		acked(l.Acked()+10+rng.IntN(60), "while "+strings.Join(r.held, ",")+" are held behind")
	}
	r.killAt = time.Now()
	c.Kill(r.old)
	if len(r.held) > 0 {
		c.Cut(r.old)
	}
	r.before = l.Acked()
	r.primary = c.WaitPrimary(primaryTimeout)
	c.Poll(primaryTimeout, fmt.Sprintf("%d writes acknowledged by the new primary %s", newAcks, r.primary), func() (bool, string) {
		n := 0
		for _, a := range l.Acks() {
			if c.Origin(a.GTID) == r.primary && a.At.After(r.killAt) {
				n++
			}
		}
		return n >= newAcks, fmt.Sprintf("%d so far, %d acknowledged in all", n, l.Acked())
	})
	r.result = l.Stop()
	return r
}

func (r killRound) String() string {
	held := ""
	if len(r.held) > 0 {
		held = fmt.Sprintf(" (%s held behind for the last %v)", strings.Join(r.held, ","), r.killAt.Sub(r.holdAt).Round(time.Millisecond))
	}
	return fmt.Sprintf("killed the primary %s after %d acknowledged writes%s; %s took over; %d acknowledged, %d of unknown outcome, %d attempts",
		r.old, r.before, held, r.primary, len(r.result.Acks), len(r.result.Uncertain), r.result.Attempts)
}

// TestFailover_KillPrimary_RemoteFlush SIGKILLs the primary of three
// members under a remote_flush load (ANY 1 of the three): a new primary
// takes writes with every acknowledged write, and the killed member comes
// back as a replica and converges. In most rounds one replica is held
// behind before the kill, so the two candidates' logs differ; n3 has the
// highest priority, which must not beat a more recent log.
func TestFailover_KillPrimary_RemoteFlush(t *testing.T) {
	rng, seed := seeded(t)
	c := startThree(t, hatest.Options{Proxies: true}, syncAny1, []string{"--priority", "5"}, []string{"--priority", "10"})
	led := newLedger()
	for round := range rounds() {
		r := killUnderLoad(t, c, rng, hatest.LoadOptions{Commit: "remote_flush", FirstID: int64(round+1) * 1_000_000, Seed: seed + uint64(round)},
			holdRandom(rng, min(rng.IntN(3), 1)))
		led.add(r.result)
		t.Logf("round %d: %v", round, r)
		if len(r.held) > 0 && r.primary == r.held[0] {
			t.Errorf("round %d: %s was promoted though it was held behind the other candidate", round, r.primary)
		}
		rows := c.MustRows(r.primary, hatest.Table)
		if m := led.missing(rows); len(m) > 0 {
			t.Errorf("round %d: the new primary %s lacks %d acknowledged remote_flush writes:%s", round, r.primary, len(m), describe(m, r.killAt))
		}
		if p := led.phantoms(rows); len(p) > 0 {
			t.Errorf("round %d: the new primary %s holds %d rows no write attempted: %v", round, r.primary, len(p), p)
		}
		c.Restart(r.old)
		final := c.WaitConverged(convergeTimeout, hatest.Table)
		checkKept(t, round, rows, final)
		if m := led.missing(final); len(m) > 0 {
			t.Errorf("round %d: the converged cluster lacks %d acknowledged remote_flush writes:%s", round, len(m), describe(m, r.killAt))
		}
		if p := led.phantoms(final); len(p) > 0 {
			t.Errorf("round %d: the converged cluster holds %d rows no write attempted: %v", round, len(p), p)
		}
		if st, err := c.Status(r.old); err != nil || st.Node.Role != "replica" {
			t.Errorf("round %d: the returning ex-primary %s: %s (%v), want a replica", round, r.old, st.Summary(), err)
		}
		if t.Failed() {
			return
		}
	}
}

// TestFailover_KillPrimary_Async is the same under async commit (local):
// an acknowledged write may be lost, but then it is listed in the old
// primary's lost-transactions file once it rejoins and rewinds; the
// acknowledged writes missing from the cluster are exactly the
// acknowledged writes that file lists. In most rounds both replicas are
// held behind before the kill, so writes are acknowledged that only the
// primary has: those must be lost, and listed.
func TestFailover_KillPrimary_Async(t *testing.T) {
	rng, seed := seeded(t)
	c := startThree(t, hatest.Options{Proxies: true}, nil, nil, nil)
	led := newLedger()
	lost := map[int64]string{} // every row the lost files list
	read := map[string]bool{}  // the lost files read
	for round := range rounds() {
		hold := 2
		if rng.IntN(4) == 0 {
			hold = 0
		}
		r := killUnderLoad(t, c, rng, hatest.LoadOptions{Commit: "local", FirstID: int64(round+1) * 1_000_000, Seed: seed + uint64(round)},
			holdRandom(rng, hold))
		led.add(r.result)
		before := c.MustRows(r.primary, hatest.Table)
		c.Restart(r.old)
		rows := c.WaitConverged(convergeTimeout, hatest.Table)
		checkKept(t, round, before, rows)
		files, err := hatest.LostFiles(c.Member(r.old).DataDir)
		if err != nil {
			t.Fatal(err)
		}
		nlost := 0
		for _, f := range files {
			if read[f] {
				continue
			}
			read[f] = true
			txns, err := hatest.ReadLost(f)
			if err != nil {
				t.Fatal(err)
			}
			lr, err := hatest.LostRows(txns)
			if err != nil {
				t.Fatal(err)
			}
			for id, v := range lr {
				lost[id] = v
			}
			nlost += len(lr)
		}
		t.Logf("round %d: %v; %d rows in new lost-transactions files; %d acknowledged writes lost so far", round, r, nlost, len(led.missing(rows)))
		checkLost(t, round, led, rows, lost, r.killAt)
		if hold > 0 {
			// Sent while both replicas were held: only the old primary
			// ever had it.
			for _, a := range r.result.Acks {
				if _, ok := rows[a.ID]; ok && a.Sent.After(r.holdAt) && a.At.Before(r.killAt) {
					t.Errorf("round %d: write %d, sent while every replica was held behind and acknowledged before the kill, is in the cluster: it cannot have reached the new primary", round, a.ID)
				}
			}
		}
		if p := led.phantoms(rows); len(p) > 0 {
			t.Errorf("round %d: the cluster holds %d rows no write attempted: %v", round, len(p), p)
		}
		if st, err := c.Status(r.old); err != nil || st.Node.Role != "replica" {
			t.Errorf("round %d: the returning ex-primary %s: %s (%v), want a replica", round, r.old, st.Summary(), err)
		}
		if t.Failed() {
			return
		}
	}
}

// checkKept requires every row the new primary had before the old one
// rejoined to be there once the cluster converged. There may be more: a
// write whose request the load gave up on can still commit.
func checkKept(t *testing.T, round int, before, after map[int64]string) {
	t.Helper()
	n := 0
	for _, id := range sortedIDs(before) {
		if v, ok := after[id]; !ok || v != before[id] {
			if n++; n <= 10 {
				t.Errorf("round %d: row %d (%s) was on the new primary, but not once the old one rejoined (found %v: %q)", round, id, before[id], ok, v)
			}
		}
	}
}

// checkLost requires the acknowledged writes missing from rows to be
// exactly the acknowledged writes the lost files list. A listed row that
// was not acknowledged must be a write whose outcome the load did not
// learn (committed on the old primary as it died), and no listed row may
// be in rows: a rewind discards only what the new primary lacks.
func checkLost(t *testing.T, round int, led *ledger, rows, lost map[int64]string, killAt time.Time) {
	t.Helper()
	for _, a := range led.missing(rows) {
		if v, ok := lost[a.ID]; !ok || v != a.Value {
			t.Errorf("round %d: acknowledged write %d (%s) is neither in the cluster nor in a lost-transactions file (listed: %v):%s",
				round, a.ID, a.Value, ok, describe([]hatest.Ack{a}, killAt))
		}
	}
	for _, id := range sortedIDs(lost) {
		if _, ok := rows[id]; ok {
			t.Errorf("round %d: row %d is listed as lost but the cluster has it: the rewind discarded a transaction the new primary holds", round, id)
		}
		_, acked := led.acked[id]
		_, unknown := led.uncertain[id]
		if !acked && !unknown {
			t.Errorf("round %d: row %d (%s) is listed as lost but no write attempted it", round, id, lost[id])
		}
	}
}

// TestFailover_NoFailoverNeverPromoted kills the primary of n1, n2 and a
// nofailover n3 while n2 is held behind, so that n3 has the most recent
// log: n2 is promoted all the same, and n3, watched throughout, never is.
func TestFailover_NoFailoverNeverPromoted(t *testing.T) {
	rng, seed := seeded(t)
	c := startThree(t, hatest.Options{Proxies: true}, nil, nil, []string{"--nofailover"})
	w := watchNeverPrimary(c, "n3")
	t.Cleanup(func() { w.stop() })
	r := killUnderLoad(t, c, rng, hatest.LoadOptions{Commit: "local", Seed: seed}, func([]string) []string { return []string{"n2"} })
	t.Log(r)
	if r.primary != "n2" {
		t.Errorf("%s took over, want n2 (n3 is nofailover)", r.primary)
	}
	c.Restart(r.old)
	c.WaitConverged(convergeTimeout, hatest.Table)
	if v := w.stop(); v != "" {
		t.Error(v)
	}
}

// TestFailover_ReplicaAheadRejoins checks that a replica whose log is
// ahead of the new primary's (a nofailover n3, with the failover
// candidate held behind) rewinds and follows it promptly, round after
// round, also when it re-points before the new primary has promoted
// (it used to be refused as diverged and wait 30 s).
func TestFailover_ReplicaAheadRejoins(t *testing.T) {
	rng, seed := seeded(t)
	c := startThree(t, hatest.Options{Proxies: true}, nil, nil, []string{"--nofailover"})
	for round := range rounds() {
		r := killUnderLoad(t, c, rng, hatest.LoadOptions{Commit: "local", FirstID: int64(round+1) * 1_000_000, Seed: seed + uint64(round)},
			func(replicas []string) []string {
				return slices.DeleteFunc(replicas, func(id string) bool { return id == "n3" })
			})
		t.Logf("round %d: %v", round, r)
		c.Restart(r.old)
		c.WaitConverged(convergeTimeout, hatest.Table)
	}
}

// neverPrimary polls a member's status until stopped and records whether
// it ever said it was the primary or the cluster's primary.
type neverPrimary struct {
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	mu   sync.Mutex
	bad  []string
	seen int
	errs int
}

func watchNeverPrimary(c *hatest.Cluster, id string) *neverPrimary {
	w := &neverPrimary{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			st, err := c.Status(id)
			w.mu.Lock()
			switch {
			case err != nil:
				w.errs++
			case st.Node.Role == "primary" || (st.Cluster != nil && st.Cluster.Primary == id):
				w.bad = append(w.bad, time.Now().Format(time.RFC3339Nano)+" "+st.Summary())
			default:
				w.seen++
			}
			w.mu.Unlock()
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the watch; it returns what went wrong, or "".
func (w *neverPrimary) stop() string {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
	switch {
	case len(w.bad) > 0:
		return fmt.Sprintf("the nofailover member was the primary %d times:\n%s", len(w.bad), strings.Join(w.bad, "\n"))
	case w.seen < 10 || w.errs > 0:
		return fmt.Sprintf("the watch of the nofailover member saw %d statuses and %d errors: it did not watch throughout", w.seen, w.errs)
	}
	return ""
}
