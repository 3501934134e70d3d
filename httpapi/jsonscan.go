package httpapi

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// parser is a cursor over a request body. It knows just the JSON that a
// statement list can hold, so it needs no reflection and no recursion.
type parser struct {
	b   []byte
	pos int
}

func (p *parser) eof() bool { return p.pos >= len(p.b) }

// peek returns the byte at the cursor, or 0 at the end.
func (p *parser) peek() byte {
	if p.pos < len(p.b) {
		return p.b[p.pos]
	}
	return 0
}

// ws skips JSON whitespace.
func (p *parser) ws() {
	for p.pos < len(p.b) {
		switch p.b[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// next consumes the separator after an element of a list closed by end:
// it reports true after a ',' and false after end.
func (p *parser) next(end byte, what string) (bool, error) {
	p.ws()
	switch p.peek() {
	case ',':
		p.pos++
		return true, nil
	case end:
		p.pos++
		return false, nil
	}
	return false, p.syntax(fmt.Sprintf("expected ',' or '%c' after a %s", end, what))
}

// syntax returns an ErrInvalidJSON error at the cursor.
func (p *parser) syntax(msg string) error {
	if p.eof() {
		return fmt.Errorf("%w at byte %d: %s, found the end of the body", ErrInvalidJSON, p.pos, msg)
	}
	return fmt.Errorf("%w at byte %d: %s, found %q", ErrInvalidJSON, p.pos, msg, p.b[p.pos])
}

// kind names the JSON type of the value at the cursor.
func (p *parser) kind() (string, error) {
	switch c := p.peek(); {
	case c == '{':
		return "object", nil
	case c == '[':
		return "array", nil
	case c == '"':
		return "string", nil
	case c == 't' || c == 'f':
		return "boolean", nil
	case c == 'n':
		return "null", nil
	case c == '-' || isDigit(c):
		return "number", nil
	}
	return "", p.syntax("expected a value")
}

// str decodes the JSON string at the cursor. Like encoding/json it turns
// invalid UTF-8 and lone surrogates into U+FFFD.
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: plain ASCII with no escapes needs only a copy.
	for i := start; i < len(p.b); i++ {
		c := p.b[i]
		if c == '"' {
			p.pos = i + 1
			return string(p.b[start:i]), nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
	}
	out := make([]byte, 0, 32)
	for {
		if p.eof() {
			return "", p.syntax("unterminated string")
		}
		c := p.b[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(out), nil
		case c < 0x20:
			return "", p.syntax("control character in string")
		case c == '\\':
			var err error
			if out, err = p.escape(out); err != nil {
				return "", err
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.b[p.pos:])
			out = utf8.AppendRune(out, r) // RuneError for invalid bytes
			p.pos += size
		}
	}
}

// escape decodes the escape sequence at the cursor and appends it to out.
func (p *parser) escape(out []byte) ([]byte, error) {
	p.pos++ // backslash
	if p.eof() {
		return out, p.syntax("unterminated escape")
	}
	c := p.b[p.pos]
	p.pos++
	switch c {
	case '"', '\\', '/':
		return append(out, c), nil
	case 'b':
		return append(out, '\b'), nil
	case 'f':
		return append(out, '\f'), nil
	case 'n':
		return append(out, '\n'), nil
	case 'r':
		return append(out, '\r'), nil
	case 't':
		return append(out, '\t'), nil
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return out, p.syntax("invalid \\u escape")
		}
		if utf16.IsSurrogate(r) {
			// A high surrogate may pair with a following \uXXXX low one.
			save := p.pos
			if p.pos+1 < len(p.b) && p.b[p.pos] == '\\' && p.b[p.pos+1] == 'u' {
				p.pos += 2
				if r2, ok := p.hex4(); ok {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						return utf8.AppendRune(out, dec), nil
					}
				}
			}
			p.pos = save
			r = utf8.RuneError
		}
		return utf8.AppendRune(out, r), nil
	}
	p.pos--
	return out, p.syntax("invalid escape character")
}

// hex4 reads four hexadecimal digits.
func (p *parser) hex4() (rune, bool) {
	if len(p.b)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.pos : p.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.pos += 4
	return r, true
}
