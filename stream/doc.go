// Package stream is Tandem's replication protocol: frames, the
// authenticated handshake, the primary-side Server (one sender per
// replica) and the replica-side Client (the receiver). A cascading replica
// runs both: a Client fed by its upstream, a Server fed by its own log.
// Both are generic over small interfaces, Source and Sink, that the node
// package implements.
//
// # Frames
//
// Every message travels in one frame. All integers are big-endian.
//
//	 0          4        5         6                  6+length
//	+----------+--------+---------+------------------+------------+
//	| length   | type   | flags   | payload          | CRC32C u32 |
//	| u32      | u8     | u8      | (length bytes)   |            |
//	+----------+--------+---------+------------------+------------+
//	  flags bit 0: payload is zstd-compressed; other bits must be 0.
//	  CRC32C (Castagnoli) covers type, flags and payload as sent.
//
// length is at most MaxFramePayload (64 MiB + 64 KiB: one Records message
// must hold the largest log record), and 64 KiB until the peer has
// authenticated. A reader checks length, type and
// flags before it reads the payload, allocates only as bytes arrive, and
// checks the CRC before it decompresses or decodes anything. Any failure,
// a malformed payload, or a message out of order closes the connection
// with a logged reason, and nothing from that frame is used.
//
// # Messages
//
// str8 is a u8 length then UTF-8 bytes; nonces and MACs are 32 bytes.
//
//	1 Challenge  version u16 | flags u8 (1: zstd) | UUID 16 | term u64 | nonce | node ID str8
//	2 Hello      version u16 | flags u8 (1: seed, 2: zstd) | UUID 16 | highest term u64 |
//	             start LSN u64 (0 for a seed) | client nonce | node ID str8 | role str8 | MAC
//	3 Welcome    flags u8 (1: zstd) | term u64 | start LSN u64 | end LSN u64 |
//	             heartbeat ms u32 | primary HTTP address: u8 length, UTF-8 | MAC
//	4 Error      code u16 | message: u16 length, UTF-8
//	5 Records    count u32 | count records exactly as rlog.AppendRecord encodes them
//	6 Heartbeat  durable LSN u64 | unix nanos i64 | term u64 | primary HTTP address: u8 length, UTF-8
//	7 Ack        write LSN u64 | flush LSN u64 | apply LSN u64 | unix nanos i64
//	8 SeedStart  size u64 | LSN u64
//	9 SeedChunk  bytes
//	10 SeedEnd   SHA-256 of the seed
//
// Encodings are canonical: decoding and encoding again gives the same
// bytes. Only Records and SeedChunk payloads are ever compressed, when
// compression was negotiated and the payload is at least MinCompressSize.
//
// # Conversation
//
//	server                                 client (replica)
//	Challenge{term, nonce}          ->
//	                                <-     Hello{start | seed, MAC}
//	  MAC = HMAC-SHA256(secret, nonce || Hello without MAC)
//	Welcome{term, start, primary HTTP address, MAC'}      ->     or Error{code, message}, then close
//	  MAC' = HMAC-SHA256(secret, "tandem-welcome" || client nonce || Welcome without MAC')
//	[SeedStart, SeedChunk*, SeedEnd] ->    only after a seed Hello
//	Records*, Heartbeat*            ->
//	                                <-     Ack* (positions, and keepalives)
//
// Both sides prove they know the cluster secret; nonces make every MAC
// single-use. After the handshake frames are protected by CRC only:
// against an attacker on the path, run the stream over a private network
// or a tunnel.
//
// # Invariants
//
//   - A replica receives records in LSN order with no gap and no overlap:
//     each Records message starts at the LSN where the replica's log ends
//     and every record starts where the one before it ended; anything else
//     is a protocol violation and the batch is dropped whole.
//   - A replica never follows a term lower than the highest it has seen:
//     the server refuses a Hello whose highest term exceeds its own, and
//     the client refuses a Welcome or Heartbeat with a lower term. Records
//     carry the term they were written in, which may be older; their terms
//     never decrease, and a higher one is observed.
//   - The server sends only durable records, and refuses an Ack beyond
//     what it sent, so commit waits are released only by positions the
//     replica really has.
//   - A seed's last bytes reach the Sink only after its SHA-256 matched.
//   - Every goroutine belongs to a Server or a Client run, and Close (or
//     the end of Run's context) waits for all of them.
package stream
