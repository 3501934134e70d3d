package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Disk fault variants.
const (
	DiskFull = "full" // the node's data dir runs out of space
	DiskFlip = "flip" // one byte of a closed log segment is inverted while the node is stopped
)

// maxEvents bounds a schedule.
const maxEvents = 10000

// TargetPrimary, as an HA event's target, is whichever node is the
// primary when the fault is injected (FaultRecord.Resolved says which).
const TargetPrimary = "primary"

// Event is one scheduled fault: applied At, healed Dur later.
type Event struct {
	At   time.Duration `json:"at_ns"`
	Dur  time.Duration `json:"dur_ns"`
	Kind string        `json:"kind"`
	// Target is a node ("n2"), a link ("n1->n2", "client->n1", "n1/raft"),
	// and in HA mode also "primary" (TargetPrimary) or, for a partition, a
	// pair of nodes ("n1|n2").
	Target string `json:"target"`
	// Dir is the direction a partition or stall affects. A partition of
	// an HA node drops what the node sends to the others (forward), what
	// it receives from them (backward) or both; of a pair "a|b", forward
	// is what a sends to b.
	Dir Direction `json:"dir,omitempty"`
	// Clients makes the partition of an HA node cut it from the
	// workload's clients too; without it they still reach it.
	Clients bool `json:"clients,omitempty"`
	// Latency and Jitter are a latency fault's delay.
	Latency time.Duration `json:"latency_ns,omitempty"`
	Jitter  time.Duration `json:"jitter_ns,omitempty"`
	// Offset is a skew fault's clock offset.
	Offset time.Duration `json:"offset_ns,omitempty"`
	// Disk is full or flip.
	Disk string `json:"disk,omitempty"`
}

// String prints the event as the schedule shows it.
func (e Event) String() string {
	s := fmt.Sprintf("%7.2fs +%5.2fs %-9s %-11s", e.At.Seconds(), e.Dur.Seconds(), e.Kind, e.Target)
	switch e.Kind {
	case FaultPartition, FaultStall:
		s += " dir=" + e.Dir.String()
		if e.Clients {
			s += " +clients"
		}
	case FaultLatency:
		s += fmt.Sprintf(" latency=%v jitter=%v", e.Latency, e.Jitter)
	case FaultSkew:
		s += fmt.Sprintf(" offset=%v", e.Offset)
	case FaultDisk:
		s += " " + e.Disk
	}
	return strings.TrimRight(s, " ")
}

// Schedule is a run's seeded list of faults, one at a time, in time order.
type Schedule struct {
	Seed   uint64  `json:"seed"`
	Events []Event `json:"events"`
}

// String prints one event per line.
func (s *Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schedule (seed %d, %d faults):\n", s.Seed, len(s.Events))
	for _, e := range s.Events {
		b.WriteString("  " + e.String() + "\n")
	}
	return b.String()
}

// NewSchedule draws the faults of a run from its seed alone: the same
// seed, configuration and topology give the same schedule. Kinds come
// round-robin from a seeded shuffle, so a schedule with enough room has
// each kind; faults start after a fault-free warm-up and are healed before
// a fault-free tail.
func NewSchedule(cfg *Config, nodes, links []string) *Schedule {
	s := &Schedule{Seed: cfg.Seed}
	if cfg.Events != nil {
		s.Events = append(s.Events, cfg.Events...)
		return s
	}
	if len(cfg.Faults) == 0 {
		return s
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	kinds := append([]string(nil), cfg.Faults...)
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	d := cfg.Duration
	margin := clamp(d/10, 500*time.Millisecond, 10*time.Second)
	between := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
	}
	t, end := margin, d-margin
	for i := 0; i < maxEvents && t < end; i++ {
		dur := between(clamp(d/20, 300*time.Millisecond, 3*time.Second), clamp(d/8, 600*time.Millisecond, 8*time.Second))
		if t+dur > end {
			dur = end - t
		}
		if dur < 200*time.Millisecond {
			break
		}
		e := Event{At: t, Dur: dur, Kind: kinds[i%len(kinds)]}
		pickNode := func() string { return nodes[rng.IntN(len(nodes))] }
		pickLink := func() string { return links[rng.IntN(len(links))] }
		switch e.Kind {
		case FaultKill, FaultPause:
			if cfg.HA && rng.IntN(2) == 0 {
				e.Target = TargetPrimary // half of them: enough failovers
			} else {
				e.Target = pickNode()
			}
		case FaultPartition:
			if cfg.HA {
				drawHAPartition(rng, &e, nodes)
				break
			}
			e.Target = pickLink()
			e.Dir = []Direction{Both, Forward, Backward}[rng.IntN(3)]
		case FaultSkew:
			e.Target = pickNode()
			e.Offset = time.Duration(rng.Int64N(int64(60*time.Second))) - 30*time.Second
		case FaultDisk:
			e.Target = pickNode()
			e.Disk = []string{DiskFlip, DiskFull}[rng.IntN(2)]
		case FaultStall:
			e.Target = pickLink()
			e.Dir = []Direction{Both, Forward, Backward}[rng.IntN(3)]
		case FaultLatency:
			e.Target = pickLink()
			e.Latency = between(10*time.Millisecond, 100*time.Millisecond)
			e.Jitter = between(0, 50*time.Millisecond)
		case FaultCut:
			e.Target = pickLink()
		}
		s.Events = append(s.Events, e)
		t += dur + between(clamp(d/40, 200*time.Millisecond, time.Second), clamp(d/15, 400*time.Millisecond, 3*time.Second))
	}
	return s
}

// drawHAPartition draws a partition between nodes: the primary of the
// moment cut from the others (4 in 10), a random node (3 in 10) or a pair
// of nodes (3 in 10); both ways mostly, else one way; a quarter of the
// single-node cuts also cut the clients off.
func drawHAPartition(rng *rand.Rand, e *Event, nodes []string) {
	e.Dir = []Direction{Both, Both, Forward, Backward}[rng.IntN(4)]
	switch p := rng.IntN(10); {
	case p < 4:
		e.Target = TargetPrimary
	case p < 7 || len(nodes) < 2:
		e.Target = nodes[rng.IntN(len(nodes))]
	default:
		a := rng.IntN(len(nodes))
		b := (a + 1 + rng.IntN(len(nodes)-1)) % len(nodes)
		e.Target = nodes[a] + "|" + nodes[b]
		return
	}
	e.Clients = rng.IntN(4) == 0
}

func clamp(d, lo, hi time.Duration) time.Duration { return min(max(d, lo), hi) }
