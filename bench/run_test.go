package bench

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openSQLite(t *testing.T) *SQLiteTarget {
	t.Helper()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "bench.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func countRows(t *testing.T, s *SQLiteTarget) int64 {
	t.Helper()
	var n int64
	if err := s.DB().QueryRow("SELECT count(*) FROM bench").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRun_sqliteCount(t *testing.T) {
	const count, rows, batch = 200, 300, 5
	for _, tc := range []struct {
		workload         Workload
		minRows, maxRows int64
	}{
		{Insert, count, count},
		{Batch, count * batch, count * batch},
		{PointSelect, rows, rows},
		{Mixed, rows + 1, rows + count}, // ~20% of 200 operations insert
	} {
		t.Run(string(tc.workload), func(t *testing.T) {
			s := openSQLite(t)
			cfg := Config{Workload: tc.workload, Clients: 4, Count: count, BatchSize: batch, Rows: rows, Seed: 1}
			rep, err := Run(context.Background(), cfg, s)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := rep.Transactions, int64(count); got != want {
				t.Errorf("transactions = %d, want %d", got, want)
			}
			if rep.Errors != 0 {
				t.Errorf("errors = %d (%v), want 0", rep.Errors, rep.ErrorSamples)
			}
			if got := countRows(t, s); got < tc.minRows || got > tc.maxRows {
				t.Errorf("rows in table = %d, want %d..%d", got, tc.minRows, tc.maxRows)
			}
			if got, want := rep.Latency.Count(), uint64(count); got != want {
				t.Errorf("latencies recorded = %d, want %d", got, want)
			}
			if rep.TPS <= 0 || rep.P50ms <= 0 || rep.P50ms > rep.P95ms || rep.P95ms > rep.P99ms {
				t.Errorf("tps %v, p50/p95/p99 = %v/%v/%v: want positive and ordered", rep.TPS, rep.P50ms, rep.P95ms, rep.P99ms)
			}
			if got, want := rep.Target, s.String(); got != want {
				t.Errorf("target = %q, want %q", got, want)
			}
		})
	}
}

// TestSetup_fillsGaps checks that setup inserts exactly the missing ids.
func TestSetup_fillsGaps(t *testing.T) {
	s := openSQLite(t)
	cfg := Config{Workload: PointSelect, Clients: 1, Count: 1, Rows: 1200, Seed: 1}
	if err := Setup(context.Background(), cfg, s); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec("DELETE FROM bench WHERE id IN (7, 700)"); err != nil {
		t.Fatal(err)
	}
	if err := Setup(context.Background(), cfg, s); err != nil {
		t.Fatal(err)
	}
	var got, want int64 = countRows(t, s), 1200
	if got != want {
		t.Errorf("rows = %d, want %d", got, want)
	}
}

func TestRun_duration(t *testing.T) {
	s := openSQLite(t)
	cfg := Config{Workload: Insert, Clients: 2, Duration: 200 * time.Millisecond, Count: 1 << 40, Seed: 1}
	start := time.Now()
	rep, err := Run(context.Background(), cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Run took %v, want about 200ms", elapsed)
	}
	if rep.DurationS < 0.2 || rep.DurationS > 10 {
		t.Errorf("duration_s = %v, want 0.2 or a little more", rep.DurationS)
	}
	if rep.Transactions < 1 {
		t.Errorf("transactions = %d, want some", rep.Transactions)
	}
	if got, want := countRows(t, s), rep.Transactions; got != want {
		t.Errorf("rows = %d, want %d (one per transaction)", got, want)
	}
}

func TestRun_cancel(t *testing.T) {
	s := openSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := Config{Workload: Insert, Clients: 2, Count: 1000}
	if _, err := Run(ctx, cfg, s); !errors.Is(err, context.Canceled) {
		t.Errorf("Run(cancelled) error = %v, want context.Canceled", err)
	}
}

// TestRun_errors checks that failing operations are counted, not fatal.
func TestRun_errors(t *testing.T) {
	s := openSQLite(t)
	cfg := Config{Workload: PointSelect, Clients: 2, Count: 50, Rows: 10, Seed: 1}
	if err := Setup(context.Background(), cfg, s); err != nil {
		t.Fatal(err)
	}
	// Rows now says 20, but setup is skipped: half the ids are missing.
	cfg.Rows = 20
	rep := measure(context.Background(), cfg, s)
	if rep.Errors == 0 || rep.Transactions == 0 || rep.Errors+rep.Transactions != 50 {
		t.Errorf("transactions, errors = %d, %d; want both > 0, summing to 50", rep.Transactions, rep.Errors)
	}
	if len(rep.ErrorSamples) != 1 {
		t.Errorf("error samples = %q, want one", rep.ErrorSamples)
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"unbounded", func(c *Config) { c.Duration, c.Count = 0, 0 }, ErrUnbounded},
		{"workload", func(c *Config) { c.Workload = "tpcc" }, ErrBadConfig},
		{"clients", func(c *Config) { c.Clients = 0 }, ErrBadConfig},
		{"batch", func(c *Config) { c.Workload, c.BatchSize = Batch, 0 }, ErrBadConfig},
		{"rows", func(c *Config) { c.Workload, c.Rows = Mixed, 0 }, ErrBadConfig},
		{"negative", func(c *Config) { c.Count = -1 }, ErrBadConfig},
		{"http client", func(c *Config) { c.HTTPClient = "curl" }, ErrBadConfig},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		if got := c.Validate(); !errors.Is(got, tc.want) {
			t.Errorf("%s: Validate() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// stallTarget is a target whose inserts block until their context ends.
type stallTarget struct{ SQLiteTarget }

func (stallTarget) Insert(ctx context.Context, _ []Row) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestRun_overrun checks that a stalled target cannot hold a timed run
// open past its duration plus the overrun allowance.
func TestRun_overrun(t *testing.T) {
	old := overrun
	overrun = 50 * time.Millisecond
	t.Cleanup(func() { overrun = old })
	st := &stallTarget{*openSQLite(t)}
	cfg := Config{Workload: Insert, Clients: 2, Duration: 50 * time.Millisecond, Seed: 1}
	rep, err := Run(context.Background(), cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Transactions != 0 || rep.Errors != 0 {
		t.Errorf("transactions, errors = %d, %d; want 0, 0 (cut off, not failed)", rep.Transactions, rep.Errors)
	}
	if rep.DurationS > 5 {
		t.Errorf("duration_s = %v, want about 0.1", rep.DurationS)
	}
}
