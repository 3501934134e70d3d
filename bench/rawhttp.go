package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The raw HTTP client: a minimal HTTP/1.1 keep-alive client for the bench's
// own requests, so that the load generator costs the shared CPU as little
// as possible. It sends only POSTs of a JSON body built by the caller and
// reads responses delimited by Content-Length, chunked transfer coding or
// the end of the connection. Every connection has its own buffers and is
// used by one worker at a time; the pool hands a worker back the
// connection it used last, so in a run each worker keeps one connection.
//
// A connection that breaks (EOF, reset, a malformed response) fails the
// operation in flight, which the run counts as an error; it is closed and
// the next operation dials a new one. An operation is never retried: a
// write may have committed before the connection broke.

// maxResponseBody bounds a response body the raw client reads.
const maxResponseBody = 64 << 20

// errRawScheme reports a node address the raw client cannot serve (https).
var errRawScheme = errors.New("bench: the raw HTTP client speaks plain http only")

// aLongTimeAgo is a deadline in the past: setting it makes blocked reads and
// writes on a connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

// rawClient is a pool of keep-alive connections to one node.
type rawClient struct {
	addr    string // host:port to dial
	host    string // the Host header
	base    string // scheme://host[/prefix], for error messages
	prefix  string // path prefix of the API, "" or "/x"
	maxIdle int
	dialer  net.Dialer

	mu   sync.Mutex
	idle []*rawConn // LIFO, so a worker gets back the connection it put
}

// newRawClient returns a client for base, a URL as client.Client.URL
// returns it, keeping up to maxIdle idle connections.
func newRawClient(base string, maxIdle int) (*rawClient, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("%w: %s", errRawScheme, base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &rawClient{
		addr:    addr,
		host:    u.Host,
		base:    base,
		prefix:  u.Path,
		maxIdle: max(maxIdle, 1),
	}, nil
}

// get returns an idle connection usable under ctx, or dials a new one.
func (p *rawClient) get(ctx context.Context) (*rawConn, error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if c.watch(ctx) {
			return c, nil
		}
		c.close() // a context it served ended: its deadline may be poisoned
	}
	nc, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	c := &rawConn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}
	c.watch(ctx)
	return c, nil
}

// put gives c back to the pool, or closes it when it is broken or the pool
// is full.
func (p *rawClient) put(c *rawConn) {
	if c.broken {
		c.close()
		return
	}
	p.mu.Lock()
	if len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// closeIdle closes the idle connections. The client stays usable.
func (p *rawClient) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// post sends body (a JSON document) to target (path and query) over one of
// the pool's connections and calls check on the response. The response
// body passed to check is only valid during the call.
func (p *rawClient) post(ctx context.Context, target string, body func([]byte) []byte, check func(status int, body []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := p.get(ctx)
	if err != nil {
		return fmt.Errorf("POST %s%s: %w", p.base, target[len(p.prefix):], err)
	}
	c.body = body(c.body[:0])
	status, resp, err := c.roundTrip(p.host, target)
	if err != nil {
		c.broken = true
		p.put(c)
		if cerr := ctx.Err(); cerr != nil {
			err = cerr // the watch cut the connection off
		}
		return fmt.Errorf("POST %s%s: %w", p.base, target[len(p.prefix):], err)
	}
	err = check(status, resp)
	p.put(c)
	return err
}

// rawConn is one keep-alive connection with its buffers.
type rawConn struct {
	nc   net.Conn
	br   *bufio.Reader
	req  []byte // the request being sent
	body []byte // its body
	resp []byte // the response body

	// done is the Done channel of the context the connection serves, and
	// stop undoes the context.AfterFunc that cuts the connection off when
	// that context ends. Registering once per context, not per request,
	// keeps cancellation off the per-request cost.
	done <-chan struct{}
	stop func() bool

	// broken means the connection must not be reused: an I/O error, a
	// malformed response, or a server that asked to close it.
	broken bool
}

// watch arranges for ctx's end to interrupt the connection's I/O. It
// reports false when the connection may already have been interrupted on
// behalf of an earlier context, and must be closed.
func (c *rawConn) watch(ctx context.Context) bool {
	d := ctx.Done()
	if d == c.done {
		return true
	}
	if c.stop != nil {
		if !c.stop() {
			c.stop = nil
			return false
		}
		c.stop = nil
	}
	c.done = d
	if d != nil {
		nc := c.nc
		c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	}
	return true
}

func (c *rawConn) close() {
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
	c.nc.Close()
}

// roundTrip sends c.body to target and reads the response. It returns the
// status and the body, which stays valid until the connection's next use.
// A server that asks to close the connection gets it closed afterwards.
func (c *rawConn) roundTrip(host, target string) (int, []byte, error) {
	b := c.req[:0]
	b = append(b, "POST "...)
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(c.body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, c.body...)
	c.req = b
	if _, err := c.nc.Write(b); err != nil {
		return 0, nil, err
	}
	return c.readResponse()
}

// errMalformed reports a response the raw client cannot parse.
var errMalformed = errors.New("malformed HTTP response")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// readLine returns the next line without its line ending. The slice is only
// valid until the next read.
func (c *rawConn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, malformed("line longer than %d bytes", c.br.Size())
		}
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, io.EOF // closed between responses: nothing read
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readResponse reads one response: status line, headers and body.
func (c *rawConn) readResponse() (int, []byte, error) {
	var (
		status  int
		length  int64 = -1
		chunked bool
		closing bool
	)
	for {
		line, err := c.readLine()
		if err != nil {
			return 0, nil, err
		}
		// "HTTP/1.1 200 OK"
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
			(len(line) > 12 && line[12] != ' ') {
			return 0, nil, malformed("status line %q", line)
		}
		status = 0
		for _, d := range line[9:12] {
			if d < '0' || d > '9' {
				return 0, nil, malformed("status line %q", line)
			}
			status = status*10 + int(d-'0')
		}
		http10 := line[7] == '0'
		closing = http10 // HTTP/1.0 closes unless it says keep-alive
		length, chunked = -1, false
		for {
			line, err := c.readLine()
			if err != nil {
				return 0, nil, unexpected(err)
			}
			if len(line) == 0 {
				break
			}
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 {
				return 0, nil, malformed("header line %q", line)
			}
			name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")):
				n, ok := parseLength(value)
				if !ok || (length >= 0 && n != length) {
					return 0, nil, malformed("Content-Length %q", value)
				}
				length = n
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				if !bytes.EqualFold(value, []byte("chunked")) {
					return 0, nil, malformed("unsupported Transfer-Encoding %q", value)
				}
				chunked = true
			case bytes.EqualFold(name, []byte("Connection")):
				for tok := range bytes.SplitSeq(value, []byte(",")) {
					tok = bytes.TrimSpace(tok)
					switch {
					case bytes.EqualFold(tok, []byte("close")):
						closing = true
					case http10 && bytes.EqualFold(tok, []byte("keep-alive")):
						closing = false
					}
				}
			}
		}
		if status >= 200 {
			break
		}
		if status == 101 {
			return 0, nil, malformed("unexpected 101 Switching Protocols")
		}
		// An interim response (100 Continue, 103 Early Hints): the real
		// one follows.
	}

	var err error
	switch {
	case status == 204 || status == 304:
		c.resp = c.resp[:0]
	case chunked: // takes precedence over a Content-Length
		err = c.readChunked()
	case length >= 0:
		if length > maxResponseBody {
			return 0, nil, malformed("body of %d bytes", length)
		}
		c.resp = slices.Grow(c.resp[:0], int(length))[:length]
		_, err = io.ReadFull(c.br, c.resp)
	default: // delimited by the end of the connection
		closing = true
		err = c.readToEOF()
	}
	if err != nil {
		return 0, nil, unexpected(err)
	}
	c.broken = closing
	return status, c.resp, nil
}

// unexpected turns an EOF in the middle of a response into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseLength parses a Content-Length value: decimal digits only.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range v {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// readChunked reads a chunked body into c.resp, and its trailers.
func (c *rawConn) readChunked() error {
	c.resp = c.resp[:0]
	for {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || len(line) > 8 {
			return malformed("chunk size %q", line)
		}
		size := 0
		for _, d := range line {
			var v byte
			switch {
			case '0' <= d && d <= '9':
				v = d - '0'
			case 'a' <= d && d <= 'f':
				v = d - 'a' + 10
			case 'A' <= d && d <= 'F':
				v = d - 'A' + 10
			default:
				return malformed("chunk size %q", line)
			}
			size = size<<4 | int(v)
		}
		if size == 0 {
			for { // trailers, up to the empty line
				line, err := c.readLine()
				if err != nil {
					return err
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		n := len(c.resp)
		if n+size > maxResponseBody {
			return malformed("body over %d bytes", maxResponseBody)
		}
		c.resp = slices.Grow(c.resp, size)[:n+size]
		if _, err := io.ReadFull(c.br, c.resp[n:]); err != nil {
			return err
		}
		line, err = c.readLine()
		if err != nil {
			return err
		}
		if len(line) != 0 {
			return malformed("no CRLF after a chunk")
		}
	}
}

// readToEOF reads a body that ends with the connection.
func (c *rawConn) readToEOF() error {
	c.resp = c.resp[:0]
	for {
		if len(c.resp) == cap(c.resp) {
			if len(c.resp) >= maxResponseBody {
				return malformed("body over %d bytes", maxResponseBody)
			}
			c.resp = slices.Grow(c.resp, 4096)
		}
		n, err := c.br.Read(c.resp[len(c.resp):cap(c.resp)])
		c.resp = c.resp[:len(c.resp)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
