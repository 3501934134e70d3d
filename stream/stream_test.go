package stream

import (
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

func TestStream_FromStart(t *testing.T) {
	src := newTestSource(t, 1)
	appendRecords(t, src.log, 0, 300, 1)
	srv := startServer(t, src, nil, func(c *ServerConfig) { c.MaxBatchBytes = 4 << 10 })
	sink := newTestSink(t, false)
	cl, _ := startClient(t, srv.Addr().String(), sink, nil, nil)

	flushedTo(t, cl, src.log.End())
	sameLogs(t, src.log, sink.Log(), 0)
	st := cl.Status()
	if !st.Connected || st.WrittenLSN != src.log.End() || st.ReceivedLSN != src.log.End() {
		t.Fatalf("status = %+v", st)
	}
}

func TestStream_FromMiddle(t *testing.T) {
	src := newTestSource(t, 1)
	appendRecords(t, src.log, 0, 200, 1)
	sink := newTestSink(t, false)
	// The replica already has the first 80 records, at the same LSNs.
	if _, err := sink.Log().AppendReplicated(readRecords(t, src.log, 0)[:80]...); err != nil {
		t.Fatal(err)
	}
	mid := sink.Position()
	srv := startServer(t, src, nil, nil)
	cl, _ := startClient(t, srv.Addr().String(), sink, nil, nil)

	flushedTo(t, cl, src.log.End())
	sameLogs(t, src.log, sink.Log(), 0)
	if got := readRecords(t, sink.Log(), mid); len(got) != 120 {
		t.Fatalf("replica got %d records after %s, want 120", len(got), mid)
	}
}

func TestStream_CatchupThenTail(t *testing.T) {
	src := newTestSource(t, 1)
	appendRecords(t, src.log, 0, 100, 1)
	srv := startServer(t, src, nil, nil)
	sink := newTestSink(t, false)
	cl, _ := startClient(t, srv.Addr().String(), sink, nil, nil)
	flushedTo(t, cl, src.log.End())
	waitFor(t, "sender streaming", func() bool {
		st := srv.Stats()
		return len(st) == 1 && st[0].State == StateStreaming && st[0].SentLSN == src.log.End()
	})

	// Live tailing: records appended while connected arrive.
	for i := range 10 {
		appendRecords(t, src.log, 100+5*i, 5, 1)
		flushedTo(t, cl, src.log.End())
	}
	sameLogs(t, src.log, sink.Log(), 0)
	waitFor(t, "client streaming", func() bool {
		st := cl.Status()
		return st.State == StateStreaming && st.PrimaryLSN == src.log.End() && !st.PrimaryTime.IsZero()
	})
	st := srv.Stats()[0]
	if st.Replica != "replica-1" || st.UUID != replicaUUID || st.ConnectedSince.IsZero() || st.Remote == "" {
		t.Fatalf("sender stats = %+v", st)
	}
}

func TestStream_Compression(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[on], func(t *testing.T) {
			src := newTestSource(t, 1)
			appendRecords(t, src.log, 0, 500, 1)
			srv := startServer(t, src, nil, func(c *ServerConfig) { c.Compression = true })
			sink := newTestSink(t, false)
			cl, _ := startClient(t, srv.Addr().String(), sink, nil, func(c *ClientConfig) { c.Compression = on })
			flushedTo(t, cl, src.log.End())
			sameLogs(t, src.log, sink.Log(), 0)

			st := cl.Status()
			if st.Compression != on {
				t.Fatalf("compression = %v, want %v", st.Compression, on)
			}
			rx := st.Received
			if rx.Raw < int64(src.log.End()) {
				t.Fatalf("received %d raw bytes, less than the %d-byte log", rx.Raw, src.log.End())
			}
			if on && rx.Ratio() < 2 {
				t.Fatalf("compression ratio %.2f (%+v), want at least 2 for repetitive payloads", rx.Ratio(), rx)
			}
			if !on && rx.Raw != rx.Wire {
				t.Fatalf("without compression raw %d != wire %d", rx.Raw, rx.Wire)
			}
			waitFor(t, "sender byte counts", func() bool {
				s := srv.Stats()[0]
				// The client keeps acking after st was taken, so the server
				// has received at least, not exactly, what st counted.
				return s.Sent.Raw >= rx.Raw && s.Received.Wire >= st.Sent.Wire && s.Compression == on
			})
			if s := srv.Stats()[0]; (s.Sent.Ratio() > 1.5) != on {
				t.Fatalf("sender ratio %.2f with compression %v", s.Sent.Ratio(), on)
			}
		})
	}
}

func TestClient_ReconnectAfterServerRestart(t *testing.T) {
	src := newTestSource(t, 1)
	appendRecords(t, src.log, 0, 100, 1)
	srv := startServer(t, src, nil, nil)
	addr := srv.Addr().String()
	sink := newTestSink(t, false)
	cl, _ := startClient(t, addr, sink, nil, nil)
	flushedTo(t, cl, src.log.End())

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "client to notice", func() bool { return !cl.Status().Connected })
	appendRecords(t, src.log, 100, 150, 1)
	startServer(t, src, nil, func(c *ServerConfig) { c.Addr = addr })

	flushedTo(t, cl, src.log.End())
	sameLogs(t, src.log, sink.Log(), 0) // no gap, no duplicate
	if st := cl.Status(); st.Connects < 2 || st.LastError == "" {
		t.Fatalf("status after reconnect = %+v", st)
	}
}

func TestServer_Acks(t *testing.T) {
	src := newTestSource(t, 1)
	appendRecords(t, src.log, 0, 50, 1)
	srv := startServer(t, src, nil, func(c *ServerConfig) { c.MaxBatchBytes = 1 << 10 })
	sink := newTestSink(t, false)
	sink.manual = true
	// A long AckInterval: only flushes, NotifyApplied and keepalives ack.
	cl, stop := startClient(t, srv.Addr().String(), sink, nil, func(c *ClientConfig) { c.AckInterval = time.Hour })
	for i := range 5 {
		appendRecords(t, src.log, 50+10*i, 10, 1)
	}
	end := src.log.End()
	waitFor(t, "flush ack", func() bool { a, _ := src.lastAck(); return a.Flush == end })

	sink.applied.Store(uint64(end))
	cl.NotifyApplied()
	waitFor(t, "apply ack", func() bool { a, _ := src.lastAck(); return a.Apply == end })
	waitFor(t, "ack in stats", func() bool { return srv.Stats()[0].LastAck.Apply == end })

	stop()
	waitFor(t, "detach", func() bool { src.mu.Lock(); defer src.mu.Unlock(); return len(src.detached) == 1 })
	src.mu.Lock()
	defer src.mu.Unlock()
	var prev Ack
	for i, a := range src.acks {
		if a.Flush < prev.Flush || a.Write < prev.Write || a.Flush > a.Write || a.Time.IsZero() {
			t.Fatalf("ack %d = %+v after %+v: positions must not go back", i, a, prev)
		}
		prev = a
	}
	if src.afterStop {
		t.Fatal("Acked was called after Detached")
	}
}

func TestServer_StartCompacted(t *testing.T) {
	src := newTestSource(t, 1)
	appendRecords(t, src.log, 0, 2000, 1) // several 256 KiB segments
	if _, err := src.log.RemoveBefore(src.log.End()); err != nil {
		t.Fatal(err)
	}
	if src.log.First() == 0 {
		t.Fatal("nothing was compacted")
	}
	srv := startServer(t, src, nil, nil)
	sink := newTestSink(t, false)
	cl, _ := startClient(t, srv.Addr().String(), sink, nil, nil)
	waitFor(t, "refusal", func() bool { return cl.Status().LastErrorCode == CodeStartNotAvailable })
	if st := cl.Status(); !strings.Contains(st.LastError, "re-seed") || sink.Position() != 0 {
		t.Fatalf("status = %+v, position %s", st, sink.Position())
	}
}

func TestAttach_SlotLost(t *testing.T) {
	src := newTestSource(t, 1)
	appendRecords(t, src.log, 0, 10, 1)
	src.attachErr = Errorf(CodeSlotLost, "the slot of replica-1 was dropped at LSN %s: re-seed the replica", lsn.LSN(123))
	srv := startServer(t, src, nil, nil)
	sink := newTestSink(t, false)
	cl, _ := startClient(t, srv.Addr().String(), sink, nil, nil)
	waitFor(t, "slot lost in status", func() bool { return cl.Status().LastErrorCode == CodeSlotLost })
	st := cl.Status()
	if !strings.Contains(st.LastError, "re-seed the replica") || st.State != StateBackoff && st.State != StateConnecting {
		t.Fatalf("status = %+v", st)
	}
	// The client keeps trying, so the fix needs no restart.
	waitFor(t, "retry", func() bool { return src.attachCount() >= 2 })
	src.mu.Lock()
	src.attachErr = nil
	src.mu.Unlock()
	flushedTo(t, cl, src.log.End())
	if sink.Position() != src.log.End() {
		t.Fatalf("replica at %s after the fix, want %s", sink.Position(), src.log.End())
	}
}

// An asynchronous replica (no commit waits for it) batches its fsyncs but
// still flushes and acks everything it receives.
func TestStream_AsyncReplicaDelaysSyncs(t *testing.T) {
	src := newTestSource(t, 1)
	src.async.Store(true)
	appendRecords(t, src.log, 0, 20, 1)
	srv := startServer(t, src, nil, func(c *ServerConfig) { c.Heartbeat = 20 * time.Millisecond })
	sink := newTestSink(t, false)
	cl, _ := startClient(t, srv.Addr().String(), sink, nil, nil)
	flushedTo(t, cl, src.log.End())
	waitFor(t, "heartbeat saying async", func() bool { return !cl.Status().Synchronous })
	for i := range 10 {
		appendRecords(t, src.log, 20+3*i, 3, 1)
	}
	flushedTo(t, cl, src.log.End())
	sameLogs(t, src.log, sink.Log(), 0)
	waitFor(t, "flush acked upstream", func() bool {
		st := srv.Stats()
		return len(st) == 1 && st[0].LastAck.Flush == src.log.End()
	})
	// Back to synchronous: the next heartbeat says so.
	src.async.Store(false)
	waitFor(t, "heartbeat saying sync", func() bool { return cl.Status().Synchronous })
}
