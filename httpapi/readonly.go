package httpapi

import "strings"

// IsReadOnly reports whether sql only reads, so /db/request can serve it
// from a read connection. It looks at keywords only, after whitespace and
// comments, and errs towards false: a false answer just sends the statement
// down the write path, which can also return rows.
//
// Every statement in sql (split at ';') must be one of: SELECT, VALUES,
// EXPLAIN; WITH with no INSERT, UPDATE, DELETE or REPLACE keyword outside
// literals (replace(...) the function is fine); PRAGMA with no '='.
func IsReadOnly(sql string) bool {
	l := sqlLexer{s: sql}
	seen := false
	for {
		tok, text := l.next()
		switch tok {
		case tokEOF:
			return seen
		case tokSemi:
			continue
		case tokWord:
		default:
			return false
		}
		seen = true
		var ok bool
		switch {
		case strings.EqualFold(text, "SELECT"), strings.EqualFold(text, "VALUES"), strings.EqualFold(text, "EXPLAIN"):
			ok = l.skipStatement(func(sqlToken, string) bool { return true })
		case strings.EqualFold(text, "WITH"):
			ok = l.skipStatement(func(t sqlToken, w string) bool {
				if t != tokWord {
					return true
				}
				if strings.EqualFold(w, "INSERT") || strings.EqualFold(w, "UPDATE") || strings.EqualFold(w, "DELETE") {
					return false
				}
				return !strings.EqualFold(w, "REPLACE") || l.peekByte() == '('
			})
		case strings.EqualFold(text, "PRAGMA"):
			ok = l.skipStatement(func(t sqlToken, _ string) bool { return t != tokEquals })
		}
		if !ok {
			return false
		}
	}
}

type sqlToken uint8

const (
	tokEOF    sqlToken = iota
	tokWord            // keyword or bare identifier
	tokSemi            // ;
	tokEquals          // =
	tokOther           // literal, quoted identifier, number, punctuation
)

// sqlLexer splits SQL into just the tokens IsReadOnly needs.
type sqlLexer struct {
	s   string
	pos int
}

// skipStatement consumes tokens up to the next ';' or the end, and reports
// false as soon as ok rejects one.
func (l *sqlLexer) skipStatement(ok func(sqlToken, string) bool) bool {
	for {
		tok, text := l.next()
		if tok == tokEOF || tok == tokSemi {
			return true
		}
		if !ok(tok, text) {
			return false
		}
	}
}

// peekByte returns the next byte after whitespace and comments, or 0.
func (l *sqlLexer) peekByte() byte {
	save := l.pos
	l.skipSpace()
	var c byte
	if l.pos < len(l.s) {
		c = l.s[l.pos]
	}
	l.pos = save
	return c
}

func (l *sqlLexer) skipSpace() {
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
		case c == '-' && strings.HasPrefix(l.s[l.pos:], "--"):
			if i := strings.IndexByte(l.s[l.pos:], '\n'); i >= 0 {
				l.pos += i + 1
			} else {
				l.pos = len(l.s)
			}
		case c == '/' && strings.HasPrefix(l.s[l.pos:], "/*"):
			if i := strings.Index(l.s[l.pos+2:], "*/"); i >= 0 {
				l.pos += 2 + i + 2
			} else {
				l.pos = len(l.s) // SQLite allows an unterminated comment at the end
			}
		default:
			return
		}
	}
}

func (l *sqlLexer) next() (sqlToken, string) {
	l.skipSpace()
	if l.pos >= len(l.s) {
		return tokEOF, ""
	}
	c := l.s[l.pos]
	switch {
	case c == ';':
		l.pos++
		return tokSemi, ""
	case c == '=':
		l.pos++
		return tokEquals, ""
	case c == '\'' || c == '"' || c == '`':
		l.quoted(c)
		return tokOther, ""
	case c == '[':
		if i := strings.IndexByte(l.s[l.pos:], ']'); i >= 0 {
			l.pos += i + 1
		} else {
			l.pos = len(l.s)
		}
		return tokOther, ""
	case isWordByte(c) && !(c >= '0' && c <= '9'):
		start := l.pos
		for l.pos < len(l.s) && isWordByte(l.s[l.pos]) {
			l.pos++
		}
		return tokWord, l.s[start:l.pos]
	case isWordByte(c): // a number, or 1e5, or 0x1F
		for l.pos < len(l.s) && (isWordByte(l.s[l.pos]) || l.s[l.pos] == '.') {
			l.pos++
		}
		return tokOther, ""
	}
	l.pos++
	return tokOther, ""
}

// quoted skips a literal or identifier closed by q, where qq escapes q.
func (l *sqlLexer) quoted(q byte) {
	l.pos++
	for l.pos < len(l.s) {
		if l.s[l.pos] == q {
			if l.pos+1 < len(l.s) && l.s[l.pos+1] == q {
				l.pos += 2
				continue
			}
			l.pos++
			return
		}
		l.pos++
	}
}

// isWordByte reports bytes that can be part of an SQLite identifier. Bytes
// of multi-byte UTF-8 characters count, as in SQLite.
func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 ||
		(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}
