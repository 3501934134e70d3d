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
}

// any returns a random node's target; a replica forwards writes and
// strong reads to the primary.
func (w *worker) any() target { return w.targets[w.rng.IntN(len(w.targets))] }

// begin starts an op: a fresh ID and the invocation time.
func (w *worker) begin(kind string, t target) Op {
	return Op{ID: w.ids.Add(1), Worker: w.id, Kind: kind, Node: t.node, Call: w.hist.Since(time.Now())}
}

// exec runs a write transaction and fills the op's outcome.
func (w *worker) exec(ctx context.Context, t target, op *Op, stmts []client.Statement) *client.ExecuteResponse {
	op.Commit = w.commit
	resp, err := t.c.Execute(ctx, stmts, client.ExecOptions{Transaction: true, Commit: w.commit})
	op.Return = w.hist.Since(time.Now())
	switch {
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

// notSent reports an error that proves the write never reached the
// primary: a replica answered that it could not connect to the primary to
// forward it. Any other error leaves the outcome unknown.
func notSent(err error) bool {
	var he *client.HTTPError
	return errors.As(err, &he) && strings.Contains(he.Message, "forward to the primary") &&
		strings.Contains(he.Message, "connect: connection refused")
}

// query runs one read and fills the op's outcome.
func (w *worker) query(ctx context.Context, t target, op *Op, level string, stmt client.Statement) *client.Result {
	op.Level = level
	resp, err := t.c.Query(ctx, []client.Statement{stmt}, client.QueryOptions{Level: level})
	op.Return = w.hist.Since(time.Now())
	if err == nil {
		err = resp.Err()
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
			commit: cfg.Commit, hist: hist, ids: &ids, seen: make(map[int]int64)}
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
