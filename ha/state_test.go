package ha

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

// base is the instant "t+0s" stands for in testdata.
var base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

var relTime = regexp.MustCompile(`"t\+([0-9.]+(?:ms|s|m))"`)

// at returns base+d, as "t+d" in testdata.
func at(d string) time.Time {
	dd, err := time.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	return base.Add(dd)
}

// rel prints t as an offset from base.
func rel(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return "t+" + t.Sub(base).String()
}

// TestState_Apply_Golden runs testdata/state.txt. Input: one command a line,
// "<type> <json body>", where a quoted "t+1.5s" in the body stands for that
// offset from a fixed base time; "members n1 n2" adds voters (see
// expandMembers); "show lease" prints the lease at that point. Output:
// "ok" or the error for each command, then the final state.
func TestState_Apply_Golden(t *testing.T) {
	runGolden(t, "state.txt", func(t *testing.T, in []string) []string {
		var s State
		var out []string
		for _, l := range expandMembers(in) {
			if l == "show lease" {
				out = append(out, dumpState(s)[1])
				continue
			}
			typ, body, _ := strings.Cut(l, " ")
			body = relTime.ReplaceAllStringFunc(body, func(m string) string {
				return `"` + at(relTime.FindStringSubmatch(m)[1]).Format(time.RFC3339Nano) + `"`
			})
			env := fmt.Sprintf(`{"v":%d,"type":%q,"cmd":%s}`, CommandVersion, typ, body)
			c, err := Decode([]byte(env))
			if err == nil {
				before := s.Clone()
				if err = s.Apply(c); err != nil && !reflect.DeepEqual(before, s.Clone()) {
					t.Errorf("%s: refused command changed the state", l)
				}
			}
			if err != nil {
				out = append(out, "error: "+err.Error())
			} else {
				out = append(out, "ok")
			}
		}
		return append(out, dumpState(s)...)
	})
}

// expandMembers turns the shorthand "members n1 n2 ..." into an
// add_member of a voter per id, with addresses 127.0.0.1:400i (http), 500i
// (repl) and 600i (raft) for the i-th id, at t+0s.
func expandMembers(in []string) []string {
	var out []string
	for _, l := range in {
		ids, ok := strings.CutPrefix(l, "members ")
		if !ok {
			out = append(out, l)
			continue
		}
		for i, id := range strings.Fields(ids) {
			out = append(out, fmt.Sprintf(`add_member {"member":{"id":%q,"http_addr":"127.0.0.1:%d","repl_addr":"127.0.0.1:%d","raft_addr":"127.0.0.1:%d","voter":true},"now":"t+0s"}`,
				id, 4001+i, 5001+i, 6001+i))
		}
	}
	return out
}

// dumpState prints a state one fact a line, times relative to base.
func dumpState(s State) []string {
	out := []string{fmt.Sprintf("state: term=%d primary=%q", s.Term, s.Primary)}
	if s.Lease.Holder == "" {
		l := fmt.Sprintf("lease: none (flushed=%s)", s.Lease.FlushedLSN)
		if s.Lease.Released {
			l = fmt.Sprintf("lease: released in term %d (flushed=%s)", s.Lease.Term, s.Lease.FlushedLSN)
		}
		out = append(out, l)
	} else {
		out = append(out, fmt.Sprintf("lease: %s term=%d expires=%s flushed=%s", s.Lease.Holder, s.Lease.Term, rel(s.Lease.Expires), s.Lease.FlushedLSN))
	}
	if s.Commit != (CommitConfig{}) {
		out = append(out, fmt.Sprintf("commit: sync=%q mode=%s timeout=%s", s.Commit.SyncStandbys, s.Commit.Mode, s.Commit.Timeout))
	}
	for _, m := range s.SortedMembers() {
		l := fmt.Sprintf("member %s http=%s repl=%s raft=%s priority=%d voter=%t", m.ID, m.HTTPAddr, m.ReplAddr, m.RaftAddr, m.Priority, m.Voter)
		if m.NoFailover {
			l += " nofailover"
		}
		out = append(out, l)
	}
	for _, h := range s.TermHistory {
		out = append(out, fmt.Sprintf("history term=%d start=%s primary=%s at=%s", h.Term, h.StartLSN, h.Primary, rel(h.At)))
	}
	for _, e := range s.Events {
		out = append(out, fmt.Sprintf("event %s %s %q->%q term=%d lsn=%s %q", rel(e.At), e.Kind, e.Old, e.New, e.Term, e.LSN, e.Reason))
	}
	return out
}

func TestState_EventsBounded(t *testing.T) {
	var s State
	for i := range MaxEvents + 50 {
		if err := s.Apply(RecordEvent{Event{At: base.Add(time.Duration(i) * time.Second), Kind: KindRewind, Reason: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := len(s.Events), MaxEvents; got != want {
		t.Fatalf("len(Events) = %d, want %d", got, want)
	}
	if got, want := s.Events[0].Reason, "50"; got != want {
		t.Fatalf("oldest kept event = %s, want %s", got, want)
	}
}

func TestState_CloneIsDeep(t *testing.T) {
	s := sampleState(t)
	c := s.Clone()
	c.Members["n1"] = Member{ID: "n1"}
	c.TermHistory[0].Primary = "x"
	c.Events[0].Reason = "x"
	if reflect.DeepEqual(s, c) {
		t.Fatal("changing the clone changed the original")
	}
}

func TestState_JSONRoundTrip(t *testing.T) {
	s := sampleState(t)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got State
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip:\ngot  %+v\nwant %+v", got, s)
	}
}

func TestEncode_RoundTrip(t *testing.T) {
	for _, c := range []Command{
		AddMember{Member: Member{ID: "n1", HTTPAddr: "h:1", RaftAddr: "r:1", Voter: true, Priority: -2}, Now: base},
		RemoveMember{ID: "n1", Now: base},
		SetPriority{ID: "n1", Priority: 5, Now: base},
		SetTags{ID: "n1", NoFailover: true, Now: base},
		RenewLease{Holder: "n1", Term: 3, Until: at("1s"), Now: base, FlushedLSN: 99},
		ReleaseLease{Holder: "n1", Term: 3, Now: base},
		Promote{NewPrimary: "n2", NewTerm: 4, StartLSN: lsn.LSN(1 << 33), Kind: KindFailover, Reason: "r", Now: base},
		SetCommitConfig{SyncStandbys: "ANY 1 (a,b)", Mode: "fallback", Timeout: time.Second},
		RecordEvent{Event{At: base, Kind: KindRewind, Old: "n1", Term: 2, LSN: 7, Reason: "r"}},
	} {
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip of %s:\ngot  %#v\nwant %#v", b, got, c)
		}
	}
}

func TestDecode_Refuses(t *testing.T) {
	for _, in := range []string{
		``, `{}`, `[]`, `{"v":2,"type":"promote","cmd":{}}`,
		`{"v":1,"type":"nope","cmd":{}}`,
		`{"v":1,"type":"promote","cmd":{"new_primary":"n2","extra":1}}`,
		`{"v":1,"type":"promote","cmd":{"new_term":"x"}}`,
		`{"v":1,"type":"promote","cmd":{}} {}`,
	} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrBadCommand) {
			t.Errorf("Decode(%s) err = %v, want ErrBadCommand", in, err)
		}
	}
}

// FuzzDecode checks that Decode never panics, and that what it accepts
// encodes back to something it decodes to the same command.
func FuzzDecode(f *testing.F) {
	for _, c := range []Command{
		Promote{NewPrimary: "n2", NewTerm: 4, Kind: KindFailover, Now: base},
		RenewLease{Holder: "n1", Term: 3, Until: at("1s"), Now: base},
		SetCommitConfig{SyncStandbys: "ANY 1 (a,b)"},
	} {
		b, _ := Encode(c)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			return
		}
		var s State
		_ = s.Apply(c)
		b2, err := Encode(c)
		if err != nil {
			t.Fatalf("Encode after Decode: %v", err)
		}
		c2, err := Decode(b2)
		if err != nil {
			t.Fatalf("Decode(Encode(c)): %v", err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("not stable:\n%#v\n%#v", c, c2)
		}
	})
}

// sampleState builds a state with every field set, through commands.
func sampleState(t *testing.T) State {
	t.Helper()
	var s State
	for _, c := range []Command{
		AddMember{Member: Member{ID: "n1", HTTPAddr: "127.0.0.1:4001", ReplAddr: "127.0.0.1:5001", RaftAddr: "127.0.0.1:6001", Voter: true}, Now: base},
		AddMember{Member: Member{ID: "n2", HTTPAddr: "127.0.0.1:4002", RaftAddr: "127.0.0.1:6002", Priority: 3, NoFailover: true}, Now: base},
		Promote{NewPrimary: "n1", NewTerm: 1, Kind: KindPromote, Reason: "bootstrap", Now: base},
		RenewLease{Holder: "n1", Term: 1, Until: at("600ms"), Now: base, FlushedLSN: 4096},
		SetCommitConfig{SyncStandbys: "any 1 (n2, n3)", Mode: "fallback", Timeout: 10 * time.Second},
	} {
		if err := s.Apply(c); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
	return s
}
