package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tandem-db/tandem/command"
)

// handleExecute serves POST /db/execute: statements on the write path.
func (s *Service) handleExecute(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	stmts, ok := s.readStatements(w, r, bp)
	if !ok {
		return
	}
	s.execute(w, r, bp, p, stmts, start, false)
}

// handleQuery serves GET /db/query?q=SQL and POST /db/query: reads.
func (s *Service) handleQuery(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	var stmts []command.Statement
	if r.Method == http.MethodGet {
		if p.q == "" {
			writeError(w, http.StatusBadRequest, "missing query: use GET /db/query?q=SELECT... or POST a JSON array of statements")
			return
		}
		stmts = []command.Statement{{SQL: p.q}}
	} else {
		var ok bool
		if stmts, ok = s.readStatements(w, r, bp); !ok {
			return
		}
	}
	s.query(w, r, bp, p, stmts, start)
}

// handleRequest serves POST /db/request, rqlite's unified endpoint: reads
// and writes in one request. A request that only reads goes to Query; any
// write sends the whole request down the write path, where its reads
// return rows too.
func (s *Service) handleRequest(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	stmts, ok := s.readStatements(w, r, bp)
	if !ok {
		return
	}
	for i := range stmts {
		if !IsReadOnly(stmts[i].SQL) {
			s.execute(w, r, bp, p, stmts, start, p.assoc)
			return
		}
	}
	s.query(w, r, bp, p, stmts, start)
}

func (s *Service) execute(w http.ResponseWriter, r *http.Request, bp *[]byte, p params,
	stmts []command.Statement, start time.Time, rowsNull bool) {
	ctx, cancel := requestContext(r, p)
	defer cancel()
	res, err := s.store.Execute(ctx, &command.ExecuteRequest{Statements: stmts, Transaction: p.tx, Commit: p.commit})
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := response{seconds: time.Since(start).Seconds()}
	if res != nil {
		out.results, out.lsn, out.gtid, out.warning = res.Results, res.LSN, res.GTID, res.Warning
	}
	s.writeResponse(w, r, bp, p, &out, rowsNull)
}

func (s *Service) query(w http.ResponseWriter, r *http.Request, bp *[]byte, p params,
	stmts []command.Statement, start time.Time) {
	ctx, cancel := requestContext(r, p)
	defer cancel()
	results, err := s.store.Query(ctx, &command.QueryRequest{Statements: stmts, Transaction: p.tx, Level: p.level,
		MaxLag: p.maxLag, MinLSN: p.minLSN, MinLSNWait: p.timeout})
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := response{results: results, allRows: true, seconds: time.Since(start).Seconds()}
	s.writeResponse(w, r, bp, p, &out, false)
}

// requestContext bounds the request by ?timeout when given.
func requestContext(r *http.Request, p params) (context.Context, context.CancelFunc) {
	if p.timeout > 0 {
		return context.WithTimeout(r.Context(), p.timeout)
	}
	return r.Context(), func() {}
}

// writeResponse encodes out into the pooled buffer and sends it.
func (s *Service) writeResponse(w http.ResponseWriter, r *http.Request, bp *[]byte, p params, out *response, rowsNull bool) {
	e := encoder{b: (*bp)[:0], timings: p.timings, assoc: p.assoc, blobArray: p.blobArray, rowsNull: rowsNull}
	err := e.encode(out)
	*bp = e.b
	if err != nil {
		s.log.Error("encode http response", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	if p.pretty {
		pb := getBuf()
		defer putBuf(pb)
		*pb = indent(*pb, *bp)
		writeJSON(w, http.StatusOK, *pb)
		return
	}
	writeJSON(w, http.StatusOK, *bp)
}

// readStatements reads and parses the body, or answers the error itself.
// The body is read into *bp, which the caller reuses for the response: the
// statements hold copies, never pointers into it.
func (s *Service) readStatements(w http.ResponseWriter, r *http.Request, bp *[]byte) ([]command.Statement, bool) {
	body, err := readBody(r, *bp, s.cfg.MaxBodyBytes)
	*bp = body[:0]
	if err != nil {
		var tl *tooLargeError
		if errors.As(err, &tl) {
			writeError(w, http.StatusRequestEntityTooLarge, err.Error())
		} else {
			writeError(w, http.StatusBadRequest, err.Error())
		}
		return nil, false
	}
	stmts, err := ParseStatements(body, s.cfg.MaxStatements)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return stmts, true
}

// tooLargeError reports a body over Config.MaxBodyBytes. n is -1 when the
// size is unknown (no Content-Length).
type tooLargeError struct{ n, max int64 }

func (e *tooLargeError) Error() string {
	if e.n < 0 {
		return fmt.Sprintf("request body is over the limit of %d bytes (--max-request-size)", e.max)
	}
	return fmt.Sprintf("request body is %d bytes, over the limit of %d bytes (--max-request-size)", e.n, e.max)
}

// readBody reads the whole body into buf, refusing more than max bytes.
func readBody(r *http.Request, buf []byte, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return buf[:0], &tooLargeError{n: r.ContentLength, max: max}
	}
	buf = buf[:0]
	if r.Body == nil {
		return buf, nil
	}
	if n := r.ContentLength; n > 0 && int64(cap(buf)) <= n {
		buf = make([]byte, 0, n+1) // +1 to see EOF without growing
	}
	lr := io.LimitedReader{R: r.Body, N: max + 1}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf, fmt.Errorf("read request body: %w", err)
		}
	}
	if int64(len(buf)) > max {
		return buf, &tooLargeError{n: -1, max: max}
	}
	return buf, nil
}
