package crashtest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/lsn"
)

var (
	flagRounds = flag.Int("crash.rounds", envInt("TANDEM_CRASH_ROUNDS", 5), "kill/recover rounds of TestCrash_KillUnderLoad (env TANDEM_CRASH_ROUNDS)")
	flagSeed   = flag.Uint64("crash.seed", uint64(envInt("TANDEM_CRASH_SEED", 0)), "seed of the crash tests; 0 picks one from the clock (env TANDEM_CRASH_SEED)")
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// seed returns the run's seed and logs how to repeat it.
func seed(t *testing.T) uint64 {
	s := *flagSeed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (repeat with -crash.seed=%d or TANDEM_CRASH_SEED=%d)", s, s, s)
	return s
}

// The binary is built once per test run, on first use.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func tandemBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "tandem-crashtest-"); binErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		binPath, binErr = Build(ctx, binDir)
		if binErr == nil {
			fmt.Fprintf(os.Stderr, "crashtest: built %s in %v\n", binPath, time.Since(start).Round(time.Millisecond))
		}
	})
	if binErr != nil {
		t.Fatalf("build tandem: %v", binErr)
	}
	return binPath
}

// node is a test's view of one data directory, started and stopped
// repeatedly.
type node struct {
	t       *testing.T
	dataDir string
	args    []string
	procs   []*Proc // every start, the last one running or not
	proc    *Proc
	c       *client.Client
}

func newNode(t *testing.T, args ...string) *node {
	return newNodeAt(t, filepath.Join(t.TempDir(), "data"), args...)
}

// newNodeAt uses the data dir dataDir. At the end of the test it kills the
// node and, when the test failed, logs the stderr of its last starts.
func newNodeAt(t *testing.T, dataDir string, args ...string) *node {
	n := &node{t: t, dataDir: dataDir, args: args}
	t.Cleanup(func() {
		for i, p := range n.procs {
			p.kill()
			if t.Failed() && i >= len(n.procs)-3 {
				t.Logf("stderr of node start #%d of %d (%s):\n%s", i+1, len(n.procs), p.Addr, Tail(p.Stderr(), 4096))
			}
		}
	})
	return n
}

func (n *node) options() Options {
	return Options{Binary: tandemBinary(n.t), NodeID: "n1", DataDir: n.dataDir, Args: n.args, ReadyTimeout: 30 * time.Second}
}

// start starts the node and fails the test if it does not become ready.
func (n *node) start() {
	n.t.Helper()
	p, err := n.tryStart()
	if err != nil {
		n.t.Fatalf("start node (start #%d): %v", len(n.procs)+1, err)
	}
	n.proc = p
}

// tryStart starts the node and returns the error of a failed start.
func (n *node) tryStart() (*Proc, error) {
	n.t.Helper()
	p, err := Start(context.Background(), n.options())
	if err != nil {
		return nil, err
	}
	n.procs = append(n.procs, p)
	c, err := p.Client(client.WithTimeout(20*time.Second), client.WithMaxConns(16))
	if err != nil {
		p.kill()
		return nil, err
	}
	n.c = c
	return p, nil
}

// kill SIGKILLs the node.
func (n *node) kill() {
	n.t.Helper()
	if err := n.proc.Kill(); err != nil {
		n.t.Fatal(err)
	}
	n.c.Close()
}

// stop stops the node with SIGTERM and requires a clean exit.
func (n *node) stop() {
	n.t.Helper()
	if err := n.proc.Stop(20 * time.Second); err != nil {
		n.t.Fatal(err)
	}
	n.c.Close()
}

// exec runs statements and fails the test on any error.
func (n *node) exec(opts client.ExecOptions, stmts ...client.Statement) *client.ExecuteResponse {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := n.c.Execute(ctx, stmts, opts)
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		n.t.Fatalf("execute %v: %v", stmts, err)
	}
	return resp
}

const createTable = "CREATE TABLE t(id INTEGER PRIMARY KEY, w INTEGER, v TEXT)"

func insert(id, w int64, v string) client.Statement {
	return client.Statement{SQL: "INSERT INTO t(id, w, v) VALUES(?, ?, ?)", Args: []any{id, w, v}}
}

// row is one row of table t.
type row struct {
	W int64
	V string
}

// rows reads table t.
func (n *node) rows() map[int64]row {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := n.c.Query(ctx, client.SQL("SELECT id, w, v FROM t"), client.QueryOptions{})
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		n.t.Fatalf("read table t: %v", err)
	}
	out := make(map[int64]row, len(resp.Results[0].Values))
	for _, v := range resp.Results[0].Values {
		id, ok1 := v[0].(int64)
		w, ok2 := v[1].(int64)
		s, ok3 := v[2].(string)
		if !ok1 || !ok2 || !ok3 {
			n.t.Fatalf("row %v: want (int64, int64, string)", v)
		}
		out[id] = row{w, s}
	}
	return out
}

// status is the part of GET /status these tests read.
type status struct {
	Log struct {
		End      lsn.LSN `json:"end_lsn"`
		Segments int     `json:"segments"`
	} `json:"log"`
	DB struct {
		Applied lsn.LSN `json:"applied_lsn"`
	} `json:"db"`
	Recovery struct {
		Log struct {
			End      lsn.LSN `json:"end_lsn"`
			Cut      bool    `json:"cut"`
			CutAt    lsn.LSN `json:"cut_at"`
			CutBytes int64   `json:"cut_bytes"`
		} `json:"log"`
		From    lsn.LSN `json:"from_lsn"`
		To      lsn.LSN `json:"to_lsn"`
		Applied int     `json:"transactions_applied"`
	} `json:"recovery"`
	raw map[string]any
}

func (n *node) status() status {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := n.c.Status(ctx)
	if err != nil {
		n.t.Fatalf("status: %v", err)
	}
	b, _ := json.Marshal(m)
	var s status
	if err := json.Unmarshal(b, &s); err != nil {
		n.t.Fatalf("decode status %s: %v", b, err)
	}
	s.raw = m
	return s
}

// checkReplay compares the stopped node's database with a replay of its
// log, and requires the database to have applied the whole log.
func (n *node) checkReplay() Replay {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := CheckReplay(ctx, n.dataDir, n.t.TempDir())
	if err != nil {
		n.t.Fatalf("replay the log: %v", err)
	}
	if got, want := r.NodeChecksum, r.ReplayChecksum; got != want {
		n.t.Errorf("node database checksum %s, want %s (a replay of the %d records of the log, LSN %s to %s): SQLite does not equal its log",
			got, want, r.Records, r.LogFirst, r.LogEnd)
	}
	if got, want := r.NodeApplied, r.LogEnd; got != want {
		n.t.Errorf("node database applied LSN %s, want the log end %s", got, want)
	}
	if r.LogCut {
		n.t.Errorf("the log of a node that recovered and stopped still had a torn tail")
	}
	if r.Order != "" {
		n.t.Errorf("log order: %s", r.Order)
	}
	return r
}
