package commitwait

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/lsn"
)

// TestAcked_Golden runs testdata/quorum.txt. Input: "config <text>", read
// by the syntax-only parser so configs that Validate rejects (duplicates,
// k beyond the list) can be tested too, then one line per connected
// standby, "name pos" or "name write flush apply", in decimal. Output: the
// canonical config (and why Validate rejects it), Acked per level, and
// SyncStates.
func TestAcked_Golden(t *testing.T) {
	runGolden(t, "quorum.txt", func(t *testing.T, in []string) []string {
		if len(in) == 0 {
			t.Fatal("empty case")
		}
		text, ok := strings.CutPrefix(in[0], "config")
		if !ok {
			t.Fatalf("first line %q: want config <text>", in[0])
		}
		text = strings.TrimSpace(text)
		p, err := parse(text)
		if err != nil {
			t.Fatalf("parse(%q): %v", text, err)
		}
		cfg := p.Config
		standbys := map[string]Positions{}
		for _, l := range in[1:] {
			standbys[parseStandby(t, l)] = parsePositions(t, l)
		}
		out := []string{"config " + cmp.Or(cfg.String(), "(async)")}
		if err := cfg.Validate(); err != nil {
			out[0] += " (invalid: " + strings.TrimPrefix(err.Error(), "commitwait: ") + ")"
		}
		out = append(out, fmt.Sprintf("acked write=%d flush=%d apply=%d",
			Acked(cfg, command.CommitRemoteWrite, standbys),
			Acked(cfg, command.CommitRemoteFlush, standbys),
			Acked(cfg, command.CommitRemoteApply, standbys)))
		states := SyncStates(cfg, standbys)
		for _, n := range sortedNames(standbys) {
			out = append(out, n+" "+states[n])
		}
		return out
	})
}

func parseStandby(_ *testing.T, l string) string {
	return strings.Fields(l)[0]
}

func parsePositions(t *testing.T, l string) Positions {
	t.Helper()
	f := strings.Fields(l)[1:]
	var v []lsn.LSN
	for _, s := range f {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("standby line %q: %v", l, err)
		}
		v = append(v, lsn.LSN(n))
	}
	switch len(v) {
	case 1:
		return Positions{v[0], v[0], v[0]}
	case 3:
		return Positions{v[0], v[1], v[2]}
	}
	t.Fatalf("standby line %q: want name pos, or name write flush apply", l)
	return Positions{}
}

func TestAcked_NotRemote(t *testing.T) {
	cfg := Config{Method: Any, K: 1, Names: []string{"n2"}}
	sb := map[string]Positions{"n2": {10, 10, 10}}
	for _, l := range []command.CommitLevel{command.CommitLocal, command.CommitOff, 42} {
		if got := Acked(cfg, l, sb); got != 0 {
			t.Errorf("Acked at %s = %s, want 0", l, got)
		}
	}
}

// randomCase builds a config over n2..n{n+1} (sometimes with '*') and a
// random set of connected standbys, some unlisted, with positions from a
// small range so ties are common.
func randomCase(r *rand.Rand, method Method) (Config, map[string]Positions) {
	n := 1 + r.IntN(5)
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("n%d", i+2))
	}
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	if r.IntN(4) == 0 {
		names = slices.Insert(names, r.IntN(len(names)+1), Wildcard)
	}
	cfg := Config{Method: method, K: 1 + r.IntN(len(names)), Names: names}
	sb := map[string]Positions{}
	for i := range n + 2 {
		if r.IntN(3) > 0 {
			sb[fmt.Sprintf("n%d", i+2)] = randomPositions(r)
		}
	}
	return cfg, sb
}

func randomPositions(r *rand.Rand) Positions {
	return Positions{lsn.LSN(r.IntN(6) * 10), lsn.LSN(r.IntN(6) * 10), lsn.LSN(r.IntN(6) * 10)}
}

// matched returns the connected standbys the config lists.
func matched(cfg Config, sb map[string]Positions) []string {
	var m []string
	for n := range sb {
		if cfg.Priority(n) > 0 {
			m = append(m, n)
		}
	}
	slices.Sort(m)
	return m
}

func TestAcked_AnyProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 20000 {
		cfg, sb := randomCase(r, Any)
		m := matched(cfg, sb)
		for li, level := range remoteLevels {
			got := Acked(cfg, level, sb)
			var maxPos lsn.LSN
			for _, n := range m {
				maxPos = max(maxPos, sb[n].at(li))
			}
			if got > maxPos {
				t.Fatalf("iter %d: %s %v: Acked %s = %d > max matched position %d", iter, cfg, sb, level, got, maxPos)
			}
			if len(m) < cfg.K && got != 0 {
				t.Fatalf("iter %d: %s %v: %d matched < k but Acked %s = %d", iter, cfg, sb, len(m), level, got)
			}
		}
		if len(m) < cfg.K {
			continue
		}
		// Any k matched standbys at or past L make Acked at least L.
		r.Shuffle(len(m), func(i, j int) { m[i], m[j] = m[j], m[i] })
		L := lsn.LSN(r.IntN(60))
		for _, n := range m[:cfg.K] {
			p := sb[n]
			p.Flush = max(p.Flush, L+lsn.LSN(r.IntN(3)))
			sb[n] = p
		}
		if got := Acked(cfg, command.CommitRemoteFlush, sb); got < L {
			t.Fatalf("iter %d: %s %v: %d standbys flushed >= %d but Acked = %d", iter, cfg, sb, cfg.K, L, got)
		}
	}
}

func TestAcked_FirstProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := range 20000 {
		cfg, sb := randomCase(r, First)
		states := SyncStates(cfg, sb)
		var syncSet []string
		for n, s := range states {
			if s == StateSync {
				syncSet = append(syncSet, n)
			}
		}
		if want := min(cfg.K, len(matched(cfg, sb))); len(syncSet) != want {
			t.Fatalf("iter %d: %s %v: %d sync standbys, want %d", iter, cfg, sb, len(syncSet), want)
		}
		for li, level := range remoteLevels {
			got := Acked(cfg, level, sb)
			if len(syncSet) < cfg.K && got != 0 {
				t.Fatalf("iter %d: %s %v: fewer than k connected but Acked %s = %d", iter, cfg, sb, level, got)
			}
			for _, n := range syncSet {
				if p := sb[n].at(li); got > p {
					t.Fatalf("iter %d: %s %v: Acked %s = %d exceeds sync standby %s at %d", iter, cfg, sb, level, got, n, p)
				}
			}
			// A potential standby never outranks a sync one.
			for n, s := range states {
				if s != StatePotential {
					continue
				}
				for _, sn := range syncSet {
					if cfg.Priority(n) < cfg.Priority(sn) {
						t.Fatalf("iter %d: %s: potential %s outranks sync %s", iter, cfg, n, sn)
					}
				}
			}
		}
	}
}

// TestAcked_Monotonic: with the same standbys connected, raising one
// standby's positions never lowers Acked, under either method.
func TestAcked_Monotonic(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for iter := range 20000 {
		cfg, sb := randomCase(r, Method(r.IntN(2)))
		if len(sb) == 0 {
			continue
		}
		before := ackedAll(cfg, sb)
		names := sortedNames(sb)
		n := names[r.IntN(len(names))]
		p := sb[n]
		p.Write += lsn.LSN(r.IntN(20))
		p.Flush += lsn.LSN(r.IntN(20))
		p.Apply += lsn.LSN(r.IntN(20))
		sb[n] = p
		after := ackedAll(cfg, sb)
		for i := range nLevels {
			if after[i] < before[i] {
				t.Fatalf("iter %d: %s: raising %s lowered %s from %d to %d", iter, cfg, n, remoteLevels[i], before[i], after[i])
			}
		}
	}
}
