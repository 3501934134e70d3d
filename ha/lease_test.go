package ha

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestNewLeaseTimer(t *testing.T) {
	for _, tc := range []struct {
		d, margin time.Duration
		ok        bool
	}{
		{ms(600), ms(100), true},
		{ms(600), 0, true},
		{ms(600), ms(199), true},
		{ms(600), ms(200), false}, // a single renewal before writes stop
		{ms(600), -1, false},
		{0, 0, false},
		{MaxLeaseDuration + 1, 0, false},
	} {
		_, err := NewLeaseTimer(tc.d, tc.margin)
		if got := err == nil; got != tc.ok {
			t.Errorf("NewLeaseTimer(%s, %s) err = %v, want ok=%t", tc.d, tc.margin, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadConfig) {
			t.Errorf("err = %v, want ErrBadConfig", err)
		}
	}
}

// TestLeaseTimer_MayWrite walks one timer through renewals; each step is
// checked at several instants (ms after base).
func TestLeaseTimer_MayWrite(t *testing.T) {
	l, err := NewLeaseTimer(ms(600), ms(100))
	if err != nil {
		t.Fatal(err)
	}
	at := func(n int) time.Time { return base.Add(ms(n)) }
	type check struct {
		now  int
		want bool
	}
	for _, step := range []struct {
		name     string
		do       func()
		deadline int // ms after base; -1: zero
		checks   []check
	}{
		{"no lease yet", func() {}, -1, []check{{0, false}, {1000, false}}},
		{"renewed at 0", func() { l.Renewed(l.Renewal("n1", 1, at(0), 0)) }, 500,
			[]check{{0, true}, {499, true}, {500, false}, {600, false}}},
		{"renewed at 200", func() { l.Renewed(l.Renewal("n1", 1, at(200), 0)) }, 700,
			[]check{{500, true}, {699, true}, {700, false}}},
		{"a late reply for the renewal sent at 100 changes nothing", func() { l.Renewed(l.Renewal("n1", 1, at(100), 0)) }, 700,
			[]check{{650, true}, {700, false}}},
		{"revoked", func() { l.Revoke() }, -1, []check{{300, false}, {650, false}}},
		{"renewed again at 1000", func() { l.Renewed(l.Renewal("n1", 1, at(1000), 0)) }, 1500,
			[]check{{999, true}, {1499, true}, {1500, false}}},
	} {
		step.do()
		got, want := l.Deadline(), time.Time{}
		if step.deadline >= 0 {
			want = at(step.deadline)
		}
		if !got.Equal(want) {
			t.Errorf("%s: Deadline = %s, want %s", step.name, rel(got), rel(want))
		}
		for _, c := range step.checks {
			if got := l.MayWrite(at(c.now)); got != c.want {
				t.Errorf("%s: MayWrite(t+%dms) = %t, want %t", step.name, c.now, got, c.want)
			}
		}
	}
}

func TestLeaseTimer_Renewal(t *testing.T) {
	l, _ := NewLeaseTimer(ms(600), ms(100))
	got := l.Renewal("n1", 4, base, 77)
	want := RenewLease{Holder: "n1", Term: 4, Now: base, Until: base.Add(ms(600)), FlushedLSN: 77}
	if got != want {
		t.Fatalf("Renewal = %+v, want %+v", got, want)
	}
}

func TestLeaseTimer_NextRenew(t *testing.T) {
	at := func(n int) time.Time { return base.Add(ms(n)) }
	for _, tc := range []struct {
		name         string
		renewedAt    int // -1: never
		lastAttempt  int // -1: never
		wantNextRenw int // -1: zero (now)
	}{
		{"nothing yet: renew now", -1, -1, -1},
		{"first attempt failed: retry after d/12", -1, 0, 50},
		{"renewed: again after d/3", 0, 0, 200},
		{"renewal due, last attempt failed just now: retry after d/12", 0, 300, 350},
		{"renewal due, attempted long ago", 0, 100, 200},
	} {
		l, _ := NewLeaseTimer(ms(600), ms(100))
		if tc.renewedAt >= 0 {
			l.Renewed(l.Renewal("n1", 1, at(tc.renewedAt), 0))
		}
		var last time.Time
		if tc.lastAttempt >= 0 {
			last = at(tc.lastAttempt)
		}
		got, want := l.NextRenew(last), time.Time{}
		if tc.wantNextRenw >= 0 {
			want = at(tc.wantNextRenw)
		}
		if !got.Equal(want) {
			t.Errorf("%s: NextRenew = %s, want %s", tc.name, rel(got), rel(want))
		}
	}
}

// TestLeaseTimer_Fencing simulates the argument of DESIGN.md: a primary
// renews through the state machine with delays, dies or is cut off at a
// random moment (its renewals in flight then vanish, or apply with the
// reply lost), and a failover manager proposes a Promote every 10 ms from the start.
// With the two clocks within the margin of each other, the primary never
// may write once the Promote is applied, and the Promote comes within
// about a lease duration of the primary's end.
func TestLeaseTimer_Fencing(t *testing.T) {
	for seed := range uint64(300) {
		r := simulateFencing(t, seed, int(seed%101)) // manager ahead by 0..margin
		if r.overlap >= 0 {
			t.Fatalf("seed %d: primary could write %dms after the promote", seed, r.overlap)
		}
		if r.gap < 0 || r.gap > 700 {
			t.Fatalf("seed %d: promote %dms after the primary went away, want within 700", seed, r.gap)
		}
	}
}

// TestLeaseTimer_FencingNeedsMargin is the control: with the manager's
// clock ahead of the primary's by more than the margin, some runs let the
// old primary write after the new term began.
func TestLeaseTimer_FencingNeedsMargin(t *testing.T) {
	for seed := range uint64(300) {
		if simulateFencing(t, seed, 180).overlap >= 0 {
			return
		}
	}
	t.Fatal("no overlap with clocks 180ms apart and a 100ms margin: the simulation does not exercise the margin")
}

type fencingResult struct {
	overlap int // ms the primary could still write after the promote; -1: never
	gap     int // ms from the primary's end to the promote
}

// simulateFencing runs one seeded scenario in 1 ms steps of real time. The
// manager's clock is ahead of the primary's by skew ms (the worst case for
// fencing); each has its own random base offset.
func simulateFencing(t *testing.T, seed uint64, skew int) fencingResult {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	lt, err := NewLeaseTimer(ms(600), ms(100))
	if err != nil {
		t.Fatal(err)
	}
	offP := rng.IntN(1000)
	offM := offP + skew
	pclock := func(t int) time.Time { return base.Add(ms(t + offP)) }
	mclock := func(t int) time.Time { return base.Add(ms(t + offM)) }
	var s State
	for _, c := range []Command{
		AddMember{Member: Member{ID: "p", HTTPAddr: "h:1", RaftAddr: "r:1"}, Now: mclock(0)},
		AddMember{Member: Member{ID: "q", HTTPAddr: "h:2", RaftAddr: "r:2"}, Now: mclock(0)},
		Promote{NewPrimary: "p", NewTerm: 1, Kind: KindPromote, Now: mclock(0)},
		lt.Renewal("p", 1, pclock(0), 0), // the new primary's first renewal, before it writes
	} {
		if err := s.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	lt.Renewed(lt.Renewal("p", 1, pclock(0), 0))
	lastAttempt := pclock(0)
	type pending struct {
		applyAt, replyAt int // replyAt -1: the reply is lost
		cmd              RenewLease
	}
	var inflight []pending
	death := 300 + rng.IntN(2000)
	promotedAt := -1
	res := fencingResult{overlap: -1}
	for now := 1; now < 5000; now++ {
		// Deliver what is due, in order: applies, then replies.
		slices.SortFunc(inflight, func(a, b pending) int { return a.applyAt - b.applyAt })
		for i := range inflight {
			p := &inflight[i]
			if p.applyAt == now {
				if err := s.Apply(p.cmd); err != nil {
					p.replyAt = -1
				}
			}
			if p.replyAt == now {
				lt.Renewed(p.cmd)
			}
		}
		// At death (a crash, or a cut from every other node) the renewals
		// in flight are dropped or applied with their replies lost.
		if now == death {
			for i := range inflight {
				if p := &inflight[i]; p.applyAt >= now {
					p.replyAt = -1
					if rng.IntN(2) == 0 {
						p.applyAt = -1
					}
				}
			}
		}
		if next := lt.NextRenew(lastAttempt); now < death && !pclock(now).Before(next) {
			lastAttempt = pclock(now)
			c := lt.Renewal("p", 1, pclock(now), 0)
			apply := now + 1 + rng.IntN(50)
			inflight = append(inflight, pending{applyAt: apply, replyAt: apply + rng.IntN(20), cmd: c})
		}
		if promotedAt < 0 && now%10 == 0 {
			err := s.Apply(Promote{NewPrimary: "q", NewTerm: 2, Kind: KindFailover, Now: mclock(now)})
			switch {
			case err == nil:
				promotedAt = now
				res.gap = now - death
			case !errors.Is(err, ErrLeaseHeld):
				t.Fatalf("seed %d: promote: %v", seed, err)
			}
		}
		if promotedAt >= 0 && lt.MayWrite(pclock(now)) && res.overlap < 0 {
			res.overlap = now - promotedAt
		}
	}
	if promotedAt < 0 {
		t.Fatalf("seed %d: no promote within 5s (death at %dms)", seed, death)
	}
	return res
}
