package hatest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/client"
)

// CreateTable is the table every Load writes: one row per write, under a
// fresh id.
const CreateTable = "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)"

// Table is the name of the table CreateTable makes.
const Table = "t"

// LoadOptions configure a Load.
type LoadOptions struct {
	// Clients is the number of concurrent writers; 0 means 4.
	Clients int
	// MaxAcked stops the load after this many acknowledged writes; 0 means
	// no count bound.
	MaxAcked int
	// Duration stops the load after this long; 0 means 60 s. A load is
	// always bounded in time.
	Duration time.Duration
	// Commit is the commit level of each write (local, remote_flush, ...).
	Commit string
	// Timeout bounds each request; 0 means 2 s.
	Timeout time.Duration
	// FirstID is the first row id; ids then count up, one per attempt.
	FirstID int64
	// Seed seeds the writers' choice of member.
	Seed uint64
	// Targets returns the HTTP addresses to write through (Cluster.Live);
	// each attempt picks one at random. It must be safe for concurrent use.
	Targets func() []string
}

// Ack is an acknowledged write.
type Ack struct {
	ID    int64
	Value string
	GTID  string
	LSN   string
	Via   string    // the member's HTTP address the write was sent to
	Sent  time.Time // when the request was sent
	At    time.Time // when the acknowledgement arrived
}

// LoadResult is what a Load did.
type LoadResult struct {
	Acks []Ack
	// Uncertain holds the writes that got an error: their outcome is
	// unknown (a write may commit and lose its reply), by id, with the
	// error.
	Uncertain map[int64]string
	Attempts  int64
}

// Load writes rows through the members of a cluster from several
// goroutines, each attempt a fresh id, retrying through any live member
// after an error, and records every acknowledged write.
type Load struct {
	opts   LoadOptions
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	nextID atomic.Int64
	tries  atomic.Int64

	mu        sync.Mutex
	acks      []Ack
	uncertain map[int64]string
	clients   map[string]*client.Client
}

// StartLoad starts the writers; Stop ends them.
func StartLoad(opts LoadOptions) *Load {
	if opts.Clients == 0 {
		opts.Clients = 4
	}
	if opts.Duration == 0 {
		opts.Duration = time.Minute
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.FirstID == 0 {
		opts.FirstID = 1
	}
	l := &Load{opts: opts, uncertain: map[int64]string{}, clients: map[string]*client.Client{}}
	l.ctx, l.cancel = context.WithTimeout(context.Background(), opts.Duration)
	l.nextID.Store(opts.FirstID)
	for w := range opts.Clients {
		l.wg.Add(1)
		go l.writer(w)
	}
	return l
}

func (l *Load) writer(w int) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(l.opts.Seed, uint64(w)))
	for l.ctx.Err() == nil {
		if l.opts.MaxAcked > 0 && l.Acked() >= l.opts.MaxAcked {
			return
		}
		targets := l.opts.Targets()
		if len(targets) == 0 {
			l.backoff()
			continue
		}
		addr := targets[rng.IntN(len(targets))]
		id := l.nextID.Add(1) - 1
		v := fmt.Sprintf("w%d-%d", w, id)
		l.tries.Add(1)
		sent := time.Now()
		ctx, cancel := context.WithTimeout(l.ctx, l.opts.Timeout)
		resp, err := l.client(addr).Execute(ctx, []client.Statement{{SQL: "INSERT INTO t(id, v) VALUES(?, ?)", Args: []any{id, v}}},
			client.ExecOptions{Commit: l.opts.Commit})
		cancel()
		if err == nil {
			err = resp.Err()
		}
		l.mu.Lock()
		if err != nil {
			l.uncertain[id] = err.Error()
		} else {
			l.acks = append(l.acks, Ack{ID: id, Value: v, GTID: resp.GTID, LSN: resp.LSN, Via: addr, Sent: sent, At: time.Now()})
		}
		l.mu.Unlock()
		if err != nil {
			l.backoff()
		}
	}
}

// backoff pauses a writer after an error, so that a cluster without a
// primary is not flooded; it is not a synchronisation.
func (l *Load) backoff() {
	t := time.NewTimer(5 * time.Millisecond)
	defer t.Stop()
	select {
	case <-l.ctx.Done():
	case <-t.C:
	}
}

func (l *Load) client(addr string) *client.Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[addr]
	if !ok {
		var err error
		c, err = client.New(addr, client.WithMaxConns(l.opts.Clients))
		if err != nil {
			panic(err) // a host:port address always parses
		}
		l.clients[addr] = c
	}
	return c
}

// Acked is the number of acknowledged writes so far.
func (l *Load) Acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

// Acks returns the acknowledged writes so far.
func (l *Load) Acks() []Ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks)
}

// Running reports whether the load is still within its bounds.
func (l *Load) Running() bool {
	return l.ctx.Err() == nil && (l.opts.MaxAcked == 0 || l.Acked() < l.opts.MaxAcked)
}

// Stop ends the writers, waits for them and returns what they did.
func (l *Load) Stop() LoadResult {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.clients {
		c.Close()
	}
	return LoadResult{Acks: slices.Clone(l.acks), Uncertain: maps.Clone(l.uncertain), Attempts: l.tries.Load()}
}

// sortedKeys returns a map's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
