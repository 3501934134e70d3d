package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/changeset"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/payload"
	"github.com/tandem-db/tandem/rlog"
)

// logCommand is `tandem log`: tools that read a replication log.
func logCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Inspect a node's replication log",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(logInspectCommand())
	return cmd
}

// inspectOptions are the flags of `tandem log inspect`.
type inspectOptions struct {
	from   string // an LSN in any form lsn.Parse reads; "" means the first record
	limit  int    // most records to print; 0 means all
	asJSON bool
}

func logInspectCommand() *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect DIR",
		Short: "Print the records of a replication log, one line each",
		Long: `Print the records of a replication log: a header with the first and end
LSN and the segment count, then one line per record with its LSN, end LSN,
term, GTID, HLC time, kind, payload size and what it changed: per table the
rows inserted, updated and deleted ("orders: +2 ~1 -0"), or the SQL of a
statement or DDL entry.

DIR is a node's data directory (its log/ subdirectory is read) or a log
directory. The log is never changed, so it is safe to inspect a running
node's log: every record is verified as the node would on start, but a
torn tail (a write in progress, or a crash) is cut only in memory and
reported, and nothing is copied. A corrupt log prints the segment and LSN
of the bad record and exits non-zero.

With --json each line is one JSON object: first {"type":"header",...},
then {"type":"record",...} with every entry's full SQL, arguments and
per-table counts.`,
		Example: `  tandem log inspect /var/lib/tandem/n1
  tandem log inspect /var/lib/tandem/n1/log --from 0/00001F40 --limit 10
  tandem log inspect /var/lib/tandem/n1 --json | jq .gtid`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inspectLog(cmd.OutOrStdout(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "start at the record at this LSN (0/00001F40 or decimal); default: the first record")
	f.IntVar(&o.limit, "limit", 0, "print at most this many records (0: all)")
	f.BoolVar(&o.asJSON, "json", false, "print one JSON object per line")
	return cmd
}

// inspectLog prints the log in dir (or in dir/log) to w.
func inspectLog(w io.Writer, dir string, o inspectOptions) error {
	if o.limit < 0 {
		return fmt.Errorf("--limit %d: use a positive number, or 0 for all records", o.limit)
	}
	if fi, err := os.Stat(filepath.Join(dir, "log")); err == nil && fi.IsDir() {
		dir = filepath.Join(dir, "log")
	}
	if err := checkSegments(dir); err != nil {
		return err
	}
	l, err := rlog.Open(rlog.Options{Dir: dir, FS: newReadOnlyFS(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer l.Close()

	from := l.First()
	if o.from != "" {
		if from, err = lsn.Parse(o.from); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	r, err := l.NewReader(from)
	if err != nil {
		return fmt.Errorf("--from %s: %w (the log holds LSN %s to %s; start at an LSN from the listing's LSN column)",
			from, err, l.First(), l.End())
	}
	defer r.Close()

	bw := bufio.NewWriter(w)
	writeHeader(bw, dir, l, o.asJSON)
	for n := 0; o.limit == 0 || n < o.limit; n++ {
		rec, err := r.TryNext()
		if err == io.EOF {
			break
		}
		if err != nil {
			bw.Flush()
			return err
		}
		d := describeRecord(rec)
		if o.asJSON {
			b, err := json.Marshal(d)
			if err != nil {
				return fmt.Errorf("record at LSN %s: %w", rec.LSN, err)
			}
			bw.Write(append(b, '\n'))
		} else {
			fmt.Fprintf(bw, recordLineFormat, d.LSN, d.End, fmt.Sprint(d.Term), d.GTID, d.HLC, d.Kind,
				fmt.Sprint(d.PayloadBytes), d.summary)
		}
	}
	return bw.Flush()
}

// checkSegments makes sure dir holds a log, so that opening it never has
// to create a first segment.
func checkSegments(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read log directory: %w", err)
	}
	for _, e := range entries {
		if _, ok := rlog.ParseSegmentName(e.Name()); ok {
			return nil
		}
	}
	return fmt.Errorf("no log segments (*.seg) in %s: give a node's data directory or its log directory", dir)
}

// maxShownEntries bounds the entries a record line describes, so that a
// long transaction still fits on a line.
const maxShownEntries = 3

// recordLineFormat lays out a record line and the column titles above it.
const recordLineFormat = "%-10s  %-10s  %4s  %-40s  %-26s  %-9s  %7s  %s\n"

// writeHeader describes the whole log: where it is, its LSN range and
// what recovery found, without having changed anything.
func writeHeader(w io.Writer, dir string, l *rlog.Log, asJSON bool) {
	rec := l.Recovered()
	if asJSON {
		h := struct {
			Type      string   `json:"type"`
			Dir       string   `json:"dir"`
			First     lsn.LSN  `json:"first"`
			End       lsn.LSN  `json:"end"`
			Segments  int      `json:"segments"`
			Records   int      `json:"records"`
			TornAt    *lsn.LSN `json:"torn_tail_lsn,omitempty"`
			TornBytes int64    `json:"torn_tail_bytes,omitempty"`
			Ignored   []string `json:"ignored_segments,omitempty"`
		}{"header", dir, l.First(), l.End(), len(l.Segments()), rec.Records, nil, rec.CutBytes, rec.Removed}
		if rec.Cut {
			h.TornAt = &rec.CutAt
		}
		b, _ := json.Marshal(h) // plain fields: cannot fail
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "log %s: %s, %s, first LSN %s, end LSN %s\n", dir,
		plural(len(l.Segments()), "segment"), plural(rec.Records, "record"), l.First(), l.End())
	if rec.Cut {
		fmt.Fprintf(w, "note: %d bytes after LSN %s are not a whole record (a write in progress, or a crash); not shown, and left as they are\n",
			rec.CutBytes, rec.CutAt)
	}
	for _, name := range rec.Removed {
		fmt.Fprintf(w, "note: segment %s has no valid header or record (a crash while creating it); not shown, and left as it is\n", name)
	}
	fmt.Fprintf(w, recordLineFormat, "LSN", "END", "TERM", "GTID", "HLC", "KIND", "BYTES", "CHANGES")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// recordJSON is one record as `log inspect --json` prints it.
type recordJSON struct {
	Type         string      `json:"type"` // "record"
	LSN          lsn.LSN     `json:"lsn"`
	End          lsn.LSN     `json:"end"`
	Term         uint64      `json:"term"`
	GTID         gtid.GTID   `json:"gtid"`
	HLC          string      `json:"hlc"`
	Kind         string      `json:"kind"`
	PayloadBytes int         `json:"payload_bytes"`
	Tables       []tableJSON `json:"tables"` // row counts of all changeset entries, per table
	Entries      []entryJSON `json:"entries"`
	Error        string      `json:"error,omitempty"` // the payload does not decode
	summary      string      // the text form's CHANGES column
}

type tableJSON struct {
	Table   string `json:"table"`
	Inserts int    `json:"inserts"`
	Updates int    `json:"updates"`
	Deletes int    `json:"deletes"`
}

type entryJSON struct {
	Type   string         `json:"type"` // changeset, statement or ddl
	Bytes  int            `json:"bytes,omitempty"`
	Tables []tableJSON    `json:"tables,omitempty"`
	SQL    string         `json:"sql,omitempty"`
	Args   []any          `json:"args,omitempty"`
	Named  map[string]any `json:"named,omitempty"`
}

// describeRecord decodes a record's payload into its text and JSON forms.
// A payload that does not decode is described, not fatal: its CRC was
// good, so the bytes are what the writer wrote, and the rest of the log
// is still worth seeing.
func describeRecord(rec *rlog.Record) recordJSON {
	d := recordJSON{Type: "record", LSN: rec.LSN, End: rec.End(), Term: rec.Term, GTID: rec.GTID,
		HLC: rec.HLC.String(), Kind: rec.Kind.String(), PayloadBytes: len(rec.Payload),
		Tables: []tableJSON{}, Entries: []entryJSON{}}
	entries, err := payload.Decode(rec.Payload)
	if err != nil {
		d.Error = err.Error()
		d.summary = "undecodable payload: " + d.Error
		return d
	}
	var parts []string
	for i, e := range entries {
		ej := entryJSON{Type: e.Type.String()}
		switch e.Type {
		case payload.TypeChangeset:
			ej.Bytes = len(e.Changeset)
			sums, err := changeset.Summarize(e.Changeset)
			if err != nil {
				d.Error = fmt.Sprintf("entry %d: %v", i, err)
			}
			var ts []string
			for _, s := range sums {
				t := tableJSON{s.Table.Name, s.Inserts, s.Updates, s.Deletes}
				ej.Tables = append(ej.Tables, t)
				d.Tables = addTable(d.Tables, t)
				ts = append(ts, fmt.Sprintf("%s: +%d ~%d -%d", t.Table, t.Inserts, t.Updates, t.Deletes))
			}
			if err != nil {
				ts = append(ts, "undecodable changeset: "+err.Error())
			}
			parts = append(parts, strings.Join(ts, ", "))
		default:
			ej.SQL, ej.Args, ej.Named = e.SQL, e.Args, e.Named
			s := shortSQL(e.SQL, 80)
			if n := len(e.Args) + len(e.Named); n > 0 {
				s += fmt.Sprintf(" [%s]", plural(n, "arg"))
			}
			parts = append(parts, s)
		}
		d.Entries = append(d.Entries, ej)
	}
	if len(parts) > maxShownEntries {
		parts = append(parts[:maxShownEntries], fmt.Sprintf("(%d more; see --json)", len(parts)-maxShownEntries))
	}
	d.summary = strings.Join(parts, "; ")
	return d
}

// addTable adds t's counts to the entry for its table in ts.
func addTable(ts []tableJSON, t tableJSON) []tableJSON {
	for i := range ts {
		if ts[i].Table == t.Table {
			ts[i].Inserts += t.Inserts
			ts[i].Updates += t.Updates
			ts[i].Deletes += t.Deletes
			return ts
		}
	}
	return append(ts, t)
}

// shortSQL puts q on one line and cuts it to at most n characters.
func shortSQL(q string, n int) string {
	q = strings.Join(strings.Fields(q), " ")
	if utf8.RuneCountInString(q) <= n {
		return q
	}
	return string([]rune(q)[:n-3]) + "..."
}

// errReadOnly is what readOnlyFS answers to anything that would write.
var errReadOnly = errors.New("log inspect does not write to the log")

// readOnlyFS is the file system under `log inspect`. rlog has no read-only
// mode, and its recovery repairs what it finds: it cuts a torn tail off the
// last segment and removes an incomplete last segment. Through readOnlyFS
// those repairs happen in this process's view only: a cut shortens the
// file as seen here, a removal hides it, and no file is ever opened for
// writing. A readOnlyFile is no rlog.Preallocator, so recovery does not try
// to preallocate the last segment again. So a running node's log can be
// inspected without being changed and without being copied, and it is
// still verified by rlog's own code.
type readOnlyFS struct {
	mu     sync.Mutex
	size   map[string]int64 // files cut by recovery, and their size as seen here
	hidden map[string]bool  // files removed by recovery
}

var (
	_ rlog.FS   = (*readOnlyFS)(nil)
	_ rlog.File = (*readOnlyFile)(nil)
)

func newReadOnlyFS() *readOnlyFS {
	return &readOnlyFS{size: make(map[string]int64), hidden: make(map[string]bool)}
}

// view returns whether name is hidden and, when it was cut, its size.
func (f *readOnlyFS) view(name string) (hidden bool, size int64, cut bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	size, cut = f.size[name]
	return f.hidden[name], size, cut
}

// OpenFile opens name for reading only, whatever flag asks for, unless it
// asks to create or truncate the file.
func (f *readOnlyFS) OpenFile(name string, flag int, _ fs.FileMode) (rlog.File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		return nil, &fs.PathError{Op: "create", Path: name, Err: errReadOnly}
	}
	if hidden, _, _ := f.view(name); hidden {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	file, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return &readOnlyFile{File: file, fs: f, name: name}, nil
}

// Remove hides name instead of removing it.
func (f *readOnlyFS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hidden[name] = true
	return nil
}

// ReadDir lists dir without the hidden files.
func (f *readOnlyFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := entries[:0]
	for _, e := range entries {
		if hidden, _, _ := f.view(filepath.Join(dir, e.Name())); !hidden {
			out = append(out, e)
		}
	}
	return out, nil
}

// MkdirAll checks that the directory exists; it creates nothing.
func (f *readOnlyFS) MkdirAll(dir string, _ fs.FileMode) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: errors.New("not a directory")}
	}
	return nil
}

// SyncDir does nothing: nothing was written.
func (f *readOnlyFS) SyncDir(string) error { return nil }

// Stat describes name as seen here.
func (f *readOnlyFS) Stat(name string) (fs.FileInfo, error) {
	hidden, size, cut := f.view(name)
	if hidden {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	fi, err := os.Stat(name)
	if err != nil || !cut {
		return fi, err
	}
	return cutInfo{fi, size}, nil
}

// readOnlyFile is a file of readOnlyFS: reads stop at a cut.
type readOnlyFile struct {
	*os.File
	fs   *readOnlyFS
	name string
}

func (f *readOnlyFile) ReadAt(p []byte, off int64) (int, error) {
	_, size, cut := f.fs.view(f.name)
	if !cut || off+int64(len(p)) <= size {
		return f.File.ReadAt(p, off)
	}
	if off >= size {
		return 0, io.EOF
	}
	n, err := f.File.ReadAt(p[:size-off], off)
	if err == nil {
		err = io.EOF
	}
	return n, err
}

func (f *readOnlyFile) WriteAt([]byte, int64) (int, error) {
	return 0, &fs.PathError{Op: "write", Path: f.name, Err: errReadOnly}
}

// Write refuses too, so no write reaches the embedded *os.File.
func (f *readOnlyFile) Write([]byte) (int, error) {
	return 0, &fs.PathError{Op: "write", Path: f.name, Err: errReadOnly}
}

// Sync does nothing: nothing was written.
func (f *readOnlyFile) Sync() error { return nil }

// Truncate records the cut in memory; the file keeps its bytes.
func (f *readOnlyFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if old, ok := f.fs.size[f.name]; !ok || size < old {
		f.fs.size[f.name] = size
	}
	return nil
}

func (f *readOnlyFile) Stat() (fs.FileInfo, error) {
	fi, err := f.File.Stat()
	if _, size, cut := f.fs.view(f.name); err == nil && cut {
		return cutInfo{fi, size}, nil
	}
	return fi, err
}

// cutInfo is the FileInfo of a file cut in memory.
type cutInfo struct {
	fs.FileInfo
	size int64
}

func (c cutInfo) Size() int64 { return c.size }
