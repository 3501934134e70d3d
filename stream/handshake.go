package stream

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// welcomeLabel separates the server's MAC from the client's.
const welcomeLabel = "tandem-welcome"

// RoleReplication is the role a Client sends in its Hello.
const RoleReplication = "replication"

const (
	// handshakeTimeout bounds each step of the handshake.
	handshakeTimeout = 10 * time.Second
	// handshakeMaxPayload caps frames until the peer has authenticated.
	handshakeMaxPayload = 64 << 10
)

func newNonce() (n [NonceSize]byte) {
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails
	return n
}

// helloMAC is HMAC-SHA256(secret, challenge nonce || h without its MAC).
func helloMAC(secret []byte, nonce [NonceSize]byte, h *Hello) ([NonceSize]byte, error) {
	signed, err := h.appendSigned(nil)
	if err != nil {
		return [NonceSize]byte{}, err
	}
	m := hmac.New(sha256.New, secret)
	m.Write(nonce[:])
	m.Write(signed)
	return [NonceSize]byte(m.Sum(nil)), nil
}

// welcomeMAC is HMAC-SHA256(secret, welcomeLabel || hello nonce || w
// without its MAC).
func welcomeMAC(secret []byte, helloNonce [NonceSize]byte, w *Welcome) [NonceSize]byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(welcomeLabel))
	m.Write(helloNonce[:])
	m.Write(w.appendSigned(nil))
	return [NonceSize]byte(m.Sum(nil))
}

// refuse sends e to the peer, best effort, and returns it.
func refuse(c *conn, e *Error) error {
	_ = c.send(e) // the peer may be gone; the caller logs e either way
	return e
}

// greet runs the server's side of the handshake up to Welcome: Challenge
// out, Hello in, version, MAC and term checked. A refusal has been sent to
// the client when the error is an *Error.
func (s *Server) greet(c *conn) (*Hello, error) {
	nonce := newNonce()
	ch := &Challenge{
		Version: ProtocolVersion, NodeID: s.cfg.NodeID, UUID: s.cfg.UUID,
		Term: s.src.Term(), Nonce: nonce, Zstd: s.cfg.Compression,
	}
	if err := c.send(ch); err != nil {
		return nil, fmt.Errorf("send challenge: %w", err)
	}
	m, err := c.recv()
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == CodeVersionMismatch {
			return nil, refuse(c, e)
		}
		if errors.Is(err, ErrProtocol) {
			_ = refuse(c, Errorf(CodeBadRequest, "%v", err))
		}
		return nil, fmt.Errorf("read hello: %w", err)
	}
	h, ok := m.(*Hello)
	if !ok {
		return nil, unexpected(m, "Hello")
	}
	want, err := helloMAC([]byte(s.cfg.Secret), nonce, h)
	if err != nil || !hmac.Equal(h.MAC[:], want[:]) {
		return h, refuse(c, Errorf(CodeAuthFailed,
			"authentication of replica %q failed: its --cluster-secret differs from this node's (%s); set the same secret on both", h.NodeID, s.cfg.NodeID))
	}
	if term := s.src.Term(); h.HighestTerm > term {
		return h, refuse(c, Errorf(CodeTermTooLow,
			"replica %q has seen term %d but this node (%s) is at term %d: it must not follow an older primary; point it at the current primary",
			h.NodeID, h.HighestTerm, s.cfg.NodeID, term))
	}
	return h, nil
}

// handshake runs the client's side: Challenge in, Hello out, Welcome in,
// the server's MAC and term checked. It returns the Welcome.
func (cl *Client) handshake(c *conn) (*Hello, *Welcome, error) {
	m, err := c.recv()
	if err != nil {
		return nil, nil, fmt.Errorf("read challenge: %w", err)
	}
	ch, ok := m.(*Challenge)
	if !ok {
		return nil, nil, unexpected(m, "Challenge")
	}
	h := &Hello{
		Version: ProtocolVersion, NodeID: cl.cfg.NodeID, UUID: cl.cfg.UUID,
		HighestTerm: cl.sink.HighestTerm(), LastTerm: cl.sink.LastTerm(), Seed: cl.sink.NeedsSeed(),
		Zstd: cl.cfg.Compression, Role: RoleReplication, Nonce: newNonce(),
	}
	if !h.Seed {
		h.Start = cl.sink.Position()
	}
	if h.MAC, err = helloMAC([]byte(cl.cfg.Secret), ch.Nonce, h); err != nil {
		return nil, nil, err
	}
	if err := c.send(h); err != nil {
		return nil, nil, fmt.Errorf("send hello: %w", err)
	}
	if m, err = c.recv(); err != nil {
		return nil, nil, fmt.Errorf("read welcome: %w", err)
	}
	w, ok := m.(*Welcome)
	if !ok {
		return nil, nil, unexpected(m, "Welcome")
	}
	if want := welcomeMAC([]byte(cl.cfg.Secret), h.Nonce, w); !hmac.Equal(w.MAC[:], want[:]) {
		return nil, nil, Errorf(CodeAuthFailed,
			"upstream %s (%s) did not prove it knows the cluster secret: set the same --cluster-secret on both, and check that %s is the node you mean",
			ch.NodeID, cl.cfg.Upstream, cl.cfg.Upstream)
	}
	if w.Zstd && !h.Zstd {
		return nil, nil, protocolErr("Welcome turns compression on, which this client did not ask for")
	}
	if !h.Seed && w.Start != h.Start {
		return nil, nil, protocolErr("Welcome starts at LSN %s, this replica asked for %s", w.Start, h.Start)
	}
	if err := cl.observeTerm(w.Term, "Welcome"); err != nil {
		return nil, nil, err
	}
	return h, w, nil
}

// unexpected is the error for a message out of protocol order. An Error
// from the peer is its refusal, wrapped so that it is not sent back.
func unexpected(m Message, want string) error {
	if e, ok := m.(*Error); ok {
		return fmt.Errorf("peer refused: %w", e)
	}
	return protocolErr("got %s, want %s", m.Type(), want)
}
