package bench

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tandem-db/tandem/client"
)

// JSON for the raw HTTP client: request bodies built by appending, and a
// small scanner that checks a response without decoding it. Whatever the
// scanner does not recognise as plain success (a statement error, an odd
// shape) is decoded with encoding/json, which decides and supplies the
// error message, so the raw client judges a response as the client package
// does.

// The workload statements' SQL as JSON strings.
var (
	jsonCreateSQL      = appendJSONString(nil, createSQL)
	jsonInsertSQL      = appendJSONString(nil, insertSQL)
	jsonInsertIDSQL    = appendJSONString(nil, insertIDSQL)
	jsonPointSelectSQL = appendJSONString(nil, pointSelectSQL)
	jsonCountIDsSQL    = appendJSONString(nil, countIDsSQL)
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Like encoding/json it
// escapes '"', '\\', control characters, U+2028 and U+2029, and writes
// invalid UTF-8 as U+FFFD; unlike it, it leaves '<', '>' and '&' alone.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendInsertBody appends the statement list that inserts rows, as the
// client package would encode it.
func appendInsertBody(b []byte, rows []Row) []byte {
	b = append(b, '[')
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		if r.ID != 0 {
			b = append(b, jsonInsertIDSQL...)
			b = append(b, ',')
			b = strconv.AppendInt(b, r.ID, 10)
		} else {
			b = append(b, jsonInsertSQL...)
		}
		b = append(b, ',')
		b = appendJSONString(b, r.K)
		b = append(b, ',')
		b = appendJSONString(b, r.V)
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendIntStmt appends [[sql,n]]: one statement with one integer argument.
func appendIntStmt(b, sql []byte, n int64) []byte {
	b = append(b, '[', '[')
	b = append(b, sql...)
	b = append(b, ',')
	b = strconv.AppendInt(b, n, 10)
	return append(b, ']', ']')
}

// scanResults walks a response body of the form
// {"results":[{...},...],...} and reports how many results it holds, how
// many rows the first one has in "values", and whether there is an "error"
// key at the top level or in a result. ok is false when the body is not of
// that form; the caller then decodes it properly. The walk checks the
// structure (brackets, separators, strings), not the spelling of numbers
// and literals.
func scanResults(b []byte) (results, rows int, hasError, ok bool) {
	s := scanner{b: b}
	if !s.enter('{') {
		return
	}
	seen := false
	for first := true; s.next('}', &first); {
		switch s.key() {
		case keyError:
			hasError = true
			s.skip()
		case keyResults:
			if seen || !s.enter('[') {
				return
			}
			seen = true
			for first := true; s.next(']', &first); {
				n, errKey := s.result()
				if results == 0 {
					rows = n
				}
				results++
				hasError = hasError || errKey
			}
		default:
			s.skip()
		}
	}
	s.ws()
	return results, rows, hasError, seen && !s.bad && s.i == len(b)
}

// The keys the scan looks for.
const (
	keyOther = iota
	keyError
	keyResults
	keyValues
)

// scanner is a cursor over a JSON text. Once bad is set every method does
// nothing and reports failure.
type scanner struct {
	b   []byte
	i   int
	bad bool
}

func (s *scanner) fail() bool {
	s.bad = true
	return false
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.bad || s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// enter consumes the opening c of an object or array.
func (s *scanner) enter(c byte) bool {
	if s.peek() != c {
		return s.fail()
	}
	s.i++
	return true
}

// next reports whether the container closed by close has another element,
// consuming the comma before it (none before the first) or else the
// closing byte.
func (s *scanner) next(close byte, first *bool) bool {
	switch c := s.peek(); {
	case s.bad:
		return false
	case c == close:
		s.i++
		return false
	case *first:
		*first = false
		return true
	case c == ',':
		s.i++
		return true
	}
	return s.fail()
}

// key reads an object key and the colon after it.
func (s *scanner) key() int {
	if s.peek() != '"' {
		s.fail()
		return keyOther
	}
	start := s.i + 1
	if !s.str() {
		return keyOther
	}
	raw := s.b[start : s.i-1]
	if s.peek() != ':' {
		s.fail()
		return keyOther
	}
	s.i++
	switch string(raw) { // compared in place, no allocation
	case "error":
		return keyError
	case "results":
		return keyResults
	case "values":
		return keyValues
	}
	return keyOther // a key the scan ignores, or one spelled with escapes
}

// str consumes the string at s.i.
func (s *scanner) str() bool {
	for i := s.i + 1; i < len(s.b); i++ {
		switch s.b[i] {
		case '\\':
			i++
		case '"':
			s.i = i + 1
			return true
		}
	}
	return s.fail()
}

// skip consumes one value of any kind.
func (s *scanner) skip() bool {
	switch s.peek() {
	case 0:
		return s.fail()
	case '"':
		return s.str()
	case '[', '{':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if !s.str() {
					return false
				}
				continue
			case '[', '{':
				depth++
			case ']', '}':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return s.fail()
	case ']', '}', ',', ':':
		return s.fail()
	default: // number, true, false, null
		for ; s.i < len(s.b); s.i++ {
			switch s.b[s.i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return true
			}
		}
		return true
	}
}

// result consumes one element of "results", an object, counting the rows
// of its "values" and noting an "error" key.
func (s *scanner) result() (rows int, hasError bool) {
	if !s.enter('{') {
		return
	}
	for first := true; s.next('}', &first); {
		switch s.key() {
		case keyError:
			hasError = true
			s.skip()
		case keyValues:
			if !s.enter('[') {
				return // null or another shape: let the decoder judge
			}
			for first := true; s.next(']', &first); {
				if c := s.peek(); c != '[' && c != 'n' { // a row is an array or null
					s.fail()
					return
				}
				s.skip()
				rows++
			}
		default:
			s.skip()
		}
	}
	return rows, hasError
}

// slowResponse is what the slow path decodes: the client package's view of
// a response, reduced to what the bench checks.
type slowResponse struct {
	Error   string `json:"error"`
	Results []struct {
		Error  string              `json:"error"`
		Values [][]json.RawMessage `json:"values"`
	} `json:"results"`
}

// checkResponse judges the response to a request to path ("/db/execute",
// "/db/query"): a status other than 200 is an *client.HTTPError, a failed
// statement a *client.StatementError, and when wantRow is set a response
// without exactly one result of exactly one row is ErrNoRow.
func checkResponse(path string, status int, body []byte, wantRow bool) error {
	if status != 200 {
		return &client.HTTPError{Method: "POST", Path: path, StatusCode: status, Message: errorText(body)}
	}
	results, rows, hasError, ok := scanResults(body)
	if ok && !hasError {
		if wantRow && (results != 1 || rows != 1) {
			return ErrNoRow
		}
		return nil
	}
	var r slowResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("POST %s: decode response: %w", path, err)
	}
	if r.Error != "" {
		return fmt.Errorf("POST %s: %s", path, r.Error)
	}
	for i, res := range r.Results {
		if res.Error != "" {
			return &client.StatementError{Index: i, Message: res.Error}
		}
	}
	if wantRow && (len(r.Results) != 1 || len(r.Results[0].Values) != 1) {
		return ErrNoRow
	}
	return nil
}

// errorText pulls the reason out of an error body, as the client package
// does: the "error" field of a JSON object, else the trimmed text.
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
