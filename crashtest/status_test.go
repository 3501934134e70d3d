package crashtest

import (
	"testing"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/lsn"
)

// TestCrash_CommitOff checks that writes acknowledged at commit=off, before
// their fsync, are all there after a clean shutdown and restart.
func TestCrash_CommitOff(t *testing.T) {
	n := newNode(t)
	n.start()
	n.exec(client.ExecOptions{}, client.Statement{SQL: createTable})
	var prev lsn.LSN
	for id := int64(1); id <= 50; id++ {
		resp := n.exec(client.ExecOptions{Commit: "off"}, insert(id, 1, rowValue(id)))
		got, err := lsn.Parse(resp.LSN)
		if err != nil || got <= prev {
			t.Fatalf("commit=off write %d: LSN %q (%v); want one after %s", id, resp.LSN, err, prev)
		}
		prev = got
	}
	n.stop()
	n.start()
	n.wantRows(span(1, 51))
	if got := n.status().Log.End; got != prev {
		t.Errorf("log end after restart %s, want the last commit=off LSN %s", got, prev)
	}
	n.stop()
	n.checkReplay()
}

// TestCrash_RecoveryStatus checks that /status reports what recovery did
// after a kill.
func TestCrash_RecoveryStatus(t *testing.T) {
	n := newNode(t)
	n.start()
	n.writeRows(true, 1, 21)
	n.kill()
	n.start()
	st := n.status()
	rec, ok := st.raw["recovery"].(map[string]any)
	if !ok {
		t.Fatalf("status has no recovery object: %v", st.raw)
	}
	for _, k := range []string{"log", "from_lsn", "to_lsn", "transactions_applied"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("status recovery lacks %q: %v", k, rec)
		}
	}
	if log, ok := rec["log"].(map[string]any); ok {
		for _, k := range []string{"end_lsn", "cut", "cut_at", "cut_bytes", "records"} {
			if _, ok := log[k]; !ok {
				t.Errorf("status recovery.log lacks %q: %v", k, log)
			}
		}
	}
	if st.Recovery.From > st.Recovery.To {
		t.Errorf("recovery from_lsn %s > to_lsn %s", st.Recovery.From, st.Recovery.To)
	}
	if got, want := st.Recovery.To, st.Log.End; got != want {
		t.Errorf("recovery to_lsn %s, want the log end %s", got, want)
	}
	if got, want := st.Recovery.Log.End, st.Log.End; got != want {
		t.Errorf("recovery log end %s, want %s", got, want)
	}
	if st.Recovery.Log.Cut {
		t.Errorf("recovery cut a torn tail after a kill of an idle node")
	}
	n.wantRows(span(1, 21))
	n.stop()
	n.checkReplay()
}
