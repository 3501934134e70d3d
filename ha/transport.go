package ha

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is raft's TCP stream layer with one difference from raft's
// own: it tracks every connection it accepted or dialed and closes them all
// on Close, so a closed Cluster leaves no goroutine blocked on a peer's
// connection (STYLE #9). It is also the seam where a test can cut links.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr

	source net.Addr // the local address to dial from, or nil

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(bind, advertise, source string) (*streamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("listen on raft address %s: %w", bind, err)
	}
	s := &streamLayer{ln: ln, advertise: ln.Addr(), conns: map[*trackedConn]struct{}{}}
	if source != "" {
		s.source = &net.TCPAddr{IP: net.ParseIP(source)}
	}
	if advertise != "" {
		if s.advertise, err = net.ResolveTCPAddr("tcp", advertise); err != nil {
			ln.Close()
			return nil, fmt.Errorf("raft advertise address %s: %w", advertise, err)
		}
	}
	if a, ok := s.advertise.(*net.TCPAddr); !ok || a.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("%w: raft address %s cannot be dialled by other nodes; set the advertise address", ErrBadConfig, s.advertise)
	}
	return s, nil
}

func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return s.track(c)
}

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if s.source != nil {
		d.LocalAddr = s.source
	}
	c, err := d.Dial("tcp", string(addr))
	if err != nil {
		return nil, err
	}
	return s.track(c)
}

func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Close stops accepting and closes every connection.
func (s *streamLayer) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = map[*trackedConn]struct{}{}
	s.mu.Unlock()
	err := s.ln.Close()
	for c := range conns {
		c.Conn.Close()
	}
	return err
}

func (s *streamLayer) track(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, errors.New("raft stream layer closed")
	}
	t := &trackedConn{Conn: c, s: s}
	s.conns[t] = struct{}{}
	return t, nil
}

type trackedConn struct {
	net.Conn
	s *streamLayer
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}
