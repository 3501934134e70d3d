package hatest

import (
	"net"
	"sync"
)

// proxy forwards TCP connections to a member's replication listener; the
// member advertises the proxy's address, so every replica streams through
// it. It can hold the connections of chosen replicas, told apart by their
// source IP (each member dials from its own --source-addr): nothing more
// reaches them, so they fall behind, and cut drops what was held.
type proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	cond    *sync.Cond
	held    map[string]bool // source IPs whose traffic waits
	conns   map[*proxyConn]bool
	stopped bool
	wg      sync.WaitGroup
}

// proxyConn is one proxied connection: the replica's side and the
// member's.
type proxyConn struct {
	src       string // the replica's IP
	down, up  net.Conn
	cut       bool // guarded by proxy.mu
	closeOnce sync.Once
}

func newProxy(addr, target string) (*proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, held: map[string]bool{}, conns: map[*proxyConn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		host, _, _ := net.SplitHostPort(down.RemoteAddr().String())
		c := &proxyConn{src: host, down: down, up: up}
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			down.Close()
			up.Close()
			return
		}
		p.conns[c] = true
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, up, down)
		go p.pipe(c, down, up)
	}
}

// pipe copies from one side to the other, waiting while the connection's
// replica is held.
func (p *proxy) pipe(c *proxyConn, dst, src net.Conn) {
	defer p.wg.Done()
	defer p.close(c)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.held[c.src] && !c.cut {
				p.cond.Wait()
			}
			cut := c.cut
			p.mu.Unlock()
			if cut {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) close(c *proxyConn) {
	c.closeOnce.Do(func() {
		c.down.Close() // the copies end either way
		c.up.Close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	})
}

// hold stops forwarding the traffic of the replicas with these source IPs.
func (p *proxy) hold(ips ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ip := range ips {
		p.held[ip] = true
	}
}

// cut drops the held replicas' connections with a reset, and what they
// were held from receiving, and lets their later connections through.
func (p *proxy) cut() {
	p.mu.Lock()
	var drop []*proxyConn
	for c := range p.conns {
		if p.held[c.src] {
			c.cut = true
			drop = append(drop, c)
		}
	}
	clear(p.held)
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, c := range drop {
		if tc, ok := c.down.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset: buffered data is not delivered
		}
		p.close(c)
	}
}

// stop closes the listener and every connection, and waits for the
// proxy's goroutines.
func (p *proxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	p.stopped = true
	for c := range p.conns {
		c.cut = true
	}
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, c := range conns {
		p.close(c)
	}
	p.wg.Wait()
}
