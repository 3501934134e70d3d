package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// maxErrorSamples is how many distinct error messages a Report keeps.
const maxErrorSamples = 3

// overrun is how long past Config.Duration an operation in flight may run
// before it is cancelled, so a stalled target cannot hold a timed run open.
var overrun = 5 * time.Second

// Run validates cfg, prepares t (untimed) and then drives it with
// cfg.Clients workers until the run's bound. It returns an error only when
// the run could not start (bad config, failed setup) or when ctx was
// cancelled, in which case the Report covers the part that ran. Failed
// operations are counted in the Report, not returned.
func Run(ctx context.Context, cfg Config, t Target) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if err := Setup(ctx, cfg, t); err != nil {
		return Report{}, err
	}
	rep := measure(ctx, cfg, t)
	return rep, ctx.Err()
}

// Setup creates the bench table on t and, for workloads that read, makes
// sure every id in [1, cfg.Rows] exists. Run calls it before timing starts.
func Setup(ctx context.Context, cfg Config, t Target) error {
	if err := t.Setup(ctx, cfg); err != nil {
		return fmt.Errorf("bench: setup %s: %w", t, err)
	}
	if !cfg.Workload.needsRows() {
		return nil
	}
	have, err := t.CountIDs(ctx, cfg.Rows)
	if err != nil {
		return fmt.Errorf("bench: setup %s: count rows: %w", t, err)
	}
	if have >= cfg.Rows {
		return nil
	}
	rnd := rand.New(rand.NewPCG(cfg.Seed, 0))
	rows := make([]Row, 0, setupBatch)
	for lo := int64(1); lo <= cfg.Rows; lo += setupBatch {
		rows = rows[:0]
		for id := lo; id < lo+setupBatch && id <= cfg.Rows; id++ {
			r := NewRow(rnd)
			r.ID = id
			rows = append(rows, r)
		}
		if err := t.Insert(ctx, rows); err != nil {
			return fmt.Errorf("bench: setup %s: insert rows %d-%d: %w", t, lo, rows[len(rows)-1].ID, err)
		}
	}
	return nil
}

// worker is one client's share of the results; only it writes them.
type worker struct {
	hist Histogram
	ok   int64
	errs int64
}

// errorLog keeps the first few distinct error messages of a run.
type errorLog struct {
	mu      sync.Mutex
	samples []string
}

func (l *errorLog) add(err error) {
	msg := err.Error()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) >= maxErrorSamples {
		return
	}
	for _, s := range l.samples {
		if s == msg {
			return
		}
	}
	l.samples = append(l.samples, msg)
}

// measure runs the workers and builds the report.
func measure(ctx context.Context, cfg Config, t Target) Report {
	var (
		issued atomic.Int64
		errs   errorLog
		wg     sync.WaitGroup
	)
	workers := make([]*worker, cfg.Clients)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(overrun))
		defer cancel()
	}
	for i := range workers {
		w := &worker{}
		workers[i] = w
		rnd := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))
		wg.Go(func() {
			w.loop(ctx, cfg, t, rnd, deadline, &issued, &errs)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	var total worker
	for _, w := range workers {
		total.hist.Merge(&w.hist)
		total.ok += w.ok
		total.errs += w.errs
	}
	return newReport(cfg, t.String(), elapsed, &total, errs.samples)
}

// loop runs operations until the deadline passes, the count is used up or
// ctx is done. An operation in flight when the deadline passes is finished
// and counted, so the last one may end a little after it; one cut off by
// ctx is not counted.
func (w *worker) loop(ctx context.Context, cfg Config, t Target, rnd *rand.Rand, deadline time.Time, issued *atomic.Int64, errs *errorLog) {
	done := ctx.Done()
	now := time.Now()
	var rows []Row
	for {
		select {
		case <-done:
			return
		default:
		}
		if cfg.Duration > 0 && !now.Before(deadline) {
			return
		}
		if cfg.Count > 0 && issued.Add(1) > cfg.Count {
			return
		}

		// Draw the operation's inputs before the clock starts.
		var id int64
		rows = rows[:0]
		switch cfg.Workload {
		case Insert:
			rows = append(rows, NewRow(rnd))
		case Batch:
			for range cfg.BatchSize {
				rows = append(rows, NewRow(rnd))
			}
		case PointSelect:
			id = 1 + rnd.Int64N(cfg.Rows)
		case Mixed:
			if rnd.IntN(100) < MixedSelectPercent {
				id = 1 + rnd.Int64N(cfg.Rows)
			} else {
				rows = append(rows, NewRow(rnd))
			}
		}

		t0 := time.Now()
		var err error
		if id != 0 {
			err = t.PointSelect(ctx, id)
		} else {
			err = t.Insert(ctx, rows)
		}
		now = time.Now()
		switch {
		case err == nil:
			w.ok++
			w.hist.Record(now.Sub(t0))
		case ctx.Err() != nil:
			return // cut off, not failed
		default:
			w.errs++
			errs.add(err)
		}
	}
}
