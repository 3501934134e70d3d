package stream

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"time"
)

const (
	connReadBuffer = 64 << 10
	// maxKeptBuffer caps the write buffers kept between messages, so one
	// huge batch or record does not pin its memory.
	maxKeptBuffer = 4 << 20
)

// conn is one protocol connection: frames and messages over a net.Conn,
// with optional compression and byte counters. One goroutine receives and
// one sends at a time (send is also locked).
type conn struct {
	nc         net.Conn
	br         *bufio.Reader
	maxPayload int
	timeout    time.Duration // per read and per write; 0 is none
	codec      *codec        // set once compression is negotiated
	bytes      *counters     // may be shared across connections

	wmu              sync.Mutex
	mbuf, zbuf, wbuf []byte
}

func newConn(nc net.Conn, timeout time.Duration) *conn {
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, connReadBuffer), maxPayload: handshakeMaxPayload, timeout: timeout, bytes: new(counters)}
}

// established lifts the handshake's limits once the peer is authenticated:
// frames up to MaxFramePayload, the streaming timeout, and compression if
// negotiated. It must be called before the connection's reader and writer
// goroutines start.
func (c *conn) established(timeout time.Duration, compress bool) error {
	c.maxPayload, c.timeout = MaxFramePayload, timeout
	if compress {
		return c.enableCompression()
	}
	return nil
}

// enableCompression turns compression on.
func (c *conn) enableCompression() error {
	cd, err := newCodec(c.maxPayload)
	if err != nil {
		return err
	}
	c.codec = cd
	return nil
}

// close closes the network connection and releases the codec. Only the
// connection's owner calls it, once its goroutines are done.
func (c *conn) close() {
	_ = c.nc.Close() // may already be closed by a cancel
	if c.codec != nil {
		c.codec.close()
	}
}

// buffered reports whether bytes of a next frame are already read.
func (c *conn) buffered() bool { return c.br.Buffered() > 0 }

// recv reads, verifies and decodes the next message, waiting at most the
// connection's timeout.
func (c *conn) recv() (Message, error) {
	if c.timeout > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.timeout))
	}
	f, err := readFrame(c.br, c.maxPayload)
	if err != nil {
		return nil, err
	}
	c.bytes.rxWire.Add(int64(f.wireSize()))
	m, raw, err := decodeFrame(f, c.codec)
	c.bytes.rxRaw.Add(int64(FrameOverhead + raw))
	return m, err
}

// decodeFrame decompresses a verified frame's payload if it is compressed
// (which cd == nil forbids) and decodes its message. raw is the payload's
// uncompressed size.
func decodeFrame(f frame, cd *codec) (m Message, raw int, err error) {
	payload := f.payload
	if f.flags&flagZstd != 0 {
		if cd == nil || !f.typ.compressible() {
			return nil, len(payload), protocolErr("compressed %s frame, but compression is not on for it", f.typ)
		}
		if payload, err = cd.decompress(f.typ, payload); err != nil {
			return nil, len(f.payload), err
		}
	}
	m, err = decodeMessage(f.typ, payload)
	return m, len(payload), err
}

// send encodes m, compresses it when allowed and worth it, and writes it as
// one frame, waiting at most the connection's timeout.
func (c *conn) send(m Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var err error
	if c.mbuf, err = m.AppendBinary(c.mbuf[:0]); err != nil {
		return err
	}
	payload, flags := c.mbuf, uint8(0)
	if len(payload) > c.maxPayload {
		return fmt.Errorf("stream: %s message of %d bytes exceeds the frame limit %d", m.Type(), len(payload), c.maxPayload)
	}
	if c.codec != nil && m.Type().compressible() && len(payload) >= MinCompressSize {
		var ok bool
		if c.zbuf, ok = c.codec.compress(c.zbuf[:0], payload); ok {
			payload, flags = c.zbuf, flagZstd
		}
	}
	c.wbuf = appendFrame(c.wbuf[:0], m.Type(), flags, payload)
	if c.timeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	_, err = c.nc.Write(c.wbuf)
	c.bytes.txRaw.Add(int64(FrameOverhead + len(c.mbuf)))
	c.bytes.txWire.Add(int64(len(c.wbuf)))
	for _, b := range []*[]byte{&c.mbuf, &c.zbuf, &c.wbuf} {
		if cap(*b) > maxKeptBuffer {
			*b = nil
		}
	}
	return err
}
