package crashtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/lsn"
)

// outcome is what the client learnt about a request.
type outcome int

const (
	// acked: HTTP 200 and every statement that was meant to succeed did;
	// its rows must be present.
	acked outcome = iota
	// failed: a ?transaction request with a statement error; none of its
	// rows may be present.
	failed
	// ambiguous: no answer (the node was killed); its rows are all present
	// or all absent.
	ambiguous
)

func (o outcome) String() string {
	return [...]string{"acknowledged", "failed", "ambiguous", "ambiguous, found committed", "commit=off, lost"}[o]
}

// loadReq is one request of the load and what it should have written.
type loadReq struct {
	round, worker, seq int
	kind               string
	rows               map[int64]row // rows it writes if it commits
	out                outcome
	off                bool    // sent with commit=off: acked before its fsync
	lsn                lsn.LSN // commit LSN of an acked request
	resolved           bool    // an ambiguous request whose fate a restart showed
	detail             string  // error text of an ambiguous request
}

func (r *loadReq) String() string {
	return fmt.Sprintf("round %d worker %d request %d (%s, %d rows, %s)", r.round, r.worker, r.seq, r.kind, len(r.rows), r.out)
}

// loadRequest builds worker w's i-th request of a round. Ids are unique
// across the whole test: round*1e8 + worker*1e6 + a per-worker counter.
func loadRequest(round, w, i int, rng *rand.Rand) *loadReq {
	r := &loadReq{round: round, worker: w, seq: i, rows: make(map[int64]row)}
	base := int64(round)*100_000_000 + int64(w)*1_000_000 + int64(i)*4
	val := func(k int) row {
		return row{W: int64(w), V: fmt.Sprintf("r%d-w%d-%d-%d-%s", round, w, i, k, strings.Repeat("x", rng.IntN(200)))}
	}
	switch p := rng.IntN(100); {
	case p < 55:
		r.kind = "single"
		r.rows[base] = val(0)
	case p < 60:
		// Acknowledged before the fsync: a kill may lose it, but only
		// together with everything logged after it.
		r.kind, r.off = "single-off", true
		r.rows[base] = val(0)
	case p < 80:
		r.kind = "txn"
		for k := range 2 + rng.IntN(2) {
			r.rows[base+int64(k)] = val(k)
		}
	case p < 90:
		// A transaction that repeats its first id: the whole request fails.
		r.kind = "txn-dup"
		for k := range 2 + rng.IntN(2) {
			r.rows[base+int64(k)] = val(k)
		}
	default:
		// No ?transaction: the middle statement repeats the first id and
		// fails alone; the other two commit, in one record.
		r.kind = "partial"
		r.rows[base] = val(0)
		r.rows[base+2] = val(2)
	}
	return r
}

func (r *loadReq) statements() ([]client.Statement, client.ExecOptions) {
	ids := sortedIDs(r.rows)
	var stmts []client.Statement
	for _, id := range ids {
		stmts = append(stmts, insert(id, r.rows[id].W, r.rows[id].V))
	}
	switch r.kind {
	case "txn", "single":
		return stmts, client.ExecOptions{Transaction: r.kind == "txn", Commit: "local"}
	case "single-off":
		return stmts, client.ExecOptions{Commit: "off"}
	case "txn-dup":
		return append(stmts, insert(ids[0], 99, "dup")), client.ExecOptions{Transaction: true, Commit: "local"}
	default: // partial
		return []client.Statement{stmts[0], insert(ids[0], 99, "dup"), stmts[1]}, client.ExecOptions{Commit: "local"}
	}
}

// failingStatement is the index of the statement meant to fail, or -1.
func (r *loadReq) failingStatement() int {
	switch r.kind {
	case "txn-dup":
		return len(r.rows)
	case "partial":
		return 1
	}
	return -1
}

// sendLoad sends one request and classifies its outcome.
func sendLoad(ctx context.Context, t *testing.T, c *client.Client, r *loadReq, killed *atomic.Bool) {
	stmts, opts := r.statements()
	resp, err := c.Execute(ctx, stmts, opts)
	if err != nil {
		r.out, r.detail = ambiguous, err.Error()
		if !killed.Load() {
			t.Errorf("%v: error before the node was killed: %v", r, err)
		}
		return
	}
	bad := r.failingStatement()
	if len(resp.Results) != len(stmts) {
		t.Errorf("%v: %d results for %d statements: %s", r, len(resp.Results), len(stmts), resp.Raw)
	}
	for i, res := range resp.Results {
		if (res.Error != "") != (i == bad) {
			t.Errorf("%v: statement %d: error %q; want an error only from statement %d: %s", r, i, res.Error, bad, resp.Raw)
		}
	}
	if bad >= 0 && (len(resp.Results) <= bad || !strings.Contains(resp.Results[bad].Error, "UNIQUE")) {
		t.Errorf("%v: want a UNIQUE constraint error from statement %d: %s", r, bad, resp.Raw)
	}
	switch {
	case r.kind == "txn-dup":
		r.out = failed
		if resp.LSN != "" || resp.GTID != "" {
			t.Errorf("%v: a failed transaction got LSN %q, GTID %q", r, resp.LSN, resp.GTID)
		}
	default:
		r.out = acked
		var err error
		if r.lsn, err = lsn.Parse(resp.LSN); err != nil || resp.GTID == "" {
			t.Errorf("%v: acknowledged without a valid LSN and a GTID (%v): %s", r, err, resp.Raw)
		}
	}
}

// Extra keys of the counts verifyModel returns.
const (
	ambiguousPresent = outcome(3) // ambiguous requests found committed
	offLost          = outcome(4) // commit=off requests past the recovered log end
)

// verifyModel checks table t against every request of every round so far,
// and turns each ambiguous request into acked or failed by what it finds:
// later rounds must keep it that way. end is the log end after the
// recovery: a request of this round acked with an LSN up to it must be
// present; past it, only a commit=off request may be, and it must be
// absent. It returns counts by outcome.
func verifyModel(t *testing.T, round int, model []*loadReq, got map[int64]row, end lsn.LSN) map[outcome]int {
	t.Helper()
	counts := make(map[outcome]int)
	known := make(map[int64]bool)
	errs := 0
	report := func(format string, args ...any) {
		if errs++; errs <= 20 {
			t.Errorf("round %d: "+format, append([]any{round}, args...)...)
		}
	}
	for _, r := range model {
		present := 0
		for id, want := range r.rows {
			known[id] = true
			if g, ok := got[id]; ok {
				present++
				if g != want {
					report("%v: row %d is %+v, want %+v", r, id, g, want)
				}
			}
		}
		if r.round == round {
			counts[r.out]++
			if r.out == acked && r.lsn > end {
				if !r.off {
					report("%v: acknowledged at commit=local with LSN %s, but the recovered log ends at %s", r, r.lsn, end)
				}
				r.out, r.resolved = failed, true
				counts[offLost]++
			}
		}
		switch {
		case r.out == acked && present != len(r.rows):
			report("%v: acknowledged, but %d of its %d rows are missing%s", r, len(r.rows)-present, len(r.rows), resolvedNote(r))
		case r.out == failed && present != 0:
			report("%v: failed, but %d of its %d rows are present%s", r, present, len(r.rows), resolvedNote(r))
		case r.out == ambiguous && present != 0 && present != len(r.rows):
			report("%v: not all-or-nothing: %d of its %d rows are present (client error: %s)", r, present, len(r.rows), r.detail)
		case r.out == ambiguous:
			r.resolved = true
			if present > 0 {
				r.out = acked
				counts[ambiguousPresent]++
			} else {
				r.out = failed
			}
		}
	}
	for id, g := range got {
		if !known[id] {
			report("row %d %+v was never written by the test", id, g)
		}
	}
	if errs > 20 {
		t.Errorf("round %d: %d more problems", round, errs-20)
	}
	return counts
}

func resolvedNote(r *loadReq) string {
	if r.resolved {
		return " (ambiguous when sent; an earlier restart settled it)"
	}
	return ""
}

func sortedIDs(rows map[int64]row) []int64 {
	ids := make([]int64, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
