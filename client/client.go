package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Errors returned by this package.
var (
	// ErrBothParams reports a Statement with both Args and Named set.
	ErrBothParams = errBothParams
	// ErrBadAddr reports an address that is neither host:port nor a URL.
	ErrBadAddr = errors.New("client: bad address")
)

// DefaultMaxConns is the idle keep-alive pool size per host when WithMaxConns
// is not given.
const DefaultMaxConns = 64

// HTTPError is a request the server answered with a non-2xx status.
type HTTPError struct {
	Method     string
	Path       string
	StatusCode int
	// Message is the server's "error" text, or the body when it is not
	// JSON.
	Message string
}

// Error names the request, the status and the server's reason.
func (e *HTTPError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "(no error text)"
	}
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), msg)
}

// ExecOptions are the parameters of a write.
type ExecOptions struct {
	// Transaction makes the statements all-or-nothing.
	Transaction bool
	// Commit is the commit level (local, off, remote_write, ...); empty
	// leaves it to the server.
	Commit string
}

// QueryOptions are the parameters of a read.
type QueryOptions struct {
	// Transaction runs the statements in one read transaction.
	Transaction bool
	// Level is the read consistency level (weak, none, strong, ...); empty
	// leaves it to the server.
	Level string
}

// RequestOptions are the parameters of a mixed request.
type RequestOptions struct {
	Transaction bool
	Commit      string
	Level       string
}

// Client talks to one Tandem node. It is safe for concurrent use.
type Client struct {
	base     string // scheme://host[:port][/prefix], no trailing slash
	hc       *http.Client
	ownHC    bool
	maxConns int
	timeout  time.Duration
	user     string
	pass     string
	source   string // local IP to dial from, or ""
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send requests through hc instead of one
// of its own; WithMaxConns and WithTimeout then have no effect.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc, c.ownHC = hc, false }
}

// WithMaxConns sizes the keep-alive pool: at most n idle connections are
// kept to the node. Give it at least the number of concurrent callers, or
// connections are closed and reopened under load.
func WithMaxConns(n int) Option {
	return func(c *Client) { c.maxConns = n }
}

// WithTimeout bounds every request, including reading the response.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithSourceAddr makes the Client dial from the local IP ip (a node
// binding its outgoing connections to one interface).
func WithSourceAddr(ip string) Option {
	return func(c *Client) { c.source = ip }
}

// WithBasicAuth sends HTTP basic authentication with every request.
func WithBasicAuth(user, pass string) Option {
	return func(c *Client) { c.user, c.pass = user, pass }
}

// New returns a Client for the node at addr, which is "host:port" or a URL
// such as "https://host:port".
func New(addr string, opts ...Option) (*Client, error) {
	base, err := baseURL(addr)
	if err != nil {
		return nil, err
	}
	c := &Client{base: base, maxConns: DefaultMaxConns, ownHC: true}
	for _, o := range opts {
		o(c)
	}
	if c.ownHC {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = max(c.maxConns, 1)
		tr.MaxIdleConnsPerHost = max(c.maxConns, 1)
		if c.source != "" {
			d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.source)}}
			tr.DialContext = d.DialContext
		}
		c.hc = &http.Client{Transport: tr, Timeout: c.timeout}
	}
	return c, nil
}

func baseURL(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", fmt.Errorf("%w: empty; want host:port or http://host:port", ErrBadAddr)
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%w %q: want host:port or http(s)://host:port", ErrBadAddr, addr)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// URL returns the node's base URL, e.g. "http://127.0.0.1:4001".
func (c *Client) URL() string { return c.base }

// Close releases idle connections. The Client stays usable.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// Execute runs write statements through /db/execute. A failing statement
// is reported in its Result, not as an error; see ExecuteResponse.Err.
func (c *Client) Execute(ctx context.Context, stmts []Statement, opts ExecOptions) (*ExecuteResponse, error) {
	q := params{}.flag("transaction", opts.Transaction).set("commit", opts.Commit).String()
	var r ExecuteResponse
	body, err := c.post(ctx, "/db/execute", q, stmts)
	if err != nil {
		return nil, err
	}
	if err := decode(body, &r, func() []Result { return r.Results }); err != nil {
		return nil, fmt.Errorf("POST /db/execute: decode response: %w", err)
	}
	r.Raw = body
	return &r, nil
}

// Query runs read statements through POST /db/query.
func (c *Client) Query(ctx context.Context, stmts []Statement, opts QueryOptions) (*QueryResponse, error) {
	q := params{}.flag("transaction", opts.Transaction).set("level", opts.Level).String()
	var r QueryResponse
	body, err := c.post(ctx, "/db/query", q, stmts)
	if err != nil {
		return nil, err
	}
	if err := decode(body, &r, func() []Result { return r.Results }); err != nil {
		return nil, fmt.Errorf("POST /db/query: decode response: %w", err)
	}
	r.Raw = body
	return &r, nil
}

// Request runs a mix of reads and writes through /db/request.
func (c *Client) Request(ctx context.Context, stmts []Statement, opts RequestOptions) (*RequestResponse, error) {
	q := params{}.flag("transaction", opts.Transaction).set("commit", opts.Commit).set("level", opts.Level).String()
	var r RequestResponse
	body, err := c.post(ctx, "/db/request", q, stmts)
	if err != nil {
		return nil, err
	}
	if err := decode(body, &r, func() []Result { return r.Results }); err != nil {
		return nil, fmt.Errorf("POST /db/request: decode response: %w", err)
	}
	r.Raw = body
	return &r, nil
}

// Status returns the node's /status document.
func (c *Client) Status(ctx context.Context) (map[string]any, error) {
	body, err := c.do(ctx, http.MethodGet, "/status", "", nil)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("GET /status: decode response: %w", err)
	}
	return m, nil
}

// Ready returns nil when the node's /readyz says it is ready, and an
// *HTTPError with its reason otherwise.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/readyz", "", nil)
	return err
}

func (c *Client) post(ctx context.Context, path, query string, stmts []Statement) ([]byte, error) {
	if stmts == nil {
		stmts = []Statement{}
	}
	b, err := json.Marshal(stmts)
	if err != nil {
		return nil, fmt.Errorf("POST %s: encode statements: %w", path, err)
	}
	return c.do(ctx, http.MethodPost, path, query, b)
}

// do sends one request and returns the body of a 2xx response. The body is
// always read to the end so the connection goes back to the pool.
func (c *Client) do(ctx context.Context, method, path, query string, body []byte) ([]byte, error) {
	u := c.base + path
	if query != "" {
		u += "?" + query
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" || c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it would repeat the method and URL
		}
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &HTTPError{Method: method, Path: path, StatusCode: resp.StatusCode, Message: errorText(data)}
	}
	return data, nil
}

// errorText pulls the reason out of an error body: the "error" field of a
// JSON object, else the trimmed text.
func errorText(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return s
}

// params builds a query string in the API's form: flags appear bare
// ("transaction"), values are escaped ("commit=local").
type params []string

func (p params) flag(name string, on bool) params {
	if on {
		p = append(p, name)
	}
	return p
}

func (p params) set(name, value string) params {
	if value != "" {
		p = append(p, name+"="+url.QueryEscape(value))
	}
	return p
}

func (p params) String() string { return strings.Join(p, "&") }

// Promote asks a replica to become the primary (POST /admin/promote);
// without force the node only explains what could be lost and refuses.
func (c *Client) Promote(ctx context.Context, force bool) (string, error) {
	query := ""
	if force {
		query = "force=true"
	}
	body, err := c.do(ctx, http.MethodPost, "/admin/promote", query, nil)
	if err != nil {
		return "", err
	}
	var resp struct {
		Promoted string `json:"promoted"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return "", fmt.Errorf("promote: %w", err)
	}
	return resp.Promoted, nil
}
