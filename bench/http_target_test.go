package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
)

// fakeNode serves the /db/execute and /db/query shapes from a SQLite file,
// enough to run the workloads over HTTP. It records the query parameters.
type fakeNode struct {
	db      *sql.DB
	mu      sync.Mutex
	commits map[string]int // commit= value -> requests
	levels  map[string]int // level= value -> requests
	txs     int            // requests with ?transaction
}

type fakeStmt struct {
	sql  string
	args []any
}

func (f *fakeNode) parse(r *http.Request) ([]fakeStmt, error) {
	var raw []json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		return nil, err
	}
	out := make([]fakeStmt, len(raw))
	for i, m := range raw {
		if json.Unmarshal(m, &out[i].sql) == nil {
			continue
		}
		var a []any
		if err := json.Unmarshal(m, &a); err != nil {
			return nil, err
		}
		out[i] = fakeStmt{sql: a[0].(string), args: a[1:]}
	}
	return out, nil
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.commits[q.Get("commit")]++
	f.levels[q.Get("level")]++
	if q.Has("transaction") {
		f.txs++
	}
	f.mu.Unlock()
	stmts, err := f.parse(r)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	var results []map[string]any
	switch r.URL.Path {
	case "/db/execute":
		tx, _ := f.db.Begin()
		for _, s := range stmts {
			res, err := tx.Exec(s.sql, s.args...)
			if err != nil {
				results = append(results, map[string]any{"error": err.Error()})
				continue
			}
			id, _ := res.LastInsertId()
			n, _ := res.RowsAffected()
			results = append(results, map[string]any{"last_insert_id": id, "rows_affected": n})
		}
		tx.Commit()
	case "/db/query":
		for _, s := range stmts {
			rows, err := f.db.Query(s.sql, s.args...)
			if err != nil {
				results = append(results, map[string]any{"error": err.Error()})
				continue
			}
			cols, _ := rows.Columns()
			values := [][]any{}
			for rows.Next() {
				row := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range row {
					ptrs[i] = &row[i]
				}
				rows.Scan(ptrs...)
				values = append(values, row)
			}
			rows.Close()
			results = append(results, map[string]any{"columns": cols, "values": values})
		}
	default:
		http.NotFound(w, r)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"results": results, "lsn": "0/00000001"})
}

func newFakeNode(t *testing.T) (*fakeNode, string) {
	t.Helper()
	db, err := sql.Open("sqlite", SQLiteDSN(filepath.Join(t.TempDir(), "node.db")))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one writer, like the node
	f := &fakeNode{db: db, commits: map[string]int{}, levels: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(func() { srv.Close(); db.Close() })
	return f, srv.URL
}

// TestHTTPTarget_Run runs the workloads through both HTTP clients.
func TestHTTPTarget_Run(t *testing.T) {
	const count, rows, batch = 100, 700, 4
	for _, hc := range []string{HTTPClientRaw, HTTPClientStd} {
		for _, tc := range []struct {
			workload Workload
			want     int64 // rows in the table afterwards
		}{
			{Insert, count},
			{Batch, count * batch},
			{PointSelect, rows},
		} {
			t.Run(hc+"/"+string(tc.workload), func(t *testing.T) {
				f, url := newFakeNode(t)
				h, err := NewHTTPTarget(url, 4)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { h.Close() })
				cfg := Config{Workload: tc.workload, Clients: 4, Count: count, BatchSize: batch, Rows: rows, Commit: "remote_apply", Level: "strong", Seed: 1, HTTPClient: hc}
				rep, err := Run(context.Background(), cfg, h)
				if err != nil {
					t.Fatal(err)
				}
				if h.Client() != hc {
					t.Errorf("client in use = %s, want %s", h.Client(), hc)
				}
				if rep.Transactions != count || rep.Errors != 0 {
					t.Errorf("transactions, errors = %d, %d (%v); want %d, 0", rep.Transactions, rep.Errors, rep.ErrorSamples, count)
				}
				var got int64
				if err := f.db.QueryRow("SELECT count(*) FROM bench").Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("rows = %d, want %d", got, tc.want)
				}
				if f.commits["remote_apply"] == 0 || f.commits[""] != f.levels["strong"] {
					t.Errorf("commit params %v, level params %v: want every write at remote_apply, every read at strong", f.commits, f.levels)
				}
				switch tc.workload {
				case Batch:
					if f.txs != count {
						t.Errorf("requests with ?transaction = %d, want %d", f.txs, count)
					}
				case PointSelect:
					if f.txs != 2 { // setup: 700 rows in batches of 500
						t.Errorf("requests with ?transaction = %d, want 2", f.txs)
					}
				}
			})
		}
	}
}
