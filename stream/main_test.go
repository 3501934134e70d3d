package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/hlc"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testSecret = "0123456789abcdef-test-secret"

var (
	primaryUUID = gtid.UUID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	replicaUUID = gtid.UUID{0xbb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
)

// testRecord returns the i-th record of a test log. Payloads repeat a
// pattern, so they compress well.
func testRecord(i int, term uint64) *rlog.Record {
	return &rlog.Record{
		Term:    term,
		GTID:    gtid.GTID{Origin: primaryUUID, Seq: uint64(i + 1)},
		HLC:     hlc.New(1_700_000_000_000+int64(i), 0),
		Kind:    rlog.KindRow,
		Payload: bytes.Repeat([]byte(fmt.Sprintf("row %d of table t;", i%7)), 10+i%20),
	}
}

func openLog(t testing.TB, dir string, start lsn.LSN) *rlog.Log {
	t.Helper()
	l, err := rlog.Open(rlog.Options{Dir: dir, StartLSN: start, SegmentSize: 256 << 10, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open log %s: %v", dir, err)
	}
	return l
}

// appendRecords appends n records, numbered from first, and syncs.
func appendRecords(t testing.TB, l *rlog.Log, first, n int, term uint64) {
	t.Helper()
	for i := first; i < first+n; i++ {
		if _, err := l.Append(testRecord(i, term)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

// readRecords returns the durable records of l from an LSN on.
func readRecords(t testing.TB, l *rlog.Log, from lsn.LSN) []*rlog.Record {
	t.Helper()
	r, err := l.NewReader(from)
	if err != nil {
		t.Fatalf("NewReader(%s): %v", from, err)
	}
	defer r.Close()
	var out []*rlog.Record
	for {
		rec, err := r.TryNext()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read at %s: %v", r.Position(), err)
		}
		out = append(out, rec)
	}
}

// sameLogs checks that replica holds exactly primary's records from an LSN.
func sameLogs(t testing.TB, primary, replica *rlog.Log, from lsn.LSN) {
	t.Helper()
	got, want := readRecords(t, replica, from), readRecords(t, primary, from)
	if len(got) != len(want) {
		t.Fatalf("replica has %d records from %s, primary %d", len(got), from, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.LSN != w.LSN || g.Term != w.Term || g.GTID != w.GTID || g.HLC != w.HLC || g.Kind != w.Kind || !bytes.Equal(g.Payload, w.Payload) {
			t.Fatalf("record %d differs: got %+v, want %+v", i, g, w)
		}
	}
	if got, want := replica.End(), primary.End(); got != want {
		t.Fatalf("replica log ends at %s, primary at %s", got, want)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// logBuffer collects log output; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	var w io.Writer = l
	if testing.Verbose() {
		w = io.MultiWriter(l, os.Stderr)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logBuffer) contains(s ...string) bool {
	out := l.String()
	for _, x := range s {
		if !strings.Contains(out, x) {
			return false
		}
	}
	return true
}

// testSource is a Source over a real rlog.Log.
type testSource struct {
	log  *rlog.Log
	term atomic.Uint64

	mu        sync.Mutex
	attachErr error
	attaches  int
	acks      []Ack
	detached  []error
	afterStop bool // an Acked came after a Detached
	seed      func(ctx context.Context) (*Snapshot, error)
	async     atomic.Bool // Synchronous reports false
}

var _ Source = (*testSource)(nil)

func newTestSource(t testing.TB, term uint64) *testSource {
	l := openLog(t, t.TempDir(), 0)
	t.Cleanup(func() { _ = l.Close() })
	s := &testSource{log: l}
	s.term.Store(term)
	return s
}

func (s *testSource) PrimaryHTTP() string { return "127.0.0.1:4001" }

func (s *testSource) Synchronous(string) bool { return s.async.Load() == false }

func (s *testSource) ApplyWaits() bool { return true }

func (s *testSource) Term() uint64                                 { return s.term.Load() }
func (s *testSource) Durable() lsn.LSN                             { return s.log.Durable() }
func (s *testSource) NewReader(from lsn.LSN) (*rlog.Reader, error) { return s.log.NewReader(from) }

func (s *testSource) Attach(h *Hello) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attaches++
	return s.attachErr
}

func (s *testSource) Seed(ctx context.Context) (*Snapshot, error) {
	s.mu.Lock()
	f := s.seed
	s.mu.Unlock()
	if f == nil {
		return nil, Errorf(CodeBadRequest, "this test node cannot seed")
	}
	return f(ctx)
}

func (s *testSource) Acked(replica string, a Ack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.detached) >= s.attaches {
		s.afterStop = true
	}
	s.acks = append(s.acks, a)
}

func (s *testSource) Detached(replica string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detached = append(s.detached, err)
}

func (s *testSource) lastAck() (Ack, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.acks) == 0 {
		return Ack{}, 0
	}
	return s.acks[len(s.acks)-1], len(s.acks)
}

func (s *testSource) attachCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attaches
}

// testSink is a Sink over a real rlog.Log; records keep the upstream's
// LSNs through AppendReplicated.
type testSink struct {
	dir     string
	mu      sync.Mutex
	log     *rlog.Log
	seeded  []byte
	needs   bool
	highest atomic.Uint64
	applied atomic.Uint64
	manual  bool // Applied moves only when the test says
}

var _ Sink = (*testSink)(nil)

func newTestSink(t testing.TB, needsSeed bool) *testSink {
	s := &testSink{dir: t.TempDir(), needs: needsSeed}
	s.log = openLog(t, s.dir, 0)
	t.Cleanup(func() { _ = s.Log().Close() })
	return s
}

func (s *testSink) Log() *rlog.Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log
}

func (s *testSink) Position() lsn.LSN { return s.Log().End() }

func (s *testSink) NeedsSeed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.needs
}

func (s *testSink) InstallSeed(r io.Reader, size int64, at lsn.LSN) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if int64(len(b)) != size {
		return fmt.Errorf("seed has %d bytes, want %d", len(b), size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.log.Close(); err != nil {
		return err
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return err
	}
	l, err := rlog.Open(rlog.Options{Dir: s.dir, StartLSN: at, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	s.log, s.seeded, s.needs = l, b, false
	s.applied.Store(uint64(at))
	return nil
}

func (s *testSink) Append(recs []*rlog.Record) error {
	_, err := s.Log().AppendReplicated(recs...)
	return err
}

func (s *testSink) Sync() (lsn.LSN, error) {
	l := s.Log()
	if err := l.Sync(); err != nil {
		return 0, err
	}
	if !s.manual {
		s.applied.Store(uint64(l.Durable()))
	}
	return l.Durable(), nil
}

func (s *testSink) Applied() lsn.LSN    { return lsn.LSN(s.applied.Load()) }
func (s *testSink) HighestTerm() uint64 { return s.highest.Load() }

func (s *testSink) LastTerm() uint64 { return 0 }

func (s *testSink) ObserveTerm(t uint64) error {
	if hi := s.highest.Load(); t < hi {
		return fmt.Errorf("term %d is below the highest seen, %d", t, hi)
	}
	s.highest.Store(t)
	return nil
}

func (s *testSink) seedBytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seeded
}

// startServer starts a Server over src on a loopback port.
func startServer(t testing.TB, src Source, logs *logBuffer, edit func(*ServerConfig)) *Server {
	t.Helper()
	cfg := DefaultServerConfig()
	cfg.Addr, cfg.Secret, cfg.NodeID, cfg.UUID = "127.0.0.1:0", testSecret, "primary", primaryUUID
	cfg.Heartbeat, cfg.Timeout = 50*time.Millisecond, 10*time.Second
	if logs != nil {
		cfg.Logger = logs.logger()
	} else {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := NewServer(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startClient runs a Client into sink until the test ends or stop is
// called.
func startClient(t testing.TB, addr string, sink Sink, logs *logBuffer, edit func(*ClientConfig)) (cl *Client, stop func()) {
	t.Helper()
	cfg := DefaultClientConfig()
	cfg.Upstream, cfg.Secret, cfg.NodeID, cfg.UUID = addr, testSecret, "replica-1", replicaUUID
	cfg.MinBackoff, cfg.MaxBackoff, cfg.AckInterval = 5*time.Millisecond, 50*time.Millisecond, 10*time.Millisecond
	cfg.Timeout = 10 * time.Second
	if logs != nil {
		cfg.Logger = logs.logger()
	} else {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if edit != nil {
		edit(&cfg)
	}
	cl, err := NewClient(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return cl, stop
}

// flushedTo waits until the client has flushed up to end.
func flushedTo(t testing.TB, cl *Client, end lsn.LSN) {
	t.Helper()
	waitFor(t, fmt.Sprintf("flush to %s", end), func() bool { return cl.Status().FlushedLSN >= end })
}
