// Package rlog is Tandem's replication log: records, segment files, CRCs,
// the LSN index, tailing readers and retention.
//
// The log is the source of truth. Every committed transaction is one Record
// appended at the end of the log; its LSN is the byte position where its
// encoding starts in the log stream, so LSNs are contiguous and lag in bytes
// is a subtraction. One goroutine (the writer) appends and syncs; any number
// of Readers tail the log concurrently and only ever see durable (fsynced)
// records.
//
// # Record format
//
// Every record is one frame. All integers are big-endian.
//
//	+-----------+-----------+---------------------------------------------+
//	| length u32| CRC32C u32| body (length bytes)                         |
//	+-----------+-----------+---------------------------------------------+
//	             CRC32C (Castagnoli) covers the body only.
//
//	body:
//	 0      1      2        4           12          20                36          44          52
//	+------+------+--------+-----------+-----------+-----------------+-----------+-----------+---------...
//	| ver  | kind | flags  | LSN u64   | term u64  | origin UUID 16B | seq u64   | HLC u64   | payload
//	| u8=1 | u8   | u16=0  |           |           |  (GTID origin)  | (GTID seq)|           |
//	+------+------+--------+-----------+-----------+-----------------+-----------+-----------+---------...
//
// A record therefore takes RecordOverhead (60) bytes plus its payload, and at
// most MaxRecordSize bytes in all. The LSN field repeats the record's
// position, so a record found at the wrong place (a stale or misplaced
// block) is detected as corruption even when its CRC is good.
//
// # Segment files
//
// The log is split into segment files in Options.Dir, each named after the
// LSN of its first record as 16 upper-case hexadecimal digits plus ".seg"
// ("00000000000A3F00.seg"). A segment starts with a fixed header:
//
//	 0                8             12              20           24
//	+----------------+-------------+---------------+------------+
//	| magic          | version u32 | first LSN u64 | CRC32C u32 |  then records
//	| "TNDMRLOG"     | = 1         |               | of 0..20   |
//	+----------------+-------------+---------------+------------+
//
// A record never spans two files. The byte offset of the record at LSN L in
// the segment whose first LSN is F is SegmentHeaderSize + (L - F), so the
// sorted segment list is the whole LSN index. Segment k+1 starts at the end
// LSN of segment k; a gap is corruption.
//
// # Preallocation
//
// A new segment file is created with its header, then extended to
// Options.SegmentSize with fallocate(2) (zero-filled, blocks allocated) and
// synced with its directory, before any record goes in. Records are then
// written at the segment's logical end (the end of its last record), never
// appended to the file, so the fsync of each commit has no block
// allocation or file size change to make durable. Zero bytes after the
// last record, up to the end of the file, are the segment's unused space,
// not a record: a record's length field is never zero. When the log rolls,
// the old segment is truncated to its records, so only the last segment
// has unused space. Where the file system or the FS cannot preallocate
// (Preallocator), or with Options.NoPreallocate, files grow with each
// write instead; both kinds of file read the same. Sizes the log reports
// (SegmentInfo.Size, Log.Size) count the header and records, not the file.
//
// # Invariants
//
//   - A segment rolls when the next record would push it past
//     Options.SegmentSize and it already holds a record. Before the log moves
//     on to a new segment it fsyncs the old one, so every segment but the
//     last is complete and durable.
//   - Open verifies every record. A segment whose records are followed
//     only by zero bytes up to the end of its file is clean: it ends at its
//     last record and nothing is cut. A bad record anywhere but the tail of
//     the last segment, or a gap between segments, is a *CorruptError and
//     the log does not open: Tandem never skips a record. A bad or short
//     record in the last segment (followed or not by zeros) is a torn tail
//     (a write cut short by a crash) only when no valid record follows it
//     in that file and it lies at or after Options.Floor; then it is cut,
//     the file is preallocated again, and the cut is reported through
//     Log.Recovered.
//   - After any write or fsync error the log is failed for good (ErrFailed):
//     after a failed fsync the kernel may have dropped dirty pages, so
//     retrying could report data durable that is not. Reopening re-reads
//     the disk.
//   - Readers never return a record beyond Log.Durable.
package rlog
