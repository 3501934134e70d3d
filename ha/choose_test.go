package ha

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/commitwait"
	"github.com/tandem-db/tandem/lsn"
)

// TestChoose_Golden runs testdata/choose.txt. Input lines:
//
//	old ID lsn=N term=N        the old primary, its last known LSN, the cluster term
//	commit TEXT                the sync standby config (commitwait.Parse); none: async
//	maxlag N                   MaxLagOnFailover in bytes
//	force                      Force
//	member ID [priority=N] [nofailover] [nonvoter]
//	reply ID TERM LSN          a reachable reply, LSN in decimal
//	reply ID unreachable
//
// Output: the decision and its reason, or the error.
func TestChoose_Golden(t *testing.T) {
	runGolden(t, "choose.txt", func(t *testing.T, lines []string) []string {
		in := Input{Members: map[string]Member{}, Replies: map[string]Reply{}}
		for _, l := range lines {
			f := strings.Fields(l)
			switch f[0] {
			case "old":
				in.OldPrimary = f[1]
				for _, kv := range f[2:] {
					k, v, _ := strings.Cut(kv, "=")
					n := atoi(t, v)
					switch k {
					case "lsn":
						in.OldPrimaryLSN = lsn.LSN(n)
					case "term":
						in.Term = uint64(n)
					default:
						t.Fatalf("%s: unknown %s", l, k)
					}
				}
			case "commit":
				c, err := commitwait.Parse(strings.TrimPrefix(l, "commit "))
				if err != nil {
					t.Fatalf("%s: %v", l, err)
				}
				in.Commit = c
			case "maxlag":
				in.MaxLagOnFailover = uint64(atoi(t, f[1]))
			case "force":
				in.Force = true
			case "member":
				m := Member{ID: f[1], Voter: true}
				for _, a := range f[2:] {
					switch {
					case a == "nofailover":
						m.NoFailover = true
					case a == "nonvoter":
						m.Voter = false
					case strings.HasPrefix(a, "priority="):
						m.Priority = atoi(t, strings.TrimPrefix(a, "priority="))
					default:
						t.Fatalf("%s: unknown %s", l, a)
					}
				}
				in.Members[m.ID] = m
			case "reply":
				if f[2] == "unreachable" {
					in.Replies[f[1]] = Reply{}
					continue
				}
				in.Replies[f[1]] = Reply{Term: uint64(atoi(t, f[2])), FlushedLSN: lsn.LSN(atoi(t, f[3])), Reachable: true}
			default:
				t.Fatalf("unknown line %q", l)
			}
		}
		d, err := Choose(in)
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		out := fmt.Sprintf("chose %s term=%d lsn=%s lag=%d", d.Primary, d.Term, d.LSN, d.Lag)
		if d.MayLoseData {
			out += " MAY LOSE DATA"
		}
		return []string{out, "reason: " + d.Reason}
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestChoose_CoversAcknowledged is the quorum-intersection property: under
// ANY k over n listed standbys, if k of them flushed the acknowledged LSN A
// in the current term, then any Decision made from at least n-k+1 of their
// replies lands on a log that holds A. The cluster also has stale nodes
// (an old term, a long divergent log) and unlisted replicas, some tagged
// nofailover, to tempt a wrong choice. With fewer replies Choose must
// refuse.
func TestChoose_CoversAcknowledged(t *testing.T) {
	const term = 7
	rng := rand.New(rand.NewPCG(1, 2))
	decided, refused := 0, 0
	for round := range 5000 {
		n := 1 + rng.IntN(6)
		k := 1 + rng.IntN(n)
		ack := lsn.LSN(1000 + rng.IntN(1000))
		in := Input{OldPrimary: "p", OldPrimaryLSN: ack + lsn.LSN(rng.IntN(500)), Term: term,
			Members: map[string]Member{"p": {ID: "p"}}, Replies: map[string]Reply{}}
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("s%d", i)
		}
		in.Commit = commitwait.Config{Method: commitwait.Any, K: k, Names: names}
		if rng.IntN(2) == 0 {
			in.Commit.Method = commitwait.First
		}
		// Positions: k random listed standbys acknowledged A; the others
		// are behind it, or stale: an older term, any length.
		pos := map[string]Reply{}
		for i, id := range rng.Perm(n) {
			r := Reply{Term: term, FlushedLSN: ack + lsn.LSN(rng.IntN(100)), Reachable: true}
			if i >= k {
				r.FlushedLSN = lsn.LSN(rng.IntN(int(ack)))
				if rng.IntN(3) == 0 {
					r = Reply{Term: term - 1 - uint64(rng.IntN(3)), FlushedLSN: lsn.LSN(rng.IntN(5000)), Reachable: true}
				}
			}
			pos[names[id]] = r
		}
		for i := range rng.IntN(3) { // unlisted replicas (async, or stale)
			r := Reply{Term: term, FlushedLSN: lsn.LSN(rng.IntN(int(in.OldPrimaryLSN) + 1)), Reachable: true}
			if rng.IntN(2) == 0 {
				r.Term = term - 1
				r.FlushedLSN = lsn.LSN(rng.IntN(5000))
			}
			pos[fmt.Sprintf("r%d", i)] = r
		}
		for id := range pos {
			in.Members[id] = Member{ID: id, NoFailover: rng.IntN(4) == 0, Voter: rng.IntN(2) == 0, Priority: rng.IntN(3) - 1}
		}
		// Ask a random subset; some of the asked do not answer.
		listedReplies := 0
		for id, r := range pos {
			switch rng.IntN(4) {
			case 0: // not asked
			case 1:
				in.Replies[id] = Reply{} // unreachable
			default:
				in.Replies[id] = r
				if id[0] == 's' {
					listedReplies++
				}
			}
		}
		if rng.IntN(4) == 0 { // the old primary answers too, ahead of everyone
			in.Replies["p"] = Reply{Term: term, FlushedLSN: in.OldPrimaryLSN + 10, Reachable: true}
		}
		d, err := Choose(in)
		if listedReplies < n-k+1 {
			if !errors.Is(err, ErrNotEnoughReplies) {
				t.Fatalf("round %d: %d replies of %d listed, k=%d: err = %v, want ErrNotEnoughReplies", round, listedReplies, n, k, err)
			}
			refused++
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrNoCandidate) {
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
			refused++
			continue
		}
		decided++
		if d.Term != term || d.LSN < ack {
			t.Fatalf("round %d: ANY %d of %d, acked %s: chose %s at term %d %s, which lacks it\n%s", round, k, n, ack, d.Primary, d.Term, d.LSN, d.Reason)
		}
		if m := in.Members[d.Primary]; m.NoFailover || d.Primary == "p" || d.MayLoseData {
			t.Fatalf("round %d: chose ineligible %s (%+v) or unsafe decision\n%s", round, d.Primary, m, d.Reason)
		}
	}
	if decided < 1000 || refused < 1000 {
		t.Fatalf("decided %d, refused %d: the generator does not exercise both sides", decided, refused)
	}
}
