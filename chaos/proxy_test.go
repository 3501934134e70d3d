package chaos

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer answers each line with the same line until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newTestProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := NewProxy("test", func() string { return target }, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// conn dials the proxy; lines are sent and read with a deadline.
type conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *Proxy) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *conn) send(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s + "\n")); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads a line within d; ok is false on a timeout.
func (c *conn) recv(d time.Duration) (string, error) {
	c.c.SetReadDeadline(time.Now().Add(d))
	s, err := c.r.ReadString('\n')
	if len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s, err
}

// waitCount polls a byte counter until it reaches want; a counter is
// bumped just after the bytes are written, so a reader may see them first.
func waitCount(t *testing.T, what string, get func() int64, want int64) {
	t.Helper()
	waitFor(t, 2*time.Second, what, func() (bool, string) {
		got := get()
		return got == want, fmt.Sprintf("%d, want %d", got, want)
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProxy_PassesBytes(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	c := dial(t, p)
	c.send("hello")
	if got, err := c.recv(2 * time.Second); err != nil || got != "hello" {
		t.Fatalf("recv = %q, %v; want hello", got, err)
	}
	waitCount(t, "forward bytes", func() int64 { return p.Passed(Forward) }, 6)
	waitCount(t, "backward bytes", func() int64 { return p.Passed(Backward) }, 6)
}

func TestProxy_PartitionOneWay(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	c := dial(t, p)
	c.send("before")
	if got, err := c.recv(2 * time.Second); got != "before" {
		t.Fatalf("recv = %q, %v", got, err)
	}
	// The echo's replies are dropped: the request gets through (the
	// forward count grows), nothing comes back.
	waitCount(t, "backward bytes", func() int64 { return p.Passed(Backward) }, 7)
	p.Partition(Backward)
	back := p.Passed(Backward)
	c.send("during")
	if got, err := c.recv(300 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("recv during a backward partition = %q, %v; want a timeout", got, err)
	}
	if got, want := p.Passed(Backward), back; got != want {
		t.Errorf("backward bytes grew from %d to %d during the partition", want, got)
	}
	waitCount(t, "dropped backward", func() int64 { return p.Dropped(Backward) }, int64(len("during\n")))
	waitCount(t, "forward bytes (the forward direction still flows)", func() int64 { return p.Passed(Forward) }, int64(len("before\nduring\n")))
	// Heal closes the connection that lost bytes; a new one works.
	p.Heal()
	if _, err := c.recv(2 * time.Second); err == nil || isTimeout(err) {
		t.Errorf("after heal the tainted connection is %v; want it closed", err)
	}
	c2 := dial(t, p)
	c2.send("after")
	if got, err := c2.recv(2 * time.Second); got != "after" {
		t.Fatalf("recv after heal = %q, %v", got, err)
	}
}

func TestProxy_PartitionBothWays(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	p.Partition(Both)
	c := dial(t, p) // accepted, but nothing crosses
	c.send("lost")
	if got, err := c.recv(300 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("recv = %q, %v; want a timeout", got, err)
	}
	if p.Passed(Forward) != 0 || p.Dropped(Forward) != 5 {
		t.Errorf("forward passed %d dropped %d; want 0 and 5", p.Passed(Forward), p.Dropped(Forward))
	}
}

func TestProxy_StallHoldsThenDelivers(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	c := dial(t, p)
	p.Stall(Forward)
	c.send("held")
	if got, err := c.recv(300 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("recv during a stall = %q, %v; want a timeout", got, err)
	}
	p.Heal()
	if got, err := c.recv(2 * time.Second); got != "held" {
		t.Fatalf("recv after the stall = %q, %v; want the held line", got, err)
	}
}

func TestProxy_DelayKeepsOrder(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	c := dial(t, p)
	p.Delay(50*time.Millisecond, 30*time.Millisecond)
	start := time.Now()
	for _, s := range []string{"a", "b", "c"} {
		c.send(s)
	}
	for _, want := range []string{"a", "b", "c"} {
		if got, err := c.recv(2 * time.Second); got != want {
			t.Fatalf("recv = %q, %v; want %q", got, err, want)
		}
	}
	// Each byte crossed the proxy twice, 50 ms or more each way.
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("round trip took %v, want at least 100ms", d)
	}
}

func TestProxy_CutClosesConnections(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	c := dial(t, p)
	c.send("x")
	if _, err := c.recv(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if _, err := c.recv(2 * time.Second); err == nil || isTimeout(err) {
		t.Fatalf("after a cut the connection is %v; want it closed", err)
	}
	c2 := dial(t, p)
	c2.send("y")
	if got, err := c2.recv(2 * time.Second); got != "y" {
		t.Fatalf("a new connection after the cut: %q, %v", got, err)
	}
}

func TestProxy_TargetDown(t *testing.T) {
	p := newTestProxy(t, "")
	c := dial(t, p)
	if _, err := c.recv(2 * time.Second); err == nil || isTimeout(err) {
		t.Fatalf("a proxy whose target is down gave %v; want the connection closed", err)
	}
}

// dialFrom dials the proxy from the local IP src.
func dialFrom(t *testing.T, p *Proxy, src string) *conn {
	t.Helper()
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", p.Addr())
	if err != nil {
		t.Skipf("dial from %s: %v (needs all of 127/8 on loopback, as Linux has)", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{t: t, c: c, r: bufio.NewReader(c)}
}

// TestProxy_PartitionFromOneSource cuts the connections of one dialer
// only: another dialer's connections through the same proxy still work,
// and the counts by source say which bytes went where.
func TestProxy_PartitionFromOneSource(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	const cut, other = "127.0.0.12", "127.0.0.13"
	a, b := dialFrom(t, p, cut), dialFrom(t, p, other)
	for _, c := range []*conn{a, b} {
		c.send("before")
		if got, err := c.recv(2 * time.Second); got != "before" {
			t.Fatalf("recv = %q, %v", got, err)
		}
	}
	waitCount(t, "bytes back to the cut dialer", func() int64 { return p.PassedFrom(cut, Backward) }, 7)
	p.PartitionFrom(cut, Both)
	a.send("during")
	b.send("during")
	if got, err := b.recv(2 * time.Second); got != "during" {
		t.Fatalf("the other dialer's connection: recv = %q, %v; want its echo", got, err)
	}
	if got, err := a.recv(300 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("the cut dialer's connection: recv = %q, %v; want a timeout", got, err)
	}
	// A new connection from the cut dialer is accepted but carries nothing.
	a2 := dialFrom(t, p, cut)
	a2.send("new")
	if got, err := a2.recv(300 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("a new connection from the cut dialer: recv = %q, %v; want a timeout", got, err)
	}
	if got, want := p.PassedFrom(cut, Forward), int64(7); got != want {
		t.Errorf("forward bytes from %s = %d, want %d (none after the cut)", cut, got, want)
	}
	waitCount(t, "forward bytes dropped from the cut dialer", func() int64 { return p.DroppedFrom(cut, Forward) }, int64(len("during\nnew\n")))
	waitCount(t, "the other dialer's bytes back", func() int64 { return p.PassedFrom(other, Backward) }, int64(len("before\nduring\n")))
	if got := p.DroppedFrom(other, Forward) + p.DroppedFrom(other, Backward); got != 0 {
		t.Errorf("%d bytes of the other dialer were dropped", got)
	}
	if s := p.Stats().Sources; len(s) != 2 || s[cut].Dropped["forward"] == 0 {
		t.Errorf("stats by source = %v; want both dialers, the cut one with dropped bytes", s)
	}
	p.Heal()
	if _, err := a.recv(2 * time.Second); err == nil || isTimeout(err) {
		t.Errorf("after heal the cut connection is %v; want it closed", err)
	}
	a3 := dialFrom(t, p, cut)
	a3.send("after")
	if got, err := a3.recv(2 * time.Second); got != "after" {
		t.Fatalf("recv after heal = %q, %v", got, err)
	}
}
