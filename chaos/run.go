package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"time"

	"github.com/tandem-db/tandem/client"
)

// setupTimeout bounds starting the cluster and creating the schema.
const setupTimeout = 60 * time.Second

// Run starts the cluster, runs the workload and the fault schedule for
// cfg.Duration, heals every fault, waits for the cluster to settle, runs
// every checker and writes the report to cfg.Out. It returns the result
// and ErrFailed when a checker did not pass; any other error is the
// harness's own (the result then says how far it got).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	began := time.Now()
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "tandem-chaos-")
		if err != nil {
			return nil, err
		}
		dir = d
		defer os.RemoveAll(d)
	}
	if cfg.Out != "" {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return nil, fmt.Errorf("chaos: --out: %w", err)
		}
	}
	wl, err := newWorkload(cfg.Workload)
	if err != nil {
		return nil, err
	}
	c, err := newCluster(&cfg, dir)
	if err != nil {
		return nil, err
	}
	caps := probe(ctx, &cfg, c)
	defer func() {
		for _, d := range caps.mounts {
			_ = unmountData(d) // after the nodes stopped; nothing to do if it fails
		}
	}()
	var ids, links []string
	for _, n := range c.Nodes() {
		ids = append(ids, n.ID)
	}
	for _, p := range c.Proxies() {
		links = append(links, p.Name())
	}
	sched := NewSchedule(&cfg, ids, links)
	res := &Result{Seed: cfg.Seed, Nodes: cfg.Nodes, HA: cfg.HA, Workload: cfg.Workload, Faults: cfg.Faults, Commit: cfg.Commit,
		Duration: cfg.Duration.String(), Schedule: sched, Unsupported: caps.unsupported(&cfg)}
	mode := ""
	if cfg.HA {
		mode = " ha"
	}
	fmt.Fprintf(logw, "tandem chaos: workload=%s nodes=%d%s commit=%s duration=%v seed=%d data=%s\n%s",
		cfg.Workload, cfg.Nodes, mode, cfg.Commit, cfg.Duration, cfg.Seed, dir, sched)
	for kind, why := range res.Unsupported {
		fmt.Fprintf(logw, "  %s faults will be skipped: %s\n", kind, why)
	}
	runErr := run(ctx, &cfg, c, wl, caps.capabilities, sched, res, logw)
	if err := c.Close(); err != nil && runErr == nil {
		fmt.Fprintf(logw, "stopping the cluster: %v\n", err)
	}
	res.Elapsed = time.Since(began).Round(time.Millisecond).String()
	if runErr != nil {
		res.Error = runErr.Error()
	}
	res.Pass = runErr == nil && allPassed(res.Verdicts)
	if cfg.Out != "" {
		if err := writeOutputs(cfg.Out, res); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	if runErr != nil {
		return res, runErr
	}
	if !res.Pass {
		return res, ErrFailed
	}
	return res, nil
}

func allPassed(vs []Verdict) bool {
	for i := range vs {
		if !vs[i].Passed() {
			return false
		}
	}
	return len(vs) > 0
}

// run is Run once the cluster exists: it fills res.
func run(ctx context.Context, cfg *Config, c *Cluster, wl Workload, caps capabilities, sched *Schedule, res *Result, logw io.Writer) error {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	primary := c.Nodes()[0]
	if err := primary.Start(sctx); err != nil {
		return fmt.Errorf("chaos: start %s: %w", primary.ID, err)
	}
	if cfg.HA {
		// The bootstrapping node writes once it holds its first lease.
		if err := waitWritable(sctx, primary); err != nil {
			return err
		}
	}
	pc, err := primary.Direct(10 * time.Second)
	if err != nil {
		return err
	}
	defer pc.Close()
	if err := wl.Setup(sctx, pc); err != nil {
		return err
	}
	for _, n := range c.Nodes()[1:] {
		if err := n.Start(sctx); err != nil {
			return fmt.Errorf("chaos: start %s: %w", n.ID, err)
		}
	}
	if err := quiesce(sctx, c, setupTimeout); err != nil {
		return fmt.Errorf("chaos: before the run: %w", err)
	}
	var targets []target
	for _, n := range c.Nodes() {
		cl, err := client.New(n.Client.Addr(), client.WithTimeout(cfg.OpTimeout), client.WithMaxConns(cfg.Concurrency))
		if err != nil {
			return err
		}
		defer cl.Close()
		targets = append(targets, target{node: n.ID, c: cl})
	}

	hist := NewHistory(time.Now())
	mon := newMonitor(c, hist)
	mctx, stopMon := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); mon.run(mctx) }()
	defer func() { stopMon(); wg.Wait() }()
	nem := newNemesis(c, caps, hist, cfg.Seed, logw)
	rctx, stopRun := context.WithTimeout(ctx, cfg.Duration)
	defer stopRun()
	nemDone := make(chan struct{})
	go func() { defer close(nemDone); nem.run(rctx, ctx, sched) }()
	runWorkers(rctx, cfg, wl, targets, hist)
	runTime := hist.Since(time.Now())
	fmt.Fprintf(logw, "workload done after %v; healing every fault\n", runTime.Round(time.Millisecond))

	hctx, cancelHeal := context.WithTimeout(ctx, cfg.Quiesce+setupTimeout)
	defer cancelHeal()
	var errs []error
	<-nemDone // its last fault is healed
	phase := time.Now()
	if err := nem.healAll(hctx); err != nil {
		errs = append(errs, err)
	}
	fmt.Fprintf(logw, "healed in %v\n", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	if err := quiesce(hctx, c, cfg.Quiesce); err != nil {
		errs = append(errs, err)
	}
	fmt.Fprintf(logw, "converged in %v\n", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	ev := &Evidence{Workload: cfg.Workload, Commit: cfg.Commit, OutDir: cfg.Out, Start: hist.start}
	if b, ok := wl.(*bank); ok {
		ev.BankTotal, ev.BankAccounts = b.Total(), b.accounts
	}
	ev.Contents = settledContents(hctx, c, wl.Tables(), cfg.Quiesce)
	if cfg.HA {
		// The final state is the primary's of the moment; the cluster's
		// history says how it came to be, and the rewinds' files what
		// they discarded (read now: a tmpfs data dir goes with the run).
		ev.HA = true
		if p, err := c.currentPrimary(hctx); err == nil {
			primary = p
		}
		ev.History = clusterHistory(hctx, primary)
		ev.LostFiles = readLostFiles(c)
	}
	if pc2, err := primary.Direct(10 * time.Second); err == nil {
		ev.Final, err = wl.Final(hctx, pc2)
		pc2.Close()
		if err != nil {
			ev.FinalErr = err.Error()
		}
	} else {
		ev.FinalErr = err.Error()
	}
	stopMon()
	ev.Ops, ev.Samples, ev.Faults = hist.Ops(), mon.Samples(), nem.Records()
	res.Verdicts = Check(ev)
	fmt.Fprintf(logw, "read and checked in %v\n", time.Since(phase).Round(time.Millisecond))
	res.fill(ev, runTime)
	for _, p := range c.Proxies() {
		res.Proxies[p.Name()] = p.Stats()
	}
	return errors.Join(errs...)
}

// probed is what probe found: the capabilities, and the tmpfs mounts to
// undo.
type probed struct {
	capabilities
	mounts []string
}

// unsupported maps each requested fault kind that cannot be injected
// here to the reason.
func (p *probed) unsupported(cfg *Config) map[string]string {
	out := map[string]string{}
	if cfg.hasFault(FaultSkew) && p.skewFlag == "" {
		out[FaultSkew] = skewUnsupported
	}
	if cfg.hasFault(FaultDisk) && p.noFullDisk != "" {
		out["disk(full)"] = p.noFullDisk
	}
	return out
}

// skewFlagPattern finds a clock-offset flag in `tandem serve --help`.
var skewFlagPattern = regexp.MustCompile(`--(clock-offset|clock-skew)\b`)

// probe finds what this binary and machine support: a clock-offset flag
// in `tandem serve --help`, and tmpfs data dirs (mounted now) when disk
// faults are asked for.
func probe(ctx context.Context, cfg *Config, c *Cluster) probed {
	var p probed
	if cfg.hasFault(FaultSkew) {
		out, _ := exec.CommandContext(ctx, cfg.Binary, "serve", "--help").CombinedOutput()
		if m := skewFlagPattern.FindString(string(out)); m != "" {
			p.skewFlag = m
		}
	}
	if !cfg.hasFault(FaultDisk) {
		p.noFullDisk = "disk faults not requested"
		return p
	}
	for _, n := range c.Nodes() {
		if err := mountData(n.DataDir); err != nil {
			p.noFullDisk = err.Error()
			for _, d := range p.mounts {
				_ = unmountData(d)
			}
			p.mounts = nil
			return p
		}
		p.mounts = append(p.mounts, n.DataDir)
	}
	return p
}
