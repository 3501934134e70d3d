package stream

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/rlog"
)

// fakeServer accepts connections and runs the server's side of the
// handshake with its own secret and term, without checking the Hello, then
// script. It stands in for a broken or hostile upstream.
func fakeServer(t *testing.T, secret string, term uint64, script func(c *conn, h *Hello)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := newConn(nc, 5*time.Second)
			nonce := newNonce()
			if c.send(&Challenge{Version: ProtocolVersion, NodeID: "fake", UUID: primaryUUID, Term: term, Nonce: nonce}) == nil {
				if m, err := c.recv(); err == nil {
					if h, ok := m.(*Hello); ok {
						w := &Welcome{Term: term, Start: h.Start, End: h.Start, Heartbeat: time.Second}
						w.MAC = welcomeMAC([]byte(secret), h.Nonce, w)
						if c.send(w) == nil && c.established(5*time.Second, false) == nil {
							script(c, h)
						}
					}
				}
			}
			c.close()
		}
	})
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// drain reads until the peer closes the connection.
func drain(c *conn) {
	for {
		if _, err := c.recv(); err != nil {
			return
		}
	}
}

// encodedRecords returns n encoded test records from LSN 0, with terms.
func encodedRecords(t testing.TB, n int, terms ...uint64) []byte {
	l := openLog(t, t.TempDir(), 0)
	defer l.Close()
	for i := range n {
		term := uint64(1)
		if i < len(terms) {
			term = terms[i]
		}
		if _, err := l.Append(testRecord(i, term)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, r := range readRecords(t, l, 0) {
		b = rlog.AppendRecord(b, r)
	}
	return b
}

func TestServer_WrongSecret(t *testing.T) {
	logs := &logBuffer{}
	src := newTestSource(t, 1)
	appendRecords(t, src.log, 0, 10, 1)
	srv := startServer(t, src, logs, nil)
	sink := newTestSink(t, false)
	cl, _ := startClient(t, srv.Addr().String(), sink, nil, func(c *ClientConfig) { c.Secret = "a-different-secret-0123" })
	waitFor(t, "auth failure", func() bool { return cl.Status().LastErrorCode == CodeAuthFailed })
	waitFor(t, "server log", func() bool { return logs.contains("authentication of replica", "remote=127.0.0.1:") })
	if st := cl.Status(); !strings.Contains(st.LastError, "--cluster-secret") || st.Received.Raw > 1000 {
		t.Fatalf("status = %+v", st)
	}
	if got := sink.Position(); got != 0 || src.attachCount() != 0 {
		t.Fatalf("replica at %s, %d attaches: nothing may be streamed", got, src.attachCount())
	}
}

func TestClient_UpstreamWithoutSecret(t *testing.T) {
	recs := encodedRecords(t, 5)
	addr := fakeServer(t, "the-wrong-secret-0123456", 1, func(c *conn, h *Hello) {
		_ = c.send(&Records{Count: 5, Data: recs})
		drain(c)
	})
	sink := newTestSink(t, false)
	cl, _ := startClient(t, addr, sink, nil, nil)
	waitFor(t, "auth failure", func() bool { return cl.Status().LastErrorCode == CodeAuthFailed })
	if st := cl.Status(); !strings.Contains(st.LastError, "did not prove") || sink.Position() != 0 {
		t.Fatalf("status = %+v, position %s", st, sink.Position())
	}
}

// dialRaw connects to a server and reads its Challenge.
func dialRaw(t *testing.T, addr string) (*conn, *Challenge) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(nc, 5*time.Second)
	t.Cleanup(c.close)
	m, err := c.recv()
	if err != nil {
		t.Fatal(err)
	}
	return c, m.(*Challenge)
}

func signedHello(t *testing.T, ch *Challenge) *Hello {
	h := &Hello{Version: ProtocolVersion, NodeID: "replica-1", UUID: replicaUUID, Role: RoleReplication, Nonce: newNonce()}
	var err error
	if h.MAC, err = helloMAC([]byte(testSecret), ch.Nonce, h); err != nil {
		t.Fatal(err)
	}
	return h
}

func frameOf(t *testing.T, m Message) []byte {
	p, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return appendFrame(nil, m.Type(), 0, p)
}

func TestServer_DropsBadFrames(t *testing.T) {
	badCRC := func(f []byte) []byte { f[len(f)-1] ^= 0xff; return f }
	tests := []struct {
		name      string
		handshake bool // send a good Hello first
		frame     func(t *testing.T, ch *Challenge) []byte
		reason    string
	}{
		{"garbage", false, func(*testing.T, *Challenge) []byte { return []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n") }, "exceeds the"},
		{"bad CRC", false, func(t *testing.T, ch *Challenge) []byte { return badCRC(frameOf(t, signedHello(t, ch))) }, "CRC mismatch"},
		{"unknown type", false, func(*testing.T, *Challenge) []byte { return appendFrame(nil, 99, 0, []byte("x")) }, "unknown message type 99"},
		{"unknown flags", false, func(*testing.T, *Challenge) []byte { return appendFrame(nil, TypeHello, 0x80, nil) }, "unknown frame flags"},
		{"out of order", false, func(t *testing.T, _ *Challenge) []byte { return frameOf(t, &Ack{}) }, "got Ack, want Hello"},
		{"malformed hello", false, func(*testing.T, *Challenge) []byte { return appendFrame(nil, TypeHello, 0, []byte{0, 1, 0}) }, "Hello: truncated"},
		{"version", false, func(*testing.T, *Challenge) []byte { return appendFrame(nil, TypeHello, 0, []byte{0, 9}) }, "protocol version 9"},
		{"bad CRC after handshake", true, func(t *testing.T, _ *Challenge) []byte { return badCRC(frameOf(t, &Ack{})) }, "CRC mismatch"},
		{"compressed ack", true, func(t *testing.T, _ *Challenge) []byte { return appendFrame(nil, TypeAck, flagZstd, make([]byte, 32)) }, "compressed Ack frame"},
		{"ack beyond sent", true, func(t *testing.T, _ *Challenge) []byte { return frameOf(t, &Ack{Write: 1 << 40, Flush: 1 << 40}) }, "beyond the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logBuffer{}
			src := newTestSource(t, 1)
			appendRecords(t, src.log, 0, 3, 1)
			srv := startServer(t, src, logs, nil)
			c, ch := dialRaw(t, srv.Addr().String())
			if tt.handshake {
				if err := c.send(signedHello(t, ch)); err != nil {
					t.Fatal(err)
				}
				if m, err := c.recv(); err != nil || m.Type() != TypeWelcome {
					t.Fatalf("handshake: %v %v", m, err)
				}
			}
			if _, err := c.nc.Write(tt.frame(t, ch)); err != nil {
				t.Fatal(err)
			}
			// The server closes the connection; it may say why first.
			_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.Copy(io.Discard, c.nc); err != nil {
				t.Fatalf("server did not close the connection: %v", err)
			}
			local := c.nc.LocalAddr().String()
			waitFor(t, "log line", func() bool { return logs.contains(tt.reason, "remote="+local) })
			if a, n := src.lastAck(); n != 0 && a.Write > src.log.End() {
				t.Fatalf("bad ack reached the source: %+v", a)
			}
			if !tt.handshake && src.attachCount() != 0 {
				t.Fatal("a replica was attached")
			}
		})
	}
}

func TestClient_DropsBadFrames(t *testing.T) {
	recs := encodedRecords(t, 5)
	first, _, err := rlog.DecodeRecord(recs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		frame  func() []byte
		reason string
	}{
		{"bad frame CRC", func() []byte {
			f := frameOf(t, &Records{Count: 5, Data: recs})
			f[len(f)-1] ^= 1
			return f
		}, "CRC mismatch"},
		{"bad record CRC", func() []byte {
			d := append([]byte(nil), recs...)
			d[len(d)-1] ^= 1 // last payload byte of the last record
			return frameOf(t, &Records{Count: 5, Data: d})
		}, "record 5 of 5"},
		{"gap", func() []byte {
			return frameOf(t, &Records{Count: 4, Data: recs[first.Size():]})
		}, "want 0/00000000 where"},
		{"count", func() []byte { return frameOf(t, &Records{Count: 4, Data: recs}) }, "after the last of 4"},
		{"term goes back", func() []byte {
			d := encodedRecords(t, 3, 2, 2, 1)
			return frameOf(t, &Records{Count: 3, Data: d})
		}, "term 1 after a record of term 2"},
		{"out of order", func() []byte { return frameOf(t, &SeedChunk{Data: []byte("x")}) }, "got SeedChunk while streaming"},
		{"compressed without zstd", func() []byte { return appendFrame(nil, TypeRecords, flagZstd, recs) }, "compression is not on"},
		{"oversize", func() []byte {
			return append(binary.BigEndian.AppendUint32(nil, MaxFramePayload+1), byte(TypeRecords), 0)
		}, "exceeds the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeServer(t, testSecret, 1, func(c *conn, h *Hello) {
				if _, err := c.nc.Write(tt.frame()); err == nil {
					drain(c)
				}
			})
			sink := newTestSink(t, false)
			cl, _ := startClient(t, addr, sink, nil, func(c *ClientConfig) { c.Compression = false })
			waitFor(t, "client to drop the upstream", func() bool { return strings.Contains(cl.Status().LastError, tt.reason) })
			if st := cl.Status(); st.LastErrorCode != 0 || sink.Position() != 0 || st.WrittenLSN != 0 {
				t.Fatalf("status = %+v, position %s: nothing may be applied", st, sink.Position())
			}
		})
	}
}

func TestTerm_ServerRefusesReplicaThatSawHigherTerm(t *testing.T) {
	logs := &logBuffer{}
	src := newTestSource(t, 3)
	appendRecords(t, src.log, 0, 10, 3)
	srv := startServer(t, src, logs, nil)
	sink := newTestSink(t, false)
	sink.highest.Store(5)
	cl, _ := startClient(t, srv.Addr().String(), sink, nil, nil)
	waitFor(t, "refusal", func() bool { return cl.Status().LastErrorCode == CodeTermTooLow })
	waitFor(t, "server log", func() bool { return logs.contains("has seen term 5", "at term 3") })
	if sink.Position() != 0 || src.attachCount() != 0 {
		t.Fatal("records streamed to a replica that saw a higher term")
	}
}

func TestTerm_ClientRefusesLowerTerm(t *testing.T) {
	t.Run("heartbeat", func(t *testing.T) {
		logs := &logBuffer{}
		src := newTestSource(t, 3)
		appendRecords(t, src.log, 0, 10, 3)
		srv := startServer(t, src, logs, nil)
		sink := newTestSink(t, false)
		cl, _ := startClient(t, srv.Addr().String(), sink, nil, nil)
		flushedTo(t, cl, src.log.End())
		if got := sink.HighestTerm(); got != 3 {
			t.Fatalf("highest term %d after the Welcome, want 3", got)
		}
		src.term.Store(2) // a stale primary
		waitFor(t, "refusal", func() bool { return cl.Status().LastErrorCode == CodeTermTooLow })
		// The replica told the upstream why it left.
		waitFor(t, "server log", func() bool { return logs.contains("replica gave up", "sent a Heartbeat at term 2") })
	})
	t.Run("welcome", func(t *testing.T) {
		recs := encodedRecords(t, 5)
		addr := fakeServer(t, testSecret, 3, func(c *conn, h *Hello) {
			_ = c.send(&Records{Count: 5, Data: recs})
			drain(c)
		})
		sink := newTestSink(t, false)
		sink.highest.Store(4)
		cl, _ := startClient(t, addr, sink, nil, nil)
		waitFor(t, "refusal", func() bool { return cl.Status().LastErrorCode == CodeTermTooLow })
		if st := cl.Status(); !strings.Contains(st.LastError, "Welcome at term 3") || sink.Position() != 0 {
			t.Fatalf("status = %+v", st)
		}
	})
}

// A replica that reconnects while its old connection still looks alive
// takes over: the old stream ends and is detached first.
func TestServer_ReplacesStaleConnection(t *testing.T) {
	logs := &logBuffer{}
	src := newTestSource(t, 1)
	appendRecords(t, src.log, 0, 20, 1)
	srv := startServer(t, src, logs, nil)
	old, ch := dialRaw(t, srv.Addr().String())
	if err := old.send(signedHello(t, ch)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first attach", func() bool { return len(srv.Stats()) == 1 })

	sink := newTestSink(t, false)
	cl, _ := startClient(t, srv.Addr().String(), sink, nil, nil)
	flushedTo(t, cl, src.log.End())
	_ = old.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, old.nc); err != nil {
		t.Fatalf("old connection not closed: %v", err)
	}
	waitFor(t, "log line", func() bool { return logs.contains("replaced by a new connection") })
	st := srv.Stats()
	if len(st) != 1 || st[0].State == StateStopped || st[0].Remote == old.nc.LocalAddr().String() {
		t.Fatalf("stats = %+v", st)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.attaches != 2 || len(src.detached) != 1 {
		t.Fatalf("%d attaches, %d detaches", src.attaches, len(src.detached))
	}
}

func TestClient_RunTwice(t *testing.T) {
	cl, _ := startClient(t, "127.0.0.1:1", newTestSink(t, false), nil, nil)
	waitFor(t, "first run", func() bool { return cl.Status().LastError != "" })
	if err := cl.Run(t.Context()); err != ErrRunning {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
}

// A replica that stops acking is dropped after the timeout.
func TestServer_DropsSilentReplica(t *testing.T) {
	logs := &logBuffer{}
	src := newTestSource(t, 1)
	srv := startServer(t, src, logs, func(c *ServerConfig) { c.Heartbeat, c.Timeout = 20*time.Millisecond, 200*time.Millisecond })
	c, ch := dialRaw(t, srv.Addr().String())
	if err := c.send(signedHello(t, ch)); err != nil {
		t.Fatal(err)
	}
	// Read heartbeats, never ack.
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c.nc); err != nil {
		t.Fatalf("server did not drop the silent replica: %v", err)
	}
	waitFor(t, "log line", func() bool { return logs.contains("read ack", "i/o timeout") })
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.detached) != 1 {
		t.Fatalf("%d detaches, want 1", len(src.detached))
	}
}

// An upstream that goes silent is left after the timeout, and retried.
func TestClient_DropsSilentUpstream(t *testing.T) {
	addr := fakeServer(t, testSecret, 1, func(c *conn, h *Hello) { drain(c) })
	cl, _ := startClient(t, addr, newTestSink(t, false), nil, func(c *ClientConfig) { c.Timeout = 200 * time.Millisecond })
	waitFor(t, "timeout", func() bool {
		st := cl.Status()
		return strings.Contains(st.LastError, "i/o timeout") && st.Connects >= 2
	})
}
