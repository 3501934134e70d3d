package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-db/tandem/client"
)

// writeReply is the canned response to a single-row insert.
const writeReply = `{"results":[{"last_insert_id":1,"rows_affected":1}],"lsn":"0/00000001","gtid":"3f1c2b9e-8a4d-4e71-9b2a-5c6d7e8f9a0b:1"}`

// cannedNode starts a server that answers every request with handler and
// counts the connections it accepts.
func cannedNode(t testing.TB, handler http.HandlerFunc) (url string, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, conns
}

func newTarget(t testing.TB, url, hc string, clients int) *HTTPTarget {
	t.Helper()
	h, err := NewHTTPTarget(url, clients)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.useRaw = hc == HTTPClientRaw
	return h
}

func insertCfg(hc string, clients int, count int64) Config {
	return Config{Workload: Insert, Clients: clients, Count: count, Seed: 1, HTTPClient: hc}
}

// TestHTTPTarget_sameRequests checks that the raw client sends what the
// client package sends: the same paths, query strings and statements.
func TestHTTPTarget_sameRequests(t *testing.T) {
	type req struct{ target, body string }
	var (
		mu   sync.Mutex
		seen []req
	)
	url, _ := cannedNode(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, req{r.URL.RequestURI(), string(b)})
		mu.Unlock()
		if r.URL.Path == "/db/query" {
			io.WriteString(w, `{"results":[{"columns":["k"],"types":["integer"],"values":[[7]]}]}`)
			return
		}
		io.WriteString(w, writeReply)
	})
	ctx := context.Background()
	rows := []Row{{K: "key\"\\\n\u2028é", V: "v<&>\x01"}, {ID: 42, K: "k", V: "v"}}
	var got [2][]req
	for i, hc := range []string{HTTPClientRaw, HTTPClientStd} {
		h := newTarget(t, url, hc, 1)
		cfg := Config{Workload: PointSelect, Clients: 1, Count: 1, Rows: 1, Commit: "remote apply&x", Level: "strong", HTTPClient: hc}
		if err := h.Setup(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := h.CountIDs(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if err := h.Insert(ctx, rows); err != nil {
			t.Fatal(err)
		}
		if err := h.Insert(ctx, rows[:1]); err != nil {
			t.Fatal(err)
		}
		if err := h.PointSelect(ctx, 7); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got[i], seen = seen, nil
		mu.Unlock()
	}
	raw, std := got[0], got[1]
	if len(raw) != len(std) || len(raw) != 5 {
		t.Fatalf("raw sent %d requests, std %d; want 5 each", len(raw), len(std))
	}
	for i := range raw {
		if raw[i].target != std[i].target {
			t.Errorf("request %d: raw target %q, std %q", i, raw[i].target, std[i].target)
		}
		var a, b any
		if err := json.Unmarshal([]byte(raw[i].body), &a); err != nil {
			t.Errorf("request %d: raw body %q: %v", i, raw[i].body, err)
		}
		json.Unmarshal([]byte(std[i].body), &b)
		if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
			t.Errorf("request %d: raw body %s, std %s", i, ja, jb)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHTTPTarget_chunked reads responses the server sends chunked: a body
// larger than net/http's buffer, flushed as it goes.
func TestHTTPTarget_chunked(t *testing.T) {
	big := strings.Repeat("x", 100<<10)
	var reply atomic.Value // the response shape: "row", "rows", "error"
	url, _ := cannedNode(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		var parts []string
		switch reply.Load() {
		case "row":
			parts = []string{`{"results":[{"columns":["k","v"],"types":["text","text"],"values":[["k","`, big, `"]]}],"time":0.1}`}
		case "rows":
			parts = []string{`{"results":[{"columns":["k","v"],"values":[["k","`, big, `"],["k","`, big, `"]]}]}`}
		case "error":
			parts = []string{`{"results":[{"error":"`, big, ` no such table: bench"}]}`}
		}
		for _, p := range parts {
			for len(p) > 0 {
				n := min(len(p), 7000)
				io.WriteString(w, p[:n])
				w.(http.Flusher).Flush()
				p = p[n:]
			}
		}
		if len(w.Header().Values("Transfer-Encoding")) != 0 || w.Header().Get("Content-Length") != "" {
			t.Errorf("response headers %v: want neither Content-Length nor an explicit Transfer-Encoding", w.Header())
		}
	})
	h := newTarget(t, url, HTTPClientRaw, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ { // on one connection
		reply.Store("row")
		if err := h.PointSelect(ctx, 1); err != nil {
			t.Fatalf("one row: %v", err)
		}
		reply.Store("rows")
		if err := h.PointSelect(ctx, 1); !errors.Is(err, ErrNoRow) {
			t.Fatalf("two rows: error %v, want ErrNoRow", err)
		}
		reply.Store("error")
		var se *client.StatementError
		if err := h.Insert(ctx, []Row{{K: "k", V: "v"}}); !errors.As(err, &se) || !strings.HasSuffix(se.Message, " no such table: bench") {
			t.Fatalf("statement error: got %v, want a *client.StatementError", err)
		}
	}
	if n := len(h.raw.idle); n != 1 {
		t.Errorf("idle connections = %d, want 1 (every response read to its end)", n)
	}
}

// TestHTTPTarget_errors checks that statement errors and error statuses are
// counted errors, with the same messages from both clients.
func TestHTTPTarget_errors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"statement", 200, `{"results":[{"error":"UNIQUE constraint failed: bench.id"}]}`, "statement 1: UNIQUE constraint failed: bench.id"},
		{"second statement", 200, `{"results":[{"rows_affected":1},{"error":"disk I/O error"}]}`, "statement 2: disk I/O error"},
		{"unavailable", 503, `{"error":"not ready: replaying the log"}`, "POST /db/execute: HTTP 503 Service Unavailable: not ready: replaying the log"},
		{"plain text", 500, "boom\n", "POST /db/execute: HTTP 500 Internal Server Error: boom"},
		{"bad json", 200, `{"results":[{"rows_affected":1}`, "decode response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := cannedNode(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			var msgs []string
			for _, hc := range []string{HTTPClientRaw, HTTPClientStd} {
				h := newTarget(t, url, hc, 2)
				rep := measure(context.Background(), insertCfg(hc, 2, 20), h)
				if rep.Errors != 20 || rep.Transactions != 0 {
					t.Errorf("%s: transactions, errors = %d, %d; want 0, 20", hc, rep.Transactions, rep.Errors)
				}
				if len(rep.ErrorSamples) != 1 || !strings.Contains(rep.ErrorSamples[0], tc.want) {
					t.Errorf("%s: error samples %q, want one containing %q", hc, rep.ErrorSamples, tc.want)
				}
				msgs = append(msgs, strings.Join(rep.ErrorSamples, "|"))
				err := h.Insert(context.Background(), []Row{{K: "k", V: "v"}})
				var he *client.HTTPError
				if tc.status != 200 && (!errors.As(err, &he) || he.StatusCode != tc.status) {
					t.Errorf("%s: error %v, want a *client.HTTPError with status %d", hc, err, tc.status)
				}
			}
			if tc.name != "bad json" && msgs[0] != msgs[1] {
				t.Errorf("raw error %q, std error %q: want the same", msgs[0], msgs[1])
			}
		})
	}
}

// TestHTTPTarget_connectionClose checks that a server closing the
// connection after each response, as it said it would, costs no errors:
// the next operation dials again.
func TestHTTPTarget_connectionClose(t *testing.T) {
	url, conns := cannedNode(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Connection", "close")
		io.WriteString(w, writeReply)
	})
	h := newTarget(t, url, HTTPClientRaw, 2)
	rep := measure(context.Background(), insertCfg(HTTPClientRaw, 2, 30), h)
	if rep.Transactions != 30 || rep.Errors != 0 {
		t.Errorf("transactions, errors = %d, %d (%q); want 30, 0", rep.Transactions, rep.Errors, rep.ErrorSamples)
	}
	if n := conns.Load(); n != 30 {
		t.Errorf("connections = %d, want 30 (one per request)", n)
	}
}

// TestHTTPTarget_brokenConnection checks that a connection the server drops
// without a word fails the next operation, which is counted, and that the
// operation after it reconnects.
func TestHTTPTarget_brokenConnection(t *testing.T) {
	url, conns := cannedNode(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		nc, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(writeReply)) + "\r\n\r\n" + writeReply)
		bw.Flush()
		nc.Close()
	})
	h := newTarget(t, url, HTTPClientRaw, 1)
	rep := measure(context.Background(), insertCfg(HTTPClientRaw, 1, 10), h)
	if rep.Transactions != 5 || rep.Errors != 5 {
		t.Errorf("transactions, errors = %d, %d; want 5, 5 (every other operation finds the connection dropped)", rep.Transactions, rep.Errors)
	}
	if len(rep.ErrorSamples) == 0 || !strings.HasPrefix(rep.ErrorSamples[0], "POST "+url+"/db/execute: ") {
		t.Errorf("error samples %q, want POST %s/db/execute: ...", rep.ErrorSamples, url)
	}
	if n := conns.Load(); n != 5 {
		t.Errorf("connections = %d, want 5", n)
	}
}

// TestHTTPTarget_context checks that the end of a context cuts off a
// request in flight, and that a connection used under an ended context is
// not reused with a poisoned deadline.
func TestHTTPTarget_context(t *testing.T) {
	release := make(chan struct{})
	var stall atomic.Bool
	url, conns := cannedNode(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if stall.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, writeReply)
	})
	t.Cleanup(func() { close(release) })
	h := newTarget(t, url, HTTPClientRaw, 1)
	row := []Row{{K: "k", V: "v"}}

	// A request that succeeds under a context that ends afterwards.
	ctx1, cancel1 := context.WithCancel(context.Background())
	if err := h.Insert(ctx1, row); err != nil {
		t.Fatal(err)
	}
	cancel1()
	time.Sleep(10 * time.Millisecond) // let the AfterFunc run
	if err := h.Insert(context.Background(), row); err != nil {
		t.Fatalf("after the first context ended: %v", err)
	}
	if err := h.Insert(context.Background(), row); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("connections = %d, want 2 (the one cut off by ctx1 replaced once)", n)
	}

	// A request that stalls until its context ends.
	stall.Store(true)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	start := time.Now()
	err := h.Insert(ctx2, row)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stalled insert: error %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stalled insert returned after %v, want about 50ms", d)
	}
	stall.Store(false)
	if err := h.Insert(context.Background(), row); err != nil {
		t.Fatalf("after the stalled insert: %v", err)
	}
}

// exchange sends one request to a server that answers with reply and then
// closes the connection, and returns what the raw client read.
func exchange(t *testing.T, reply string) (status int, body string, closing bool, err error) {
	t.Helper()
	ln, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		req, err := http.ReadRequest(bufio.NewReader(nc))
		if err != nil {
			t.Errorf("server: %v", err)
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(nc, reply)
	}()
	defer func() { ln.Close(); <-done }()
	p, perr := newRawClient("http://"+ln.Addr().String(), 1)
	if perr != nil {
		t.Fatal(perr)
	}
	c, derr := p.get(context.Background())
	if derr != nil {
		t.Fatal(derr)
	}
	defer c.close()
	c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	c.body = append(c.body[:0], "[]"...)
	st, b, err := c.roundTrip(p.host, "/db/execute")
	return st, string(b), c.broken, err
}

func TestRawConn_responses(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		status      int
		body        string
		closing     bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", false},
		{"lower case", "HTTP/1.1 200 OK\r\ncontent-length:  5 \r\nconnection: keep-alive\r\n\r\nhello", 200, "hello", false},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n{}", 200, "{}", false},
		{"repeated length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 200, "{}", false},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\n{}", 200, "{}", false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n", 200, "hello0123456789", false},
		{"chunked over length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", 200, "ab", false},
		{"empty chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200, "", false},
		{"interim", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", 201, "x", false},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", 204, "", false},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 1\r\n\r\nx", 200, "x", true},
		{"until EOF", "HTTP/1.1 200 OK\r\n\r\nto the end", 200, "to the end", true},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, "x", true},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 200, "x", false},
		{"status", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}", 503, "{}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, closing, err := exchange(t, tc.reply)
			if err != nil || status != tc.status || body != tc.body || closing != tc.closing {
				t.Errorf("got %d %q closing=%v err=%v; want %d %q closing=%v", status, body, closing, err, tc.status, tc.body, tc.closing)
			}
		})
	}
}

func TestRawConn_malformed(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		want        error
	}{
		{"status", "HTTP/1.1 2x0 OK\r\n\r\n", errMalformed},
		{"protocol", "HTTP/2 200 OK\r\n\r\n", errMalformed},
		{"header", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", errMalformed},
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", errMalformed},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", errMalformed},
		{"coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", errMalformed},
		{"chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", errMalformed},
		{"chunk end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", errMalformed},
		{"switching", "HTTP/1.1 101 Switching Protocols\r\n\r\n", errMalformed},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", io.ErrUnexpectedEOF},
		{"short chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", io.ErrUnexpectedEOF},
		{"short headers", "HTTP/1.1 200 OK\r\nContent-Len", io.ErrUnexpectedEOF},
		{"nothing", "", io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _, err := exchange(t, tc.reply)
			if !errors.Is(err, tc.want) {
				t.Errorf("got %d %q err=%v; want error %v", status, body, err, tc.want)
			}
		})
	}
}

func TestScanResults(t *testing.T) {
	for _, tc := range []struct {
		body          string
		results, rows int
		hasError, ok  bool
	}{
		{writeReply, 1, 0, false, true},
		{`{"results":[{}]}`, 1, 0, false, true},
		{` { "results" : [ { "values" : [ [ 1 , "a" ] ] } ] , "time" : 1e-3 } ` + "\n", 1, 1, false, true},
		{`{"results":[{"columns":["k","v"],"types":["text","text"],"values":[["a\"],[\\","\"error\":"]]}]}`, 1, 1, false, true},
		{`{"results":[{"values":[["a"],["b"],null]}]}`, 1, 3, false, true},
		{`{"results":[{"values":[]},{"values":[[1]]}]}`, 2, 0, false, true},
		{`{"results":[{"columns":{"error":1},"values":[[{"x":[1,{}]}]]}]}`, 1, 1, false, true},
		{`{"results":[{"error":"boom"}]}`, 1, 0, true, true},
		{`{"results":[{"rows_affected":1},{"error":"boom"}]}`, 2, 0, true, true},
		{`{"error":"boom"}`, 0, 0, true, false},
		{`{"results":[]}`, 0, 0, false, true},
		{`{"results":[{"values":[1]}]}`, 1, 0, false, false},
		{`{"results":[{"values":null}]}`, 1, 0, false, false},
		{`{"results":[{"rows_affected":1}]`, 1, 0, false, false},
		{`{"results":[{"rows_affected":1}]}}`, 1, 0, false, false},
		{`{"results":[{"rows_affected":1} {}]}`, 1, 0, false, false},
		{`{"results":[{"a":"unterminated}]}`, 0, 0, false, false},
		{`[]`, 0, 0, false, false},
		{``, 0, 0, false, false},
		{`{"lsn":"0/1"}`, 0, 0, false, false},
	} {
		results, rows, hasError, ok := scanResults([]byte(tc.body))
		if ok != tc.ok || (ok && (results != tc.results || rows != tc.rows || hasError != tc.hasError)) {
			t.Errorf("scanResults(%s) = %d, %d, %v, %v; want %d, %d, %v, %v", tc.body, results, rows, hasError, ok, tc.results, tc.rows, tc.hasError, tc.ok)
		}
	}
}

// TestCheckResponse checks the raw client's verdicts against the client
// package's view of the same bodies.
func TestCheckResponse(t *testing.T) {
	for _, tc := range []struct {
		body string
		want error // for a point-select
	}{
		{`{"results":[{"columns":["k","v"],"values":[["a","b"]]}]}`, nil},
		{`{"results":[{"columns":["k","v"],"values":[["error","\"error\":"]]}]}`, nil},
		{`{"results":[{"columns":["k","v"]}]}`, ErrNoRow},
		{`{"results":[{"columns":["k","v"],"values":[["a","b"],["c","d"]]}]}`, ErrNoRow},
		{`{"results":[{"values":[["a"]]},{"values":[["b"]]}]}`, ErrNoRow},
		{`{"results":[{"values":null}]}`, ErrNoRow},
		{`{"results":[{"values":[null]}]}`, nil},
		{`{"results":[{"error":"no such table: bench"}]}`, &client.StatementError{Message: "no such table: bench"}},
	} {
		err := checkResponse("/db/query", 200, []byte(tc.body), true)
		if (err == nil) != (tc.want == nil) || (err != nil && err.Error() != tc.want.Error()) {
			t.Errorf("checkResponse(%s) = %v, want %v", tc.body, err, tc.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	cases := []string{"", "abc", `"\`, "\x00\x01\x1f\x7f", "\n\r\t\b\f", "é漢字🙂", "\u2028\u2029", "\xff\xfe", "a\xc3", "<&>", "\xed\xa0\x80"}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rnd.IntN(20))
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		checkJSONString(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "abc", "\"\\\x00\u2028\xff"} {
		f.Add(s)
	}
	f.Fuzz(checkJSONString)
}

// checkJSONString checks that appendJSONString(s) is valid JSON that
// decodes to what encoding/json's encoding of s decodes to.
func checkJSONString(t *testing.T, s string) {
	got := appendJSONString([]byte("x"), s)[1:]
	var a, b string
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("appendJSONString(%q) = %s: %v", s, got, err)
	}
	want, _ := json.Marshal(s)
	json.Unmarshal(want, &b)
	if a != b {
		t.Fatalf("appendJSONString(%q) = %s decodes to %q; encoding/json gives %s, %q", s, got, a, want, b)
	}
}

// bareNode starts a minimal HTTP/1.1 server that answers every request
// with reply and does little else, so that benchmarks against it measure
// mostly the client.
func bareNode(tb testing.TB, reply string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(reply)) + "\r\n\r\n" + reply)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() {
				br := bufio.NewReader(nc)
				for {
					n := -1
					for { // headers
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
						if v, ok := strings.CutPrefix(string(line), "Content-Length: "); ok {
							n, _ = strconv.Atoi(strings.TrimSpace(v))
						}
					}
					if _, err := br.Discard(n); err != nil {
						return
					}
					if _, err := nc.Write(resp); err != nil {
						return
					}
				}
			})
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// BenchmarkHTTPTarget_Insert compares the clients on single-row inserts
// against servers that answer with a canned write response: an httptest
// (net/http) server, whose share of the figures is the same for both
// clients, and a bare one that costs little, so that its figures are
// mostly the client's.
func BenchmarkHTTPTarget_Insert(b *testing.B) {
	nethttp, _ := cannedNode(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, writeReply)
	})
	bare := bareNode(b, writeReply)
	rnd := rand.New(rand.NewPCG(1, 1))
	rows := []Row{NewRow(rnd)}
	for _, srv := range []struct{ name, url string }{{"httptest", nethttp}, {"bare", bare}} {
		for _, hc := range []string{HTTPClientRaw, HTTPClientStd} {
			b.Run(srv.name+"/"+hc, func(b *testing.B) {
				h := newTarget(b, srv.url, hc, 1)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if err := h.Insert(ctx, rows); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
