package httpapi

import (
	"fmt"
	"strconv"

	"github.com/tandem-db/tandem/command"
)

// ParseStatements decodes a request body in rqlite's statement format: a JSON
// array whose items are either an SQL string, or an array holding the SQL
// string followed by its parameters. A parameter that is a JSON object binds
// named parameters (keys with or without the leading ':', '@' or '$'); any
// other parameter binds the next positional one. One statement cannot mix
// the two.
//
// Values become SQLite storage classes: integers int64, other numbers
// float64, strings string, null nil, and true/false int64 1/0. Arrays and
// nested objects are refused, as rqlite refuses them.
//
// At most max statements are accepted; max <= 0 means no limit. Errors wrap
// ErrInvalidJSON (with the byte offset), ErrInvalidRequest, ErrNoStatements
// or ErrTooManyStatements.
func ParseStatements(body []byte, max int) ([]command.Statement, error) {
	p := parser{b: body}
	p.ws()
	if p.eof() {
		return nil, fmt.Errorf("%w: the body is empty: send a JSON array of statements", ErrNoStatements)
	}
	if p.b[p.pos] != '[' {
		return nil, fmt.Errorf("%w: the body must be a JSON array of statements, e.g. [\"SELECT 1\"]", ErrInvalidRequest)
	}
	p.pos++
	var stmts []command.Statement
	p.ws()
	if p.peek() == ']' {
		p.pos++
	} else {
		for {
			p.ws()
			if max > 0 && len(stmts) == max {
				return nil, fmt.Errorf("%w: the request has more than %d statements, the limit (--max-statements): split it",
					ErrTooManyStatements, max)
			}
			st, err := p.statement(len(stmts))
			if err != nil {
				return nil, err
			}
			stmts = append(stmts, st)
			more, err := p.next(']', "statement")
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
		}
	}
	p.ws()
	if !p.eof() {
		return nil, p.syntax("unexpected data after the statement array")
	}
	if len(stmts) == 0 {
		return nil, fmt.Errorf("%w: the statement array is empty", ErrNoStatements)
	}
	return stmts, nil
}

// statement parses one item of the top-level array.
func (p *parser) statement(idx int) (command.Statement, error) {
	switch p.peek() {
	case '"':
		sql, err := p.str()
		return command.Statement{SQL: sql}, err
	case '[':
	default:
		k, err := p.kind()
		if err != nil {
			return command.Statement{}, err
		}
		return command.Statement{}, fmt.Errorf("%w: statement at index %d is a JSON %s: want an SQL string or an array [\"SQL\", params...]",
			ErrInvalidRequest, idx, k)
	}
	p.pos++
	p.ws()
	if p.peek() != '"' {
		if p.peek() == ']' {
			return command.Statement{}, fmt.Errorf("%w: statement at index %d is an empty array: its first item must be the SQL string",
				ErrInvalidRequest, idx)
		}
		k, err := p.kind()
		if err != nil {
			return command.Statement{}, err
		}
		return command.Statement{}, fmt.Errorf("%w: statement at index %d starts with a JSON %s: its first item must be the SQL string",
			ErrInvalidRequest, idx, k)
	}
	sql, err := p.str()
	if err != nil {
		return command.Statement{}, err
	}
	st := command.Statement{SQL: sql}
	for n := 1; ; n++ {
		more, err := p.next(']', "parameter")
		if err != nil || !more {
			return st, err
		}
		p.ws()
		if p.peek() == '{' {
			if st.Args != nil {
				return st, mixErr(idx)
			}
			if err := p.named(idx, &st); err != nil {
				return st, err
			}
			continue
		}
		if st.Named != nil {
			return st, mixErr(idx)
		}
		v, err := p.value(idx, n)
		if err != nil {
			return st, err
		}
		st.Args = append(st.Args, v)
	}
}

func mixErr(idx int) error {
	return fmt.Errorf("%w: statement at index %d mixes positional and named parameters: use one kind", ErrInvalidRequest, idx)
}

// named parses a JSON object of named parameters into st.Named.
func (p *parser) named(idx int, st *command.Statement) error {
	p.pos++ // '{'
	p.ws()
	if p.peek() == '}' {
		p.pos++
		return nil
	}
	for {
		p.ws()
		if p.peek() != '"' {
			return p.syntax("expected a parameter name in double quotes")
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		p.ws()
		if p.peek() != ':' {
			return p.syntax("expected ':' after a parameter name")
		}
		p.pos++
		p.ws()
		name := key
		if name != "" && (name[0] == ':' || name[0] == '@' || name[0] == '$') {
			name = name[1:]
		}
		if name == "" {
			return fmt.Errorf("%w: statement at index %d has an empty parameter name", ErrInvalidRequest, idx)
		}
		v, err := p.value(idx, -1)
		if err != nil {
			return fmt.Errorf("%w (parameter %q)", err, key)
		}
		if st.Named == nil {
			st.Named = make(map[string]any)
		}
		st.Named[name] = v
		more, err := p.next('}', "named parameter")
		if err != nil || !more {
			return err
		}
	}
}

// value parses one scalar parameter value. n is the parameter's position
// (1-based, after the SQL) or -1 for a named one.
func (p *parser) value(idx, n int) (any, error) {
	switch c := p.peek(); {
	case c == '"':
		return p.str()
	case c == 'n':
		return nil, p.literal("null")
	case c == 't':
		return int64(1), p.literal("true")
	case c == 'f':
		return int64(0), p.literal("false")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(idx, n)
	case c == '[' || c == '{':
		k, _ := p.kind()
		return nil, fmt.Errorf("%w: %s is a JSON %s: a value must be a string, number, boolean or null "+
			"(rqlite has no BLOB parameters: bind a hex string and use unhex(?), or write X'...' in the SQL)",
			ErrInvalidRequest, where(idx, n), k)
	default:
		return nil, p.syntax("expected a value")
	}
}

// number parses a JSON number: int64 when it is an integer that fits, else
// float64, as rqlite does.
func (p *parser) number(idx, n int) (any, error) {
	start := p.pos
	isInt := true
	if p.peek() == '-' {
		p.pos++
	}
	switch c := p.peek(); {
	case c == '0':
		p.pos++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return nil, p.syntax("expected a digit")
	}
	if p.peek() == '.' {
		isInt = false
		p.pos++
		if !isDigit(p.peek()) {
			return nil, p.syntax("expected a digit after the decimal point")
		}
		p.digits()
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		isInt = false
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if !isDigit(p.peek()) {
			return nil, p.syntax("expected a digit in the exponent")
		}
		p.digits()
	}
	s := string(p.b[start:p.pos])
	if isInt {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: number %s is out of range", ErrInvalidRequest, where(idx, n), s)
	}
	return f, nil
}

// where names a parameter in an error message.
func where(idx, n int) string {
	if n < 0 {
		return fmt.Sprintf("statement at index %d", idx)
	}
	return fmt.Sprintf("statement at index %d, parameter %d", idx, n)
}

func (p *parser) digits() {
	for isDigit(p.peek()) {
		p.pos++
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *parser) literal(word string) error {
	if len(p.b)-p.pos < len(word) || string(p.b[p.pos:p.pos+len(word)]) != word {
		return p.syntax("invalid literal, expected " + word)
	}
	p.pos += len(word)
	return nil
}
