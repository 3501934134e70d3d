package chaos

import (
	"net"
	"sync/atomic"
)

// counts are the bytes of one dialer's connections, by direction index.
type counts struct {
	passed  [2]atomic.Int64
	dropped [2]atomic.Int64
}

// SourceStats are the byte counts of the connections dialed from one IP.
type SourceStats struct {
	Passed  map[string]int64 `json:"passed"`
	Dropped map[string]int64 `json:"dropped"`
}

// PartitionFrom drops every byte sent in dir on the connections dialed
// from ip (Forward: what the dialer sends; Backward: what it is sent),
// those open now and those accepted later, until Heal. A connection from
// ip is still accepted and the target dialed, but nothing crosses: to the
// dialer it looks like a network that lost its packets, not a refusal.
func (p *Proxy) PartitionFrom(ip string, dir Direction) {
	p.update(func() { p.from[ip] |= dir })
}

// PassedFrom returns the bytes delivered in dir on connections from ip.
func (p *Proxy) PassedFrom(ip string, dir Direction) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.sources[ip]; n != nil {
		return n.passed[dirIndex(dir)].Load()
	}
	return 0
}

// DroppedFrom returns the bytes dropped in dir on connections from ip.
func (p *Proxy) DroppedFrom(ip string, dir Direction) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.sources[ip]; n != nil {
		return n.dropped[dirIndex(dir)].Load()
	}
	return 0
}

// countsOf returns the counts of ip's connections; under p.mu.
func (p *Proxy) countsOf(ip string) *counts {
	n := p.sources[ip]
	if n == nil {
		n = &counts{}
		p.sources[ip] = n
	}
	return n
}

// sourceStats splits the counts by dialer; nil when at most one dialed.
func (p *Proxy) sourceStats() map[string]SourceStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.sources) < 2 {
		return nil
	}
	out := make(map[string]SourceStats, len(p.sources))
	for ip, n := range p.sources {
		out[ip] = SourceStats{
			Passed:  map[string]int64{"forward": n.passed[0].Load(), "backward": n.passed[1].Load()},
			Dropped: map[string]int64{"forward": n.dropped[0].Load(), "backward": n.dropped[1].Load()},
		}
	}
	return out
}

// remoteIP is the IP a connection came from.
func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
