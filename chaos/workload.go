package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/client"
)

// Workload generates a client's operations and reads the final state.
type Workload interface {
	// Name is register, bank or set.
	Name() string
	// Setup creates the schema and the initial rows on the primary.
	Setup(ctx context.Context, c *client.Client) error
	// Do picks and runs the worker's next operation and returns it.
	Do(ctx context.Context, w *worker) Op
	// Final reads the state the checkers need from the primary, after
	// every fault was healed.
	Final(ctx context.Context, c *client.Client) (*Final, error)
	// Tables lists the tables the convergence checker compares, each
	// with a primary key.
	Tables() []string
}

// Final is the state read at the end of a run.
type Final struct {
	// Present holds the op IDs whose transactions are in the database.
	Present map[int64]bool `json:"-"`
	// Balances is the bank's final read.
	Balances []int64 `json:"balances,omitempty"`
}

// newWorkload returns the named workload.
func newWorkload(name string) (Workload, error) {
	switch name {
	case "register":
		return &register{keys: 8}, nil
	case "bank":
		return &bank{accounts: 5, initial: 100}, nil
	case "set":
		return &set{}, nil
	}
	return nil, fmt.Errorf("%w: workload %q", ErrConfig, name)
}

// target is a node the workers send requests to, through its client proxy.
type target struct {
	node string
	c    *client.Client
}

// worker is one client: its own seeded random source and the nodes it may
// talk to (the primary first).
type worker struct {
	id      int
	rng     *rand.Rand
	targets []target
	commit  string
	hist    *History
	ids     *atomic.Int64
	seen    map[int]int64 // register: the last value this worker saw per key
	// ha makes the worker a client of an HA cluster: it sticks to one
	// node (any node forwards to the primary it knows) and moves to
	// another after an error, retrying at once a request that surely did
	// not run; pref is the node it sticks to, -1 before the first op.
	ha        bool
	pref      int
	opTimeout time.Duration
}

// any returns a random node's target; a replica forwards writes and
// strong reads to the primary. An HA worker returns the node it sticks to.
func (w *worker) any() target {
	if !w.ha {
		return w.targets[w.rng.IntN(len(w.targets))]
	}
	if w.pref < 0 {
		w.pref = w.rng.IntN(len(w.targets))
	}
	return w.targets[w.pref]
}

// moveOn makes an HA worker stick to another node than t from now on, and
// returns it.
func (w *worker) moveOn(t target) target {
	if len(w.targets) < 2 {
		return t
	}
	i := w.rng.IntN(len(w.targets) - 1)
	if w.targets[i].node == t.node {
		i = len(w.targets) - 1
	}
	w.pref = i
	return w.targets[i]
}

// begin starts an op: a fresh ID and the invocation time.
func (w *worker) begin(kind string, t target) Op {
	return Op{ID: w.ids.Add(1), Worker: w.id, Kind: kind, Node: t.node, Call: w.hist.Since(time.Now())}
}

// exec runs a write transaction and fills the op's outcome. An HA worker
// sends a write that surely did not run (refused for want of a lease or a
// known primary) to the next node, at most once per node.
func (w *worker) exec(ctx context.Context, t target, op *Op, stmts []client.Statement) *client.ExecuteResponse {
	op.Commit = w.commit
	resp, err := t.c.Execute(ctx, stmts, client.ExecOptions{Transaction: true, Commit: w.commit})
	for w.ha && notRun(err) && op.Tries < len(w.targets)-1 && ctx.Err() == nil {
		op.Tries++
		t = w.moveOn(t)
		op.Node = t.node
		resp, err = t.c.Execute(ctx, stmts, client.ExecOptions{Transaction: true, Commit: w.commit})
	}
	op.Return = w.hist.Since(time.Now())
	if w.ha && err != nil {
		w.moveOn(t)
	}
	switch {
	case w.ha && notRun(err):
		op.Result, op.Err = Fail, err.Error()
		return nil
	case notSent(err):
		op.Result, op.Err = Fail, err.Error()
		return nil
	case err != nil:
		op.Result, op.Err = Info, err.Error()
		return nil
	case resp.Err() != nil:
		// ?transaction rolled the whole request back.
		op.Result, op.Err = Fail, resp.Err().Error()
		return nil
	}
	op.Result, op.LSN, op.GTID, op.Warning = OK, resp.LSN, resp.GTID, resp.Warning
	return resp
}

// notRun reports an error that proves an HA node ran nothing: a node
// without the primary's lease (or a primary handing over) refused the
// write before running it, itself or as the primary a replica forwarded
// it to; or a replica refused it, knowing no primary; or notSent.
func notRun(err error) bool {
	var he *client.HTTPError
	if !errors.As(err, &he) {
		return false
	}
	return strings.Contains(he.Message, "write was not run") ||
		strings.Contains(he.Message, "is a replica and does not know its primary") || notSent(err)
}

// notSent reports an error that proves the write never reached the
// primary: a replica answered that it could not connect to the primary to
// forward it. Any other error leaves the outcome unknown.
func notSent(err error) bool {
	var he *client.HTTPError
	return errors.As(err, &he) && strings.Contains(he.Message, "forward to the primary") &&
		strings.Contains(he.Message, "connect: connection refused")
}

// query runs one read and fills the op's outcome. An HA worker tries the
// next node after an error, at most once per node and while the op is
// younger than the op timeout: a read that failed changed nothing.
func (w *worker) query(ctx context.Context, t target, op *Op, level string, stmt client.Statement) *client.Result {
	op.Level = level
	began := time.Now()
	resp, err := t.c.Query(ctx, []client.Statement{stmt}, client.QueryOptions{Level: level})
	if err == nil {
		err = resp.Err()
	}
	for w.ha && err != nil && op.Tries < len(w.targets)-1 && ctx.Err() == nil && time.Since(began) < w.opTimeout {
		op.Tries++
		t = w.moveOn(t)
		op.Node = t.node
		resp, err = t.c.Query(ctx, []client.Statement{stmt}, client.QueryOptions{Level: level})
		if err == nil {
			err = resp.Err()
		}
	}
	op.Return = w.hist.Since(time.Now())
	if err != nil && w.ha {
		w.moveOn(t)
	}
	if err != nil {
		op.Result, op.Err = Info, err.Error()
		return nil
	}
	if len(resp.Results) != 1 {
		op.Result, op.Err = Info, fmt.Sprintf("%d results for one statement", len(resp.Results))
		return nil
	}
	op.Result = OK
	return &resp.Results[0]
}

// runWorkers runs cfg.Concurrency workers until ctx ends, each paced to
// at most cfg.Rate operations per second.
func runWorkers(ctx context.Context, cfg *Config, wl Workload, targets []target, hist *History) {
	var ids atomic.Int64
	var wg sync.WaitGroup
	for i := range cfg.Concurrency {
		w := &worker{id: i, rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1)), targets: targets,
			commit: cfg.Commit, hist: hist, ids: &ids, seen: make(map[int]int64), ha: cfg.HA, pref: -1, opTimeout: cfg.OpTimeout}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second / time.Duration(cfg.Rate))
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				op := wl.Do(ctx, w)
				if ctx.Err() != nil && op.Result == Info {
					// Cut short by the end of the run: still unknown,
					// so it stays in the history as such.
					op.Err = "run ended: " + op.Err
				}
				hist.Add(op)
				if op.Result != OK && !backoff(ctx) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// errorBackoff is how long a worker waits after an op that did not
// succeed, as a client would before it retries a node that is down.
const errorBackoff = 100 * time.Millisecond

// backoff waits errorBackoff; false when ctx ended first.
func backoff(ctx context.Context) bool {
	t := time.NewTimer(errorBackoff)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// execAll runs statements on the primary at commit=local, for setup.
func execAll(ctx context.Context, c *client.Client, stmts ...client.Statement) error {
	resp, err := c.Execute(ctx, stmts, client.ExecOptions{Transaction: true, Commit: "local"})
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		return fmt.Errorf("chaos: setup: %w", err)
	}
	return nil
}

// presentIDs reads a column of op IDs.
func presentIDs(ctx context.Context, c *client.Client, sql string) (map[int64]bool, error) {
	resp, err := c.Query(ctx, client.SQL(sql), client.QueryOptions{Level: "strong"})
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("chaos: final read %q: %w", sql, err)
	}
	out := make(map[int64]bool)
	for _, row := range resp.Results[0].Values {
		if id, ok := row[0].(int64); ok {
			out[id] = true
		}
	}
	return out, nil
}
