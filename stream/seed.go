package stream

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

// seed sends a snapshot to a replica that asked for one: SeedStart,
// SeedChunks, SeedEnd. It returns the LSN the snapshot matches, where
// records continue. Heartbeats keep the connection alive while the Source
// prepares the snapshot.
func (sn *sender) seed() (lsn.LSN, error) {
	sn.update(func(st *SenderStats) { st.State = StateSeeding })
	snap, err := sn.awaitSnapshot()
	if err != nil {
		return 0, err
	}
	defer func() { _ = snap.Reader.Close() }()
	if snap.Size < 0 {
		return 0, refuse(sn.c, Errorf(CodeUnavailable, "node %s produced a seed of negative size; retrying", sn.s.cfg.NodeID))
	}
	sn.update(func(st *SenderStats) { st.SeedTotal = snap.Size })
	if err := sn.c.send(&SeedStart{Size: snap.Size, LSN: snap.LSN}); err != nil {
		return 0, fmt.Errorf("send seed start: %w", err)
	}
	sum := sha256.New()
	buf := make([]byte, sn.s.cfg.SeedChunkSize)
	for sent := int64(0); sent < snap.Size; {
		n, err := io.ReadFull(snap.Reader, buf[:min(int64(len(buf)), snap.Size-sent)])
		if err != nil {
			return 0, refuse(sn.c, Errorf(CodeUnavailable, "node %s failed to read its seed at byte %d of %d: %v; retrying", sn.s.cfg.NodeID, sent, snap.Size, err))
		}
		sum.Write(buf[:n])
		if err := sn.c.send(&SeedChunk{Data: buf[:n]}); err != nil {
			return 0, fmt.Errorf("send seed at byte %d of %d: %w", sent, snap.Size, err)
		}
		sent += int64(n)
		sn.update(func(st *SenderStats) { st.SeedBytes = sent })
	}
	// More bytes than announced would be a cut copy of the database.
	if n, _ := snap.Reader.Read(buf[:1]); n > 0 {
		return 0, refuse(sn.c, Errorf(CodeUnavailable, "node %s's seed is longer than the %d bytes it announced; retrying", sn.s.cfg.NodeID, snap.Size))
	}
	end := &SeedEnd{SHA256: [32]byte(sum.Sum(nil))}
	// Stale keepalives end here: acks from now on must be at the seed LSN.
	sn.start.Store(uint64(snap.LSN))
	sn.sent.Store(uint64(snap.LSN))
	sn.seeding.Store(false)
	if err := sn.c.send(end); err != nil {
		return 0, fmt.Errorf("send seed end: %w", err)
	}
	sn.update(func(st *SenderStats) { st.State = StateCatchup })
	return snap.LSN, nil
}

// awaitSnapshot runs Source.Seed, sending heartbeats until it returns.
func (sn *sender) awaitSnapshot() (*Snapshot, error) {
	type result struct {
		snap *Snapshot
		err  error
	}
	ch := make(chan result, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		snap, err := sn.s.src.Seed(sn.ctx)
		ch <- result{snap, err}
	})
	t := time.NewTicker(sn.s.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case r := <-ch:
			if r.err != nil {
				return nil, refuse(sn.c, asError(fmt.Errorf("take a seed: %w", r.err)))
			}
			if r.snap == nil || r.snap.Reader == nil {
				return nil, refuse(sn.c, Errorf(CodeBadRequest, "node %s cannot seed replicas", sn.s.cfg.NodeID))
			}
			return r.snap, nil
		case <-t.C:
			if err := sn.heartbeat(); err != nil {
				sn.cancel(err)
				if r := <-ch; r.snap != nil && r.snap.Reader != nil {
					_ = r.snap.Reader.Close()
				}
				return nil, err
			}
		}
	}
}

// seedReader is the io.Reader a Sink installs a seed from. It pulls
// SeedChunks off the connection, hashing them as they arrive, and hands
// out the last bytes only after SeedEnd's SHA-256 has matched: a sink that
// reads to EOF before installing never installs a corrupt seed.
type seedReader struct {
	r        *receiver
	size     int64
	got      int64 // bytes received
	given    int64 // bytes handed to the sink
	sum      hash.Hash
	cur      []byte
	verified bool
	err      error // sticky
}

func newSeedReader(r *receiver, size int64) *seedReader {
	return &seedReader{r: r, size: size, sum: sha256.New()}
}

// Read implements io.Reader.
func (s *seedReader) Read(p []byte) (int, error) {
	for len(s.cur) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.verified {
			return 0, io.EOF
		}
		s.err = s.fill()
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	s.given += int64(n)
	return n, nil
}

// fill receives the next chunk, and SeedEnd right after the last one.
func (s *seedReader) fill() error {
	var last []byte
	if s.got < s.size {
		m, err := s.r.next()
		if err != nil {
			return err
		}
		ch, ok := m.(*SeedChunk)
		if !ok {
			return protocolErr("got %s after %d of %d seed bytes, want SeedChunk", m.Type(), s.got, s.size)
		}
		if int64(len(ch.Data)) > s.size-s.got {
			return protocolErr("SeedChunk of %d bytes runs past the announced seed size %d", len(ch.Data), s.size)
		}
		s.sum.Write(ch.Data)
		s.got += int64(len(ch.Data))
		s.r.cl.seedProgress(s.got, s.size)
		if s.got < s.size {
			s.cur = ch.Data
			return nil
		}
		last = ch.Data // held back until verified
	}
	m, err := s.r.next()
	if err != nil {
		return err
	}
	end, ok := m.(*SeedEnd)
	if !ok {
		return protocolErr("got %s after the last seed byte, want SeedEnd", m.Type())
	}
	if got := [32]byte(s.sum.Sum(nil)); got != end.SHA256 {
		return protocolErr("seed of %d bytes: SHA-256 %x, upstream says %x", s.size, got, end.SHA256)
	}
	s.verified, s.cur = true, last
	return nil
}

// complete reports whether the sink took the whole verified seed.
func (s *seedReader) complete() bool { return s.verified && s.given == s.size && len(s.cur) == 0 }
