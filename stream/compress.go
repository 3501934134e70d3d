package stream

import (
	"fmt"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// MinCompressSize is the smallest Records or SeedChunk payload that is
// compressed when compression is on; smaller ones gain too little.
const MinCompressSize = 512

// ByteCounts counts the bytes of frames one way: Raw as they would be
// without compression, Wire as they crossed the network. Both include the
// frame overhead, so without compression they are equal.
type ByteCounts struct {
	Raw  int64 `json:"raw"`
	Wire int64 `json:"wire"`
}

// Ratio returns Raw/Wire, the compression ratio; 1 before any traffic.
func (b ByteCounts) Ratio() float64 {
	if b.Wire == 0 {
		return 1
	}
	return float64(b.Raw) / float64(b.Wire)
}

// counters accumulates ByteCounts for both directions; safe for concurrent
// use.
type counters struct {
	rxRaw, rxWire, txRaw, txWire atomic.Int64
}

func (c *counters) received() ByteCounts { return ByteCounts{c.rxRaw.Load(), c.rxWire.Load()} }
func (c *counters) sent() ByteCounts     { return ByteCounts{c.txRaw.Load(), c.txWire.Load()} }

// codec compresses and decompresses frame payloads of one connection. The
// encoder is used by the connection's writer and the decoder by its reader,
// so neither needs a lock.
type codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// newCodec returns a codec whose decoder refuses output over maxPayload.
func newCodec(maxPayload int) (*codec, error) {
	// Concurrency 1 and EncodeAll/DecodeAll only: no background
	// goroutines, one frame at a time.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, fmt.Errorf("stream: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(maxPayload)))
	if err != nil {
		_ = enc.Close()
		return nil, fmt.Errorf("stream: zstd decoder: %w", err)
	}
	return &codec{enc: enc, dec: dec}, nil
}

// compress appends the compressed form of src to dst. ok is false when
// compressing does not make src smaller; then dst is returned unchanged.
func (c *codec) compress(dst, src []byte) (out []byte, ok bool) {
	z := c.enc.EncodeAll(src, dst)
	if len(z)-len(dst) >= len(src) {
		return dst, false
	}
	return z, true
}

// decompress returns the decompressed payload of a frame of type t.
func (c *codec) decompress(t MsgType, src []byte) ([]byte, error) {
	out, err := c.dec.DecodeAll(src, nil)
	if err != nil {
		return nil, protocolErr("%s frame: zstd: %v", t, err)
	}
	return out, nil
}

func (c *codec) close() {
	_ = c.enc.Close() // only EncodeAll was used: nothing is buffered
	c.dec.Close()
}
