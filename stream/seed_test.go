package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

// seedData returns size bytes, half random and half repetitive, like a
// database file.
func seedData(size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, size)
	for i := 0; i < size; i += 8192 {
		if i/8192%2 == 0 {
			for j := i; j < min(i+8192, size); j++ {
				b[j] = byte(rng.Uint32())
			}
		} else {
			copy(b[i:min(i+8192, size)], bytes.Repeat([]byte("sqlite page "), 700))
		}
	}
	return b
}

func TestSeed(t *testing.T) {
	for _, zstd := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "zstd"}[zstd], func(t *testing.T) {
			src := newTestSource(t, 2)
			appendRecords(t, src.log, 0, 100, 2)
			at := readRecords(t, src.log, 0)[40].LSN
			data := seedData(3<<20 + 12345)
			src.seed = func(ctx context.Context) (*Snapshot, error) {
				return &Snapshot{Reader: io.NopCloser(bytes.NewReader(data)), Size: int64(len(data)), LSN: at}, nil
			}
			logs := &logBuffer{}
			srv := startServer(t, src, nil, func(c *ServerConfig) { c.Compression = true })
			sink := newTestSink(t, true)
			cl, _ := startClient(t, srv.Addr().String(), sink, logs, func(c *ClientConfig) { c.Compression = zstd })

			flushedTo(t, cl, src.log.End())
			if got, want := sha256.Sum256(sink.seedBytes()), sha256.Sum256(data); got != want {
				t.Fatalf("installed seed differs: %d bytes, want %d", len(sink.seedBytes()), len(data))
			}
			if got := sink.Log().First(); got != at {
				t.Fatalf("replica log starts at %s, want the seed LSN %s", got, at)
			}
			sameLogs(t, src.log, sink.Log(), at)
			// Records keep streaming after the seed.
			appendRecords(t, src.log, 100, 20, 2)
			flushedTo(t, cl, src.log.End())
			sameLogs(t, src.log, sink.Log(), at)

			st := cl.Status()
			if sp := st.Seed; !sp.Done || sp.Bytes != int64(len(data)) || sp.Total != sp.Bytes || sp.LSN != at || sp.Rate <= 0 {
				t.Fatalf("seed progress = %+v", sp)
			}
			if zstd && st.Received.Ratio() < 1.5 {
				t.Fatalf("compressed seed ratio %.2f", st.Received.Ratio())
			}
			if !logs.contains("seed installed", fmt.Sprintf("bytes=%d", len(data))) {
				t.Fatalf("no seed log line:\n%s", logs)
			}
			ss := srv.Stats()[0]
			if ss.SeedBytes != int64(len(data)) || ss.SeedTotal != ss.SeedBytes {
				t.Fatalf("sender stats = %+v", ss)
			}
			src.mu.Lock()
			defer src.mu.Unlock()
			for _, a := range src.acks {
				if a.Write < at {
					t.Fatalf("ack %+v from before the seed reached the source", a)
				}
			}
		})
	}
}

// A slow backup keeps the connection alive with heartbeats.
func TestSeed_SlowSnapshot(t *testing.T) {
	src := newTestSource(t, 1)
	appendRecords(t, src.log, 0, 10, 1)
	data := seedData(100 << 10)
	called, release := make(chan time.Time, 1), make(chan struct{})
	src.seed = func(ctx context.Context) (*Snapshot, error) {
		called <- time.Now()
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &Snapshot{Reader: io.NopCloser(bytes.NewReader(data)), Size: int64(len(data)), LSN: src.log.End()}, nil
	}
	const timeout = 300 * time.Millisecond
	srv := startServer(t, src, nil, func(c *ServerConfig) { c.Heartbeat, c.Timeout = 20*time.Millisecond, timeout })
	sink := newTestSink(t, true)
	cl, _ := startClient(t, srv.Addr().String(), sink, nil, func(c *ClientConfig) { c.Timeout = timeout })
	start := <-called
	waitFor(t, "heartbeats past the timeout", func() bool {
		st := cl.Status()
		return st.State == StateSeeding && st.PrimaryTime.After(start.Add(3*timeout))
	})
	close(release)
	flushedTo(t, cl, src.log.End())
	if st := cl.Status(); st.Connects != 1 || !bytes.Equal(sink.seedBytes(), data) {
		t.Fatalf("status = %+v", st)
	}
}

func TestSeed_CorruptNotInstalled(t *testing.T) {
	data := seedData(200 << 10)
	addr := fakeServer(t, testSecret, 1, func(c *conn, h *Hello) {
		if !h.Seed {
			return
		}
		_ = c.send(&SeedStart{Size: int64(len(data)), LSN: 4096})
		for i := 0; i < len(data); i += 64 << 10 {
			_ = c.send(&SeedChunk{Data: data[i:min(i+64<<10, len(data))]})
		}
		_ = c.send(&SeedEnd{SHA256: sha256.Sum256([]byte("something else"))})
		drain(c)
	})
	sink := newTestSink(t, true)
	cl, _ := startClient(t, addr, sink, nil, nil)
	waitFor(t, "checksum error", func() bool { return strings.Contains(cl.Status().LastError, "SHA-256") })
	if !sink.NeedsSeed() || sink.seedBytes() != nil || sink.Position() != lsn.LSN(0) {
		t.Fatal("a corrupt seed was installed")
	}
	if sp := cl.Status().Seed; sp.Done || sp.Bytes != int64(len(data)) {
		t.Fatalf("seed progress = %+v", sp)
	}
}
