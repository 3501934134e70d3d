package chaos

import (
	"strings"
	"testing"
	"time"
)

// ms is a time offset in milliseconds, for hand-written histories.
func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func i64(v int64) *int64 { return &v }

func wantStatus(t *testing.T, v Verdict, want string) {
	t.Helper()
	if got := v.Status; got != want {
		t.Errorf("%s: status %s, want %s; counts %v; notes %q", v.Checker, got, want, v.Counts, v.Notes)
	}
}

func TestCheckLostWrites_LostAcknowledgedWrite(t *testing.T) {
	ops := []Op{
		{ID: 1, Kind: OpAdd, Result: OK, Commit: "remote_flush"},
		{ID: 2, Kind: OpAdd, Result: OK, Commit: "remote_flush"},
		{ID: 3, Kind: OpAdd, Result: Info, Commit: "remote_flush"},
	}
	ev := &Evidence{Ops: ops, Final: &Final{Present: map[int64]bool{1: true}}}
	v, lost := CheckLostWrites(ev)
	wantStatus(t, v, Failed)
	if got, want := len(lost), 1; got != want || lost[0].ID != 2 {
		t.Fatalf("lost = %+v, want op 2 alone", lost)
	}
	if got, want := v.Counts["lost"], int64(1); got != want {
		t.Errorf("lost count = %d, want %d", got, want)
	}
}

func TestCheckLostWrites_WeakCommitListsLoss(t *testing.T) {
	ops := []Op{{ID: 1, Kind: OpWrite, Result: OK, Commit: "off"}, {ID: 2, Kind: OpWrite, Result: OK, Commit: "local"}}
	v, lost := CheckLostWrites(&Evidence{Ops: ops, Final: &Final{Present: map[int64]bool{}}})
	wantStatus(t, v, Pass)
	if got, want := len(lost), 2; got != want {
		t.Errorf("listed %d lost writes, want %d", got, want)
	}
	if got, want := v.Counts["lost_allowed"], int64(2); got != want {
		t.Errorf("lost_allowed = %d, want %d", got, want)
	}
}

func TestCheckLostWrites_FailedWriteVisible(t *testing.T) {
	ops := []Op{{ID: 7, Kind: OpTransfer, Result: Fail, Commit: "remote_apply", Err: "CHECK constraint failed"}}
	v, _ := CheckLostWrites(&Evidence{Ops: ops, Final: &Final{Present: map[int64]bool{7: true}}})
	wantStatus(t, v, Failed)
}

func TestCheckLostWrites_AllPresent(t *testing.T) {
	ops := []Op{{ID: 1, Kind: OpAdd, Result: OK, Commit: "remote_flush"}, {ID: 2, Kind: OpAdd, Result: Info}}
	v, lost := CheckLostWrites(&Evidence{Ops: ops, Final: &Final{Present: map[int64]bool{1: true, 2: true}}})
	wantStatus(t, v, Pass)
	if len(lost) != 0 {
		t.Errorf("lost = %+v, want none", lost)
	}
}

func TestCheckLinearizable_StaleRead(t *testing.T) {
	// write(5) completes, then a read that starts afterwards returns 0.
	ops := []Op{
		{ID: 1, Kind: OpWrite, Key: 1, Value: 5, Result: OK, Commit: "remote_flush", Call: ms(0), Return: ms(10)},
		{ID: 2, Kind: OpRead, Key: 1, Read: i64(0), Result: OK, Level: "strong", Call: ms(20), Return: ms(30)},
	}
	wantStatus(t, CheckLinearizable(&Evidence{Workload: "register", Ops: ops}), Failed)
}

// A strong read saw a commit=local write that a failover then discarded
// (listed): at that level the checker reports the history as not promised,
// not as a bug; the same history at remote_flush, or with the loss not
// reported, still fails.
func TestCheckLinearizable_DiscardedWeakWrite(t *testing.T) {
	ops := func(commit string) []Op {
		return []Op{
			{ID: 1, Kind: OpWrite, Key: 1, Value: 5, Result: OK, Commit: commit, Call: ms(0), Return: ms(10)},
			{ID: 2, Kind: OpRead, Key: 1, Read: i64(5), Result: OK, Level: "strong", Call: ms(20), Return: ms(30)},
			{ID: 3, Kind: OpRead, Key: 1, Read: i64(0), Result: OK, Level: "strong", Call: ms(40), Return: ms(50)},
		}
	}
	weak := ops("local")
	wantStatus(t, CheckLinearizable(&Evidence{Workload: "register", Ops: weak, Lost: weak[:1]}), NA)
	wantStatus(t, CheckLinearizable(&Evidence{Workload: "register", Ops: weak}), Failed)
	strong := ops("remote_flush")
	wantStatus(t, CheckLinearizable(&Evidence{Workload: "register", Ops: strong, Lost: strong[:1]}), Failed)
}

func TestCheckLinearizable_CASAgainstWrongValue(t *testing.T) {
	// The register holds 0; a CAS from 9 cannot succeed.
	ops := []Op{
		{ID: 1, Kind: OpCAS, Key: 0, Expect: 9, Value: 1, Swapped: true, Result: OK, Commit: "remote_flush", Call: ms(0), Return: ms(5)},
	}
	wantStatus(t, CheckLinearizable(&Evidence{Workload: "register", Ops: ops}), Failed)
}

func TestCheckLinearizable_ConcurrentAndIndeterminate(t *testing.T) {
	ops := []Op{
		// A write whose outcome is unknown may take effect late.
		{ID: 1, Kind: OpWrite, Key: 2, Value: 1, Result: Info, Commit: "remote_flush", Call: ms(0), Return: ms(50)},
		{ID: 2, Kind: OpRead, Key: 2, Read: i64(0), Result: OK, Level: "strong", Call: ms(60), Return: ms(70)},
		{ID: 3, Kind: OpRead, Key: 2, Read: i64(1), Result: OK, Level: "strong", Call: ms(80), Return: ms(90)},
		// Concurrent write and read: either order is fine.
		{ID: 4, Kind: OpWrite, Key: 3, Value: 4, Result: OK, Commit: "remote_flush", Call: ms(0), Return: ms(40)},
		{ID: 5, Kind: OpRead, Key: 3, Read: i64(0), Result: OK, Level: "strong", Call: ms(10), Return: ms(20)},
		{ID: 6, Kind: OpCAS, Key: 3, Expect: 4, Value: 6, Swapped: true, Result: OK, Commit: "remote_flush", Call: ms(50), Return: ms(60)},
		{ID: 7, Kind: OpCAS, Key: 3, Expect: 4, Value: 8, Swapped: false, Result: OK, Commit: "remote_flush", Call: ms(70), Return: ms(80)},
		{ID: 8, Kind: OpRead, Key: 3, Read: i64(6), Result: OK, Level: "strong", Call: ms(90), Return: ms(95)},
	}
	wantStatus(t, CheckLinearizable(&Evidence{Workload: "register", Ops: ops}), Pass)
}

func TestCheckLinearizable_NotRegister(t *testing.T) {
	wantStatus(t, CheckLinearizable(&Evidence{Workload: "set"}), NA)
}

func TestCheckBank_BrokenTotal(t *testing.T) {
	ev := &Evidence{Workload: "bank", BankTotal: 300, BankAccounts: 3,
		Ops: []Op{
			{ID: 1, Kind: OpBalances, Result: OK, Balances: []int64{100, 100, 100}},
			{ID: 2, Kind: OpBalances, Result: OK, Balances: []int64{95, 100, 100}}, // a half-applied transfer
		},
		Final: &Final{Balances: []int64{100, 100, 100}}}
	v := CheckBank(ev)
	wantStatus(t, v, Failed)
	if got, want := v.Counts["wrong_total"], int64(1); got != want {
		t.Errorf("wrong_total = %d, want %d", got, want)
	}
}

func TestCheckBank_NegativeAndMissingAccount(t *testing.T) {
	ev := &Evidence{Workload: "bank", BankTotal: 300, BankAccounts: 3,
		Final: &Final{Balances: []int64{-5, 305}}}
	v := CheckBank(ev)
	wantStatus(t, v, Failed)
	if v.Counts["negative"] != 1 || v.Counts["wrong_accounts"] != 1 {
		t.Errorf("counts = %v, want one negative and one wrong_accounts", v.Counts)
	}
}

func TestCheckBank_Holds(t *testing.T) {
	ev := &Evidence{Workload: "bank", BankTotal: 300, BankAccounts: 3,
		Ops:   []Op{{Kind: OpBalances, Result: OK, Balances: []int64{90, 110, 100}}, {Kind: OpBalances, Result: Info}},
		Final: &Final{Balances: []int64{50, 150, 100}}}
	wantStatus(t, CheckBank(ev), Pass)
}

func TestCheckPrimaries_TwoInOneTerm(t *testing.T) {
	ev := &Evidence{Samples: []Sample{
		{At: ms(0), Node: "n1", Up: true, Role: "primary", Term: 1, UUID: "u1"},
		{At: ms(0), Node: "n2", Up: true, Role: "replica", Term: 1, UUID: "u2"},
		{At: ms(100), Node: "n2", Up: true, Role: "primary", Term: 1, UUID: "u2"},
	}}
	v := CheckPrimaries(ev)
	wantStatus(t, v, Failed)
	if !strings.Contains(strings.Join(v.Notes, " "), "n1, n2") {
		t.Errorf("notes %q do not name both primaries", v.Notes)
	}
}

func TestCheckPrimaries_NewTermIsFine(t *testing.T) {
	ev := &Evidence{Samples: []Sample{
		{Node: "n1", Up: true, Role: "primary", Term: 1, UUID: "u1"},
		{Node: "n2", Up: true, Role: "primary", Term: 2, UUID: "u2"},
		{Node: "n1", Up: false},
	}, Ops: []Op{{ID: 1, Kind: OpAdd, Result: OK, GTID: "u2:7"}}}
	wantStatus(t, CheckPrimaries(ev), Pass)
}

func TestCheckPrimaries_WriteFromNonPrimary(t *testing.T) {
	ev := &Evidence{Samples: []Sample{{Node: "n1", Up: true, Role: "primary", Term: 1, UUID: "u1"}},
		Ops: []Op{{ID: 1, Kind: OpAdd, Result: OK, GTID: "u9:1"}}}
	wantStatus(t, CheckPrimaries(ev), Failed)
}

func TestCheckCorruption_Served(t *testing.T) {
	ev := &Evidence{Faults: []FaultRecord{{Flip: &FlipCheck{Node: "n2", Segment: "00.seg", Served: true, Restored: true}}}}
	wantStatus(t, CheckCorruption(ev), Failed)
}

func TestCheckCorruption_RefusedSilently(t *testing.T) {
	ev := &Evidence{Faults: []FaultRecord{{Flip: &FlipCheck{Node: "n2", Segment: "00.seg", Refused: true, Message: "exit 1", Restored: true}}}}
	wantStatus(t, CheckCorruption(ev), Failed)
}

func TestCheckCorruption_Detected(t *testing.T) {
	ev := &Evidence{Faults: []FaultRecord{{Flip: &FlipCheck{Node: "n2", Segment: "00.seg", Refused: true, Reported: true, Restored: true}}}}
	wantStatus(t, CheckCorruption(ev), Pass)
	wantStatus(t, CheckCorruption(&Evidence{}), NA)
}

func TestCheckConvergence_Diverged(t *testing.T) {
	ev := &Evidence{Contents: []NodeContent{
		{Node: "n1", Applied: "0/10", Checksum: "aa", Rows: 3},
		{Node: "n2", Applied: "0/10", Checksum: "bb", Rows: 2},
		{Node: "n3", Err: "connection refused"},
	}}
	v := CheckConvergence(ev)
	wantStatus(t, v, Failed)
	if v.Counts["diverged"] != 1 || v.Counts["unreadable"] != 1 {
		t.Errorf("counts = %v, want one diverged and one unreadable", v.Counts)
	}
	ev.Contents = []NodeContent{{Node: "n1", Applied: "0/10", Checksum: "aa"}, {Node: "n2", Applied: "0/10", Checksum: "aa"}}
	wantStatus(t, CheckConvergence(ev), Pass)
}

func TestCheckLostWrites_HAFailover(t *testing.T) {
	files := []LostFile{{Node: "n1", Name: "1-0000000000000100.jsonl", Txns: []LostTxn{
		{GTID: "u1:5"},
		{GTID: "u1:6", Changes: []LostChange{{Table: "chaos_ops", Op: "INSERT", After: []any{float64(4)}}}},
	}}}
	for _, tc := range []struct {
		name string
		op   Op
		want string
	}{
		{"local, listed by gtid", Op{ID: 3, Kind: OpWrite, Result: OK, Commit: "local", GTID: "u1:5"}, Pass},
		{"remote_write, listed by op id", Op{ID: 4, Kind: OpWrite, Result: OK, Commit: "remote_write", GTID: "u1:99"}, Pass},
		{"local, unlisted", Op{ID: 5, Kind: OpWrite, Result: OK, Commit: "local", GTID: "u1:7"}, Failed},
		{"off, unlisted (a crash before the fsync)", Op{ID: 6, Kind: OpWrite, Result: OK, Commit: "off"}, Pass},
		{"remote_flush, even listed", Op{ID: 7, Kind: OpWrite, Result: OK, Commit: "remote_flush", GTID: "u1:5"}, Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &Evidence{HA: true, LostFiles: files, Ops: []Op{tc.op}, Final: &Final{Present: map[int64]bool{}}}
			v, _ := CheckLostWrites(ev)
			wantStatus(t, v, tc.want)
		})
	}
}

// writable is an HA sample of a node that may write.
func writable(round int, at, took time.Duration, node string, term uint64) Sample {
	return Sample{Round: round, At: at, Took: took, Node: node, Up: true, Role: "primary", Term: term, HA: true, MayWrite: true}
}

func TestCheckPrimaries_HAWriters(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples []Sample
		want    string
	}{
		{"one writer per term, one per round", []Sample{
			writable(1, ms(100), ms(2), "n1", 1),
			{Round: 1, At: ms(100), Took: ms(2), Node: "n2", Up: true, Role: "replica", Term: 1, HA: true},
			{Round: 9, At: ms(900), Took: ms(2), Node: "n1", Up: true, Role: "primary", Term: 1, HA: true},
			writable(9, ms(900), ms(3), "n2", 2),
		}, Pass},
		{"two writers in one term", []Sample{writable(1, ms(100), ms(1), "n1", 1), writable(5, ms(500), ms(1), "n2", 1)}, Failed},
		{"two writers at once", []Sample{writable(3, ms(300), ms(1), "n1", 1), writable(3, ms(300), ms(4), "n2", 2)}, Failed},
		{"two writers in a round, answers far apart", []Sample{writable(3, ms(300), ms(1), "n1", 1), writable(3, ms(300), ms(250), "n2", 2)}, Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := CheckPrimaries(&Evidence{HA: true, Samples: tc.samples})
			wantStatus(t, v, tc.want)
		})
	}
}
