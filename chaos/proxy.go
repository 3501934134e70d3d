package chaos

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Direction names one or both directions of a proxied link. Forward is
// from the side that dials (a replica, a client) to the target (an
// upstream, a node's HTTP API); Backward is the other way.
type Direction uint8

// Directions of a link.
const (
	Forward Direction = 1 << iota
	Backward
	Both = Forward | Backward
)

// String names the direction as the schedule prints it.
func (d Direction) String() string {
	switch d {
	case Forward:
		return "forward"
	case Backward:
		return "backward"
	case Both:
		return "both"
	}
	return "none"
}

// MarshalText prints the direction's name, so JSON carries it.
func (d Direction) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

const (
	// proxyDialTimeout bounds a proxy's dial to its target.
	proxyDialTimeout = 2 * time.Second
	// chunkSize is the most a pump reads at once.
	chunkSize = 32 << 10
	// queueDepth bounds the chunks read but not yet delivered per
	// direction; a full queue stops the reader (backpressure).
	queueDepth = 64
)

// Proxy forwards TCP connections from its own loopback address to a
// target that may move (a node restarted on another port), and injects
// network faults into them: it drops the bytes of one or both directions
// (a partition), holds them (a stall), delays them (latency and seeded
// jitter), and closes every connection (a cut).
//
// A dropped byte is gone, as it is for TCP across a partition that outlasts
// its retransmissions; so that no stream resumes with a hole in it, Heal
// closes every connection that lost bytes, and the peers reconnect.
//
// A proxy tells its dialers apart by the connection's remote IP (each HA
// node dials from its own loopback IP, see --source-addr), so a partition
// can also cut only the connections from one dialer (PartitionFrom): that
// is how the harness partitions one node from another while every other
// path through the same proxy still works.
type Proxy struct {
	name   string
	ln     net.Listener
	target func() string // "" while the target is down

	mu      sync.Mutex
	rng     *rand.Rand
	drop    Direction
	from    map[string]Direction // dropped directions by the dialer's IP
	stall   Direction
	latency time.Duration
	jitter  time.Duration
	changed chan struct{} // closed and replaced on every fault change
	closed  bool
	links   map[*link]struct{}
	wg      sync.WaitGroup

	passed  [2]atomic.Int64 // bytes delivered, by direction index
	dropped [2]atomic.Int64 // bytes dropped, by direction index
	accepts atomic.Int64
	sources map[string]*counts // by the dialer's IP; under mu
}

// NewProxy listens on 127.0.0.1:0 and forwards every connection to the
// address target returns when the connection is accepted; an empty address
// refuses it. seed drives the jitter.
func NewProxy(name string, target func() string, seed uint64) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{name: name, ln: ln, target: target, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		changed: make(chan struct{}), links: make(map[*link]struct{}), from: map[string]Direction{}, sources: map[string]*counts{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Name is the link's name, e.g. "n1->n2" or "client->n1".
func (p *Proxy) Name() string { return p.name }

// Addr is the address to connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Partition drops every byte sent in dir from now until Heal.
func (p *Proxy) Partition(dir Direction) {
	p.update(func() { p.drop |= dir })
}

// Stall holds every byte sent in dir until Heal; held bytes then go on.
func (p *Proxy) Stall(dir Direction) {
	p.update(func() { p.stall |= dir })
}

// Delay adds latency plus a seeded random jitter in [0, jitter) to every
// chunk, in both directions, keeping each direction's order.
func (p *Proxy) Delay(latency, jitter time.Duration) {
	p.update(func() { p.latency, p.jitter = latency, jitter })
}

// Cut closes every connection now; new ones are let through.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.close()
	}
}

// Heal lifts every fault: it closes the connections that lost bytes and
// lets held bytes go on.
func (p *Proxy) Heal() {
	p.update(func() {
		p.drop, p.stall, p.latency, p.jitter = 0, 0, 0, 0
		clear(p.from)
		for l := range p.links {
			if l.tainted.Load() {
				l.close()
			}
		}
	})
}

// Stats are a proxy's byte counts by direction since it started.
type Stats struct {
	Passed  map[string]int64 `json:"passed"`
	Dropped map[string]int64 `json:"dropped"`
	Accepts int64            `json:"accepts"`
	// Sources splits the counts by the dialer's IP, when more than one
	// dialed.
	Sources map[string]SourceStats `json:"sources,omitempty"`
}

// Passed returns the bytes delivered in dir so far.
func (p *Proxy) Passed(dir Direction) int64 { return p.passed[dirIndex(dir)].Load() }

// Dropped returns the bytes dropped in dir so far.
func (p *Proxy) Dropped(dir Direction) int64 { return p.dropped[dirIndex(dir)].Load() }

// Stats returns the byte counts.
func (p *Proxy) Stats() Stats {
	return Stats{
		Passed:  map[string]int64{"forward": p.Passed(Forward), "backward": p.Passed(Backward)},
		Dropped: map[string]int64{"forward": p.Dropped(Forward), "backward": p.Dropped(Backward)},
		Accepts: p.accepts.Load(),
		Sources: p.sourceStats(),
	}
}

// Close stops the proxy, closes its connections and waits for its
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for l := range p.links {
		l.close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func dirIndex(d Direction) int {
	if d == Backward {
		return 1
	}
	return 0
}

func (p *Proxy) update(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.accepts.Add(1)
		p.mu.Lock()
		closed := p.closed
		if !closed {
			p.wg.Add(1)
		}
		p.mu.Unlock()
		if closed {
			c.Close()
			continue
		}
		go func() {
			defer p.wg.Done()
			p.forward(c)
		}()
	}
}

// link is one proxied connection pair.
type link struct {
	a, b    net.Conn // a was accepted, b was dialed
	src     string   // the dialer's IP
	n       *counts  // the dialer's byte counts
	done    chan struct{}
	once    sync.Once
	tainted atomic.Bool // bytes were dropped
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		l.a.Close()
		l.b.Close()
	})
}

func (p *Proxy) forward(a net.Conn) {
	addr := p.target()
	if addr == "" {
		a.Close()
		return
	}
	b, err := net.DialTimeout("tcp", addr, proxyDialTimeout)
	if err != nil {
		a.Close()
		return
	}
	src := remoteIP(a)
	l := &link{a: a, b: b, src: src, done: make(chan struct{})}
	p.mu.Lock()
	l.n = p.countsOf(src)
	if p.closed {
		p.mu.Unlock()
		l.close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(l, Forward, a, b) }()
	go func() { defer wg.Done(); p.pump(l, Backward, b, a) }()
	wg.Wait()
	l.close()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// chunk is bytes read and the time they may be delivered.
type chunk struct {
	b  []byte
	at time.Time
}

// pump moves one direction: it reads, drops or schedules each chunk, and
// a writer goroutine delivers chunks in order, holding them while the
// direction is stalled. Either side failing ends the whole link.
func (p *Proxy) pump(l *link, dir Direction, src, dst net.Conn) {
	q := make(chan chunk, queueDepth)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer l.close()
		for c := range q {
			if !p.deliverable(l, dir, c.at) {
				return
			}
			if _, err := dst.Write(c.b); err != nil {
				return
			}
			p.passed[dirIndex(dir)].Add(int64(len(c.b)))
			l.n.passed[dirIndex(dir)].Add(int64(len(c.b)))
		}
	}()
	defer wg.Wait()
	defer close(q)
	var last time.Time
	for {
		buf := make([]byte, chunkSize)
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			drop := (p.drop|p.from[l.src])&dir != 0
			at := time.Now().Add(p.latency)
			if p.jitter > 0 {
				at = at.Add(time.Duration(p.rng.Int64N(int64(p.jitter))))
			}
			p.mu.Unlock()
			if drop {
				p.dropped[dirIndex(dir)].Add(int64(n))
				l.n.dropped[dirIndex(dir)].Add(int64(n))
				l.tainted.Store(true)
			} else {
				at = later(at, last)
				last = at
				select {
				case q <- chunk{b: buf[:n], at: at}:
				case <-l.done:
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// deliverable waits until the chunk's time has come and dir is not
// stalled; it reports false when the link closed meanwhile.
func (p *Proxy) deliverable(l *link, dir Direction, at time.Time) bool {
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return false
		}
	}
	for {
		p.mu.Lock()
		stalled, changed := p.stall&dir != 0, p.changed
		p.mu.Unlock()
		if !stalled {
			return true
		}
		select {
		case <-changed:
		case <-l.done:
			return false
		}
	}
}
