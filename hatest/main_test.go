package hatest_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tandem-db/tandem/crashtest"
	"github.com/tandem-db/tandem/hatest"
)

// binary is the tandem binary the tests run: built once per test binary,
// or TANDEM_HA_BINARY.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	binary = os.Getenv("TANDEM_HA_BINARY")
	if binary == "" {
		dir, err := os.MkdirTemp("", "hatest-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		binary, err = crashtest.Build(ctx, dir)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// rounds is the number of kill rounds of a failover test.
func rounds() int { return envInt("TANDEM_HA_ROUNDS", 3) }

// seeded returns the test's random source and logs how to repeat it.
func seeded(t *testing.T) (*rand.Rand, uint64) {
	s := uint64(envInt("TANDEM_HA_SEED", 0))
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (repeat with TANDEM_HA_SEED=%d)", s, s)
	return rand.New(rand.NewPCG(s, 0x4841)), s
}

func newCluster(t *testing.T) *hatest.Cluster {
	return hatest.NewCluster(t, hatest.Options{Binary: binary})
}

// ledger is what a test's loads did across its rounds.
type ledger struct {
	acked     map[int64]hatest.Ack
	uncertain map[int64]string
}

func newLedger() *ledger {
	return &ledger{acked: map[int64]hatest.Ack{}, uncertain: map[int64]string{}}
}

func (l *ledger) add(r hatest.LoadResult) {
	for _, a := range r.Acks {
		l.acked[a.ID] = a
	}
	for id, e := range r.Uncertain {
		l.uncertain[id] = e
	}
}

// missing returns the acknowledged writes that rows lacks or holds with
// another value.
func (l *ledger) missing(rows map[int64]string) []hatest.Ack {
	var out []hatest.Ack
	for _, id := range sortedIDs(l.acked) {
		a := l.acked[id]
		if v, ok := rows[id]; !ok || v != a.Value {
			out = append(out, a)
		}
	}
	return out
}

// phantoms returns the rows of rows that no write attempted: a row that
// is neither acknowledged nor of unknown outcome.
func (l *ledger) phantoms(rows map[int64]string) []int64 {
	var out []int64
	for _, id := range sortedIDs(rows) {
		if _, ok := l.acked[id]; ok {
			continue
		}
		if _, ok := l.uncertain[id]; ok {
			continue
		}
		out = append(out, id)
	}
	return out
}

// describe lists up to 10 acknowledged writes, with when they were
// acknowledged relative to at.
func describe(acks []hatest.Ack, at time.Time) string {
	s := ""
	for i, a := range acks {
		if i == 10 {
			s += fmt.Sprintf(" ... and %d more", len(acks)-10)
			break
		}
		s += fmt.Sprintf("\n  id %d (%s via %s, acknowledged %v after the kill, gtid %s lsn %s)",
			a.ID, a.Value, a.Via, a.At.Sub(at).Round(time.Millisecond), a.GTID, a.LSN)
	}
	return s
}

func sortedIDs[V any](m map[int64]V) []int64 { return slices.Sorted(maps.Keys(m)) }
