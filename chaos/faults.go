package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/tandem-db/tandem/rlog"
)

// Fault record statuses.
const (
	StatusInjected = "injected"
	StatusSkipped  = "skipped"
	StatusError    = "error"
)

// FaultRecord is what happened to one scheduled fault.
type FaultRecord struct {
	Event
	// Start and End are when the fault was applied and healed.
	Start  time.Duration `json:"start_ns"`
	End    time.Duration `json:"end_ns"`
	Status string        `json:"status"`
	// Resolved is the node a "primary" target was when the fault began.
	Resolved string     `json:"resolved,omitempty"`
	Note     string     `json:"note,omitempty"`
	Flip     *FlipCheck `json:"flip,omitempty"`
}

// capabilities say which faults this machine and binary can inject; a
// kind that cannot is skipped with the reason, never faked.
type capabilities struct {
	// skewFlag is the `tandem serve` flag that offsets a node's clock, or
	// "" when the binary has none.
	skewFlag string
	// noFullDisk is why a full disk cannot be made, or "".
	noFullDisk string
}

// skewUnsupported is the reason the skew fault is skipped.
const skewUnsupported = "not yet supported by tandem serve (it has no clock-offset flag; the HLC takes its wall time from a function, but serve exposes no hook)"

// nemesis injects a schedule's faults into a cluster and heals them.
type nemesis struct {
	c    *Cluster
	caps capabilities
	hist *History
	log  io.Writer
	rng  *rand.Rand

	mu      sync.Mutex
	records []FaultRecord
}

func newNemesis(c *Cluster, caps capabilities, hist *History, seed uint64, log io.Writer) *nemesis {
	return &nemesis{c: c, caps: caps, hist: hist, log: log, rng: rand.New(rand.NewPCG(seed, 0xd15c))}
}

// run injects each event at its time and heals it after its duration,
// until the schedule is done or ctx (the run) ends; the fault in force
// then is healed at once. Injecting and healing use hctx, which outlives
// the run, so a node being restarted is not cut short.
func (m *nemesis) run(ctx, hctx context.Context, s *Schedule) {
	for _, e := range s.Events {
		if !m.waitUntil(ctx, e.At) {
			return
		}
		rec := FaultRecord{Event: e, Start: m.now(), Status: StatusInjected}
		heal := m.apply(hctx, e, &rec)
		fmt.Fprintf(m.log, "fault %s: %s%s%s\n", rec.Status, e.String(), resolvedSuffix(rec.Resolved), noteSuffix(rec.Note))
		m.waitUntil(ctx, e.At+e.Dur)
		if heal != nil {
			if err := heal(hctx); err != nil {
				rec.Note = joinNote(rec.Note, "heal: "+err.Error())
			}
		}
		rec.End = m.now()
		m.mu.Lock()
		m.records = append(m.records, rec)
		m.mu.Unlock()
	}
}

// Records returns what each injected fault did.
func (m *nemesis) Records() []FaultRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]FaultRecord(nil), m.records...)
}

func (m *nemesis) now() time.Duration { return m.hist.Since(time.Now()) }

// waitUntil waits until the run's offset at; false when ctx ended first.
func (m *nemesis) waitUntil(ctx context.Context, at time.Duration) bool {
	d := at - m.now()
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// apply injects one fault and returns what heals it (nil for none).
func (m *nemesis) apply(ctx context.Context, e Event, rec *FaultRecord) func(context.Context) error {
	fail := func(err error) func(context.Context) error {
		rec.Status, rec.Note = StatusError, err.Error()
		return nil
	}
	if m.c.cfg.HA {
		if e.Target == TargetPrimary {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			n, err := m.c.currentPrimary(pctx)
			cancel()
			if err != nil {
				return fail(err)
			}
			rec.Resolved, e.Target = n.ID, n.ID
		}
		if heal, ok := m.applyHAPartition(e, rec); ok {
			return heal
		}
	}
	if p := m.c.Proxy(e.Target); p != nil {
		switch e.Kind {
		case FaultPartition:
			p.Partition(e.Dir)
		case FaultStall:
			p.Stall(e.Dir)
		case FaultLatency:
			p.Delay(e.Latency, e.Jitter)
		case FaultCut:
			p.Cut()
			return nil
		default:
			return fail(fmt.Errorf("fault %s does not apply to link %s", e.Kind, e.Target))
		}
		return func(context.Context) error { p.Heal(); return nil }
	}
	n := m.c.Node(e.Target)
	if n == nil {
		return fail(fmt.Errorf("no node or link %q", e.Target))
	}
	switch e.Kind {
	case FaultKill:
		if err := n.Kill(); err != nil {
			return fail(err)
		}
		return n.Start
	case FaultPause:
		if err := n.Pause(); err != nil {
			return fail(err)
		}
		return func(context.Context) error { return n.Resume() }
	case FaultSkew:
		if m.caps.skewFlag == "" {
			rec.Status, rec.Note = StatusSkipped, "skew: "+skewUnsupported
			return nil
		}
		if err := n.Kill(); err != nil {
			return fail(err)
		}
		if err := n.StartWith(ctx, []string{m.caps.skewFlag, e.Offset.String()}); err != nil {
			return fail(errors.Join(err, n.Start(ctx)))
		}
		return func(ctx context.Context) error { return errors.Join(n.Stop(), n.Start(ctx)) }
	case FaultDisk:
		if e.Disk == DiskFull {
			return m.fullDisk(n, rec)
		}
		fc, restore, err := flipAndStart(ctx, n, m.rng)
		if err != nil {
			rec.Status, rec.Note = StatusSkipped, "flip: "+err.Error()
			return nil
		}
		rec.Flip = fc
		return func(ctx context.Context) error {
			if err := restore(); err != nil {
				return err
			}
			return n.Start(ctx)
		}
	}
	return fail(fmt.Errorf("fault %s does not apply to node %s", e.Kind, e.Target))
}

// applyHAPartition injects a partition between HA nodes: a node ("n1")
// cut from every other, or a pair ("n1|n2"). ok is false for any other
// event.
func (m *nemesis) applyHAPartition(e Event, rec *FaultRecord) (heal func(context.Context) error, ok bool) {
	if e.Kind != FaultPartition {
		return nil, false
	}
	var touched []*Proxy
	if a, b, pair := strings.Cut(e.Target, "|"); pair {
		na, nb := m.c.Node(a), m.c.Node(b)
		if na == nil || nb == nil || na == nb {
			rec.Status, rec.Note = StatusError, fmt.Sprintf("partition %q: want two nodes a|b", e.Target)
			return nil, true
		}
		touched = cutPair(na, nb, e.Dir)
	} else if n := m.c.Node(e.Target); n != nil {
		touched = m.c.isolate(n, e.Dir, e.Clients)
	} else {
		return nil, false // a link: the proxy's own partition
	}
	return func(context.Context) error {
		for _, p := range touched {
			p.Heal()
		}
		return nil
	}, true
}

// fullDisk shrinks the node's data dir to what it uses. Healing gives the
// space back and restarts the node if it no longer serves: Tandem stops
// its write path for good after a failed log write or fsync.
func (m *nemesis) fullDisk(n *Node, rec *FaultRecord) func(context.Context) error {
	if m.caps.noFullDisk != "" {
		rec.Status, rec.Note = StatusSkipped, "full disk: "+m.caps.noFullDisk
		return nil
	}
	size, err := fillDisk(n.DataDir)
	if err != nil {
		rec.Status, rec.Note = StatusError, err.Error()
		return nil
	}
	rec.Note = fmt.Sprintf("data dir limited to %d bytes", size)
	return func(ctx context.Context) error {
		if err := unfillDisk(n.DataDir); err != nil {
			return err
		}
		why := unhealthy(ctx, n)
		if why == "" {
			return nil
		}
		rec.Note = joinNote(rec.Note, why+": restarted")
		return errors.Join(n.Kill(), n.Start(ctx))
	}
}

// unhealthy says why a node needs the operator's restart: it does not
// answer /readyz with 200, its /status shows a failure (a write path
// stopped for good after an I/O error), or its applier stopped; "" when
// none of these holds.
func unhealthy(ctx context.Context, n *Node) string {
	c, err := n.Direct(2 * time.Second)
	if err != nil {
		return "down"
	}
	defer c.Close()
	if err := c.Ready(ctx); err != nil {
		return "not ready: " + err.Error()
	}
	st, err := statusOf(ctx, c)
	switch {
	case err != nil:
		return "no status: " + err.Error()
	case st.Error != "":
		return "failed: " + st.Error
	case st.ApplyStopped:
		return "applier stopped: " + st.ApplyError
	case strings.Contains(st.UpstreamError, rlog.ErrFailed.Error()):
		// The replica's log failed for good, yet /readyz says 200 and
		// /status has no node error: an operator would not know to
		// restart it. Restart it, and say so in the fault's note.
		return "replica log failed after an I/O error while /readyz answers 200 (not reported as a node failure)"
	}
	return ""
}

// healAll lifts every fault: proxies healed, paused nodes resumed, disks
// given their space back, and every node that is down or failed started.
func (m *nemesis) healAll(ctx context.Context) error {
	for _, p := range m.c.Proxies() {
		p.Heal()
	}
	var errs []error
	for _, n := range m.c.Nodes() {
		if n.Paused() {
			errs = append(errs, n.Resume())
		}
		if m.caps.noFullDisk == "" {
			errs = append(errs, unfillDisk(n.DataDir))
		}
	}
	for _, n := range m.c.Nodes() {
		why := unhealthy(ctx, n)
		if why == "" {
			continue
		}
		fmt.Fprintf(m.log, "after the run, %s is %s: restarting it\n", n.ID, why)
		_ = n.Kill()
		if err := n.Start(ctx); err != nil {
			errs = append(errs, fmt.Errorf("restart %s after the run: %w", n.ID, err))
		}
	}
	return errors.Join(errs...)
}

func resolvedSuffix(node string) string {
	if node == "" {
		return ""
	}
	return " = " + node
}

func noteSuffix(note string) string {
	if note == "" {
		return ""
	}
	return " (" + note + ")"
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
