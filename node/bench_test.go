package node

import (
	"context"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/crashtest"
	"github.com/tandem-db/tandem/rlog"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// noSyncFS is the real file system with fsync turned into a no-op, so a
// benchmark measures CPU cost without the disk's flush latency.
type noSyncFS struct{ rlog.OSFS }

type noSyncFile struct{ rlog.File }

func (noSyncFile) Sync() error { return nil }

func (f noSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (rlog.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{file}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }

var benchValue = strings.Repeat("v", 100)

const benchSchema = "CREATE TABLE bench (id INTEGER PRIMARY KEY, k TEXT, v BLOB(100))"

// BenchmarkWritePath compares one single-row transaction through a node
// (queue, savepoint, pre-update-hook capture, log record, meta LSN, commit)
// with the same transaction on plain SQLite, both without fsync. The
// difference is Tandem's cost per transaction.
func BenchmarkWritePath(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		c, err := sqlite.OpenConn(filepath.Join(b.TempDir(), "plain.db"), sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		for _, q := range []string{"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", benchSchema} {
			if err := sqlitex.ExecuteTransient(c, q, nil); err != nil {
				b.Fatal(err)
			}
		}
		begin, ins, commit := c.Prep("BEGIN IMMEDIATE"), c.Prep("INSERT INTO bench(k, v) VALUES(?, ?)"), c.Prep("COMMIT")
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			for _, s := range []*sqlite.Stmt{begin, ins, commit} {
				if s == ins {
					s.BindText(1, "key")
					s.BindText(2, benchValue)
				}
				if _, err := s.Step(); err != nil {
					b.Fatal(err)
				}
				s.Reset()
			}
		}
	})
	b.Run("node", func(b *testing.B) { benchNode(b, nil) })
	// The same node as the one member of an HA cluster: the writer checks
	// the lease on every batch and the node renews it through raft.
	b.Run("node-ha", func(b *testing.B) {
		benchNode(b, func(cfg *Config) {
			cfg.RaftAddr, cfg.HTTPAddr, cfg.ReplAddr = freeAddr(b), freeAddr(b), freeAddr(b)
			cfg.ClusterSecret, cfg.Bootstrap = "bench-cluster-secret-0123456789", true
		})
	})
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(tb testing.TB) string {
	addr, err := crashtest.FreeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	return addr
}

// benchNode times single-row transactions through a node without fsync.
func benchNode(b *testing.B, mod func(*Config)) {
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.HTTPAddr, cfg.LogFS = "bench", b.TempDir(), "", noSyncFS{}
	cfg.Logger = slog.New(slog.DiscardHandler)
	if mod != nil {
		mod(&cfg)
	}
	n, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); !n.mayWrite(); {
		if time.Now().After(deadline) {
			b.Fatal("the HA member did not take its lease")
		}
		time.Sleep(time.Millisecond) // polling for the first lease, not timing
	}
	if _, err := n.Execute(ctx, &command.ExecuteRequest{Statements: []command.Statement{{SQL: benchSchema}}}); err != nil {
		b.Fatal(err)
	}
	req := &command.ExecuteRequest{Statements: []command.Statement{{SQL: "INSERT INTO bench(k, v) VALUES(?, ?)", Args: []any{"key", benchValue}}}}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := n.Execute(ctx, req)
		if err != nil || resp.Results[0].Error != "" {
			b.Fatal(err, resp)
		}
	}
}
