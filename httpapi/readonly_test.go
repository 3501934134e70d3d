package httpapi_test

import (
	"testing"

	"github.com/tandem-db/tandem/httpapi"
)

func TestIsReadOnly(t *testing.T) {
	tests := []struct {
		sql  string
		want bool
	}{
		{"SELECT 1", true},
		{"select * from t", true},
		{"  \n\tSELECT 1", true},
		{"-- a comment\nSELECT 1", true},
		{"/* c */ /* d */SELECT 1", true},
		{"VALUES (1), (2)", true},
		{"EXPLAIN QUERY PLAN SELECT * FROM t", true},
		{"EXPLAIN INSERT INTO t VALUES (1)", true},
		{"SELECT 1; SELECT 2;", true},
		{"WITH x AS (SELECT 1) SELECT * FROM x", true},
		{"WITH x AS (SELECT 'insert into t' AS s) SELECT s FROM x", true},
		{"WITH x AS (SELECT replace(a, 'b', 'c') FROM t) SELECT * FROM x", true},
		{`WITH x AS (SELECT "delete" FROM t) SELECT * FROM x`, true},
		{"WITH x AS (SELECT updated_at FROM t) SELECT * FROM x", true},
		{"PRAGMA table_info(t)", true},
		{"pragma user_version", true},
		{"SELECTED", false},
		{"SELECT1", false},
		{"", false},
		{"   ", false},
		{";", false},
		{"-- only a comment", false},
		{"INSERT INTO t VALUES (1)", false},
		{"UPDATE t SET a = 1", false},
		{"DELETE FROM t", false},
		{"REPLACE INTO t VALUES (1)", false},
		{"CREATE TABLE t (a)", false},
		{"BEGIN", false},
		{"SELECT 1; DELETE FROM t", false},
		{"SELECT ';'; DELETE FROM t", false},
		{"SELECT 1 -- ; \n; DROP TABLE t", false},
		{"WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", false},
		{"WITH x AS (SELECT 1) DELETE FROM t", false},
		{"WITH x AS (SELECT 1) UPDATE t SET a = 1", false},
		{"WITH x AS (SELECT 1) REPLACE INTO t SELECT * FROM x", false},
		{"with x as (select 1) insert into t select * from x", false},
		{"PRAGMA user_version = 5", false},
		{"PRAGMA journal_mode=WAL", false},
		{"ATTACH 'x.db' AS x", false},
		{"(SELECT 1)", false},
		{"SELECT 'unterminated", true},
		{"/* unterminated comment", false},
	}
	for _, tt := range tests {
		if got, want := httpapi.IsReadOnly(tt.sql), tt.want; got != want {
			t.Errorf("IsReadOnly(%q): got %v, want %v", tt.sql, got, want)
		}
	}
}

func BenchmarkIsReadOnly(b *testing.B) {
	for b.Loop() {
		httpapi.IsReadOnly("INSERT INTO t (a, b) VALUES (?, ?)")
		httpapi.IsReadOnly("SELECT a, b FROM t WHERE id = ?")
	}
}
