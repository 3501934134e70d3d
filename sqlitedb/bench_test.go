package sqlitedb

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
)

// BenchmarkApply measures replaying single-row insert transactions as
// recovery and replicas do, in batches of 256 (catch-up) and of 4 (a
// replica keeping up with a busy primary): with the row applier (cached
// statements, the default) and with sqlite3changeset_apply, merged with a
// changegroup or one call per transaction.
func BenchmarkApply(b *testing.B) {
	for _, batch := range []int{256, 4} {
		for _, mode := range []string{"rows", "sqlite-merged", "sqlite-one-by-one"} {
			b.Run(fmt.Sprintf("batch=%d/%s", batch, mode), func(b *testing.B) { benchApply(b, batch, mode) })
		}
	}
}

func benchApply(b *testing.B, batch int, mode string) {
	// Capture a template transaction once; vary the primary key per copy
	// by capturing a batch of distinct inserts.
	src, err := Open(DefaultConfig(filepath.Join(b.TempDir(), "src.db")))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	w := src.Writer()
	ctx := context.Background()
	capture := func(req *command.ExecuteRequest) []byte {
		if err := w.Begin(); err != nil {
			b.Fatal(err)
		}
		txn, err := w.Execute(ctx, req)
		if err != nil || txn.Results[0].Error != "" {
			b.Fatal(err, txn.Results)
		}
		if err := w.Commit(0, gtid.GTID{}); err != nil {
			b.Fatal(err)
		}
		return txn.Payload
	}
	schema := capture(&command.ExecuteRequest{Statements: []command.Statement{{SQL: "CREATE TABLE bench (id INTEGER PRIMARY KEY, k TEXT, v BLOB(100))"}}})
	v := strings.Repeat("v", 100)
	total := 64 * 256
	payloads := make([][]byte, total)
	for i := range payloads {
		payloads[i] = capture(&command.ExecuteRequest{Statements: []command.Statement{{SQL: "INSERT INTO bench(k, v) VALUES(?, ?)", Args: []any{"key", v}}}})
	}
	merge := mode == "sqlite-merged"
	{
		{
			cfg := DefaultConfig(filepath.Join(b.TempDir(), "dst.db"))
			cfg.SQLiteApply = mode != "rows"
			dst, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer dst.Close()
			dw := dst.Writer()
			end := lsn.LSN(1)
			if err := dw.Apply([]ApplyTxn{{End: end, Payload: schema}}); err != nil {
				b.Fatal(err)
			}
			txns := make([]ApplyTxn, batch)
			next := 0
			b.ReportMetric(0, "ns/op")
			applied := 0
			for b.Loop() {
				if next+batch > total {
					// Start over on an empty table.
					b.StopTimer()
					if err := dw.Apply([]ApplyTxn{{End: end + 1, Payload: mustPayload(b, dst, "DELETE FROM bench")}}); err != nil {
						b.Fatal(err)
					}
					end++
					next = 0
					b.StartTimer()
				}
				for i := range txns {
					end++
					txns[i] = ApplyTxn{End: end, Payload: payloads[next+i]}
				}
				next += batch
				if err := dw.applyBatch(txns, merge); err != nil {
					b.Fatal(err)
				}
				applied += batch
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(applied), "ns/txn")
		}
	}
}

// mustPayload captures a statement on db without committing it anywhere
// that matters; used to build maintenance records in benchmarks.
func mustPayload(b *testing.B, db *DB, sql string) []byte {
	b.Helper()
	w := db.Writer()
	if err := w.Begin(); err != nil {
		b.Fatal(err)
	}
	txn, err := w.Execute(context.Background(), &command.ExecuteRequest{Statements: []command.Statement{{SQL: sql}}})
	w.Rollback()
	if err != nil || txn.Results[0].Error != "" {
		b.Fatal(err, txn.Results)
	}
	return txn.Payload
}
