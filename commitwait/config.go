package commitwait

import (
	"fmt"
	"strconv"
	"strings"
)

// Method says how the standbys of a Config are counted.
type Method int

const (
	// First waits for the K highest-priority connected standbys; a
	// standby's priority is its position in the list.
	First Method = iota
	// Any waits for any K of the listed standbys.
	Any
)

// String returns "FIRST" or "ANY".
func (m Method) String() string {
	switch m {
	case First:
		return "FIRST"
	case Any:
		return "ANY"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// Wildcard in Config.Names matches every standby.
const Wildcard = "*"

// Config names the standbys whose acknowledgements a synchronous commit
// waits for, like PostgreSQL's synchronous_standby_names. The zero Config
// (no names) means asynchronous: no commit waits for a standby.
type Config struct {
	Method Method
	// K is how many standbys must acknowledge.
	K int
	// Names lists standbys by node name, case-sensitive, in priority order
	// (for First). Wildcard matches any standby.
	Names []string
}

// Async reports whether the config names no standby, so no commit waits.
func (c Config) Async() bool { return len(c.Names) == 0 }

// Priority returns the 1-based position of the first entry of Names that
// matches the standby (by name or Wildcard), or 0 when none does. As in
// PostgreSQL, a smaller number is a higher priority.
func (c Config) Priority(name string) int {
	for i, n := range c.Names {
		if n == name || n == Wildcard {
			return i + 1
		}
	}
	return 0
}

// String returns the canonical form, which Parse reads back to an equal
// Config: "FIRST 2 (n2,n3,n4)", "ANY 1 (n2,\"n 3\")", or "" for async.
func (c Config) String() string {
	if c.Async() {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d (", c.Method, c.K)
	for i, n := range c.Names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quoteName(n))
	}
	b.WriteByte(')')
	return b.String()
}

// MarshalText implements encoding.TextMarshaler with the canonical form.
func (c Config) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (c *Config) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Validate reports the first problem with the config, if any. K may exceed
// the number of names only when the list holds Wildcard.
func (c Config) Validate() error {
	if msg, _ := c.validate(); msg != "" {
		return &ConfigError{Input: c.String(), Msg: msg}
	}
	return nil
}

// validate returns what is wrong, or "", and the index in Names of the name
// at fault (-1 when the fault is K or the method).
func (c Config) validate() (msg string, name int) {
	if c.Method != First && c.Method != Any {
		return fmt.Sprintf("unknown method %s; use FIRST or ANY", c.Method), -1
	}
	if c.Async() {
		if c.K != 0 {
			return fmt.Sprintf("k=%d but no standby listed", c.K), -1
		}
		return "", -1
	}
	if c.K < 1 {
		return fmt.Sprintf("k=%d: the number of standbys to wait for must be at least 1", c.K), -1
	}
	seen := make(map[string]bool, len(c.Names))
	for i, n := range c.Names {
		if n == "" {
			return "empty standby name", i
		}
		if seen[n] {
			return fmt.Sprintf("standby %s listed twice", quoteName(n)), i
		}
		seen[n] = true
	}
	if c.K > len(c.Names) && !seen[Wildcard] {
		return fmt.Sprintf("k=%d but only %d standbys listed", c.K, len(c.Names)), -1
	}
	return "", -1
}

// Parse reads standby config text and validates it. The forms are
// PostgreSQL's:
//
//	FIRST k (name, ...)   the k highest-priority connected standbys
//	k (name, ...)         the same (PostgreSQL's older syntax)
//	ANY k (name, ...)     any k of the listed standbys
//	name, ...             FIRST 1 (name, ...)
//	""                    asynchronous: no standby
//
// FIRST and ANY are case-insensitive; names are case-sensitive. A name is
// letters, digits, '_', '-' and '.', or is double-quoted ("n 2", with ""
// for a quote). "*" matches any standby.
func Parse(s string) (Config, error) {
	c, err := parse(s)
	if err != nil {
		return Config{}, err
	}
	if msg, i := c.validate(); msg != "" {
		pos := c.kPos
		if i >= 0 {
			pos = c.namePos[i]
		}
		return Config{}, &ConfigError{Input: s, Pos: pos, Msg: msg}
	}
	return c.Config, nil
}

// parsed is a syntactically valid config with the positions of its parts,
// for validation errors.
type parsed struct {
	Config
	kPos    int   // position of k, or of the first name when k is implied
	namePos []int // position of each name
}

// parse reads the syntax without validating the result, so tests can build
// configs that Validate rejects (duplicates, k larger than the list).
func parse(s string) (parsed, error) {
	toks, err := lex(s)
	if err != nil {
		return parsed{}, err
	}
	p := &parser{in: s, toks: toks}
	if p.peek().kind == tokEOF {
		return parsed{}, nil
	}
	c := parsed{Config: Config{Method: First, K: 1}}
	t := p.peek()
	switch {
	case t.kind == tokWord && !t.quoted && p.peekAt(1).kind == tokNum:
		switch strings.ToUpper(t.text) {
		case "FIRST":
			c.Method = First
		case "ANY":
			c.Method = Any
		default:
			return parsed{}, p.errAt(t, fmt.Sprintf("unknown method %q; use FIRST or ANY", t.text))
		}
		p.next()
		fallthrough
	case t.kind == tokNum:
		n := p.next()
		k, err := strconv.Atoi(n.text)
		if err != nil || k > 1<<20 {
			return parsed{}, p.errAt(n, fmt.Sprintf("number of standbys %s is too large", n.text))
		}
		c.K, c.kPos = k, n.pos
		if t := p.next(); t.kind != tokLParen {
			return parsed{}, p.errAt(t, fmt.Sprintf("want '(' after %d, found %s", k, t))
		}
		if c.Names, c.namePos, err = p.names(tokRParen); err != nil {
			return parsed{}, err
		}
	case t.kind == tokWord && !t.quoted && isKeyword(t.text):
		return parsed{}, p.errAt(p.peekAt(1), fmt.Sprintf("want the number of standbys after %s, found %s", strings.ToUpper(t.text), p.peekAt(1)))
	default:
		c.kPos = t.pos
		if c.Names, c.namePos, err = p.names(tokEOF); err != nil {
			return parsed{}, err
		}
		return c, nil
	}
	if t := p.next(); t.kind != tokEOF {
		return parsed{}, p.errAt(t, fmt.Sprintf("unexpected %s after ')'", t))
	}
	return c, nil
}

func isKeyword(s string) bool {
	u := strings.ToUpper(s)
	return u == "FIRST" || u == "ANY"
}

// parser walks the tokens of one config text.
type parser struct {
	in   string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.peekAt(0) }

func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1] // EOF
}

func (p *parser) next() token {
	t := p.peek()
	if p.i < len(p.toks) {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, msg string) error {
	return &ConfigError{Input: p.in, Pos: t.pos, Msg: msg}
}

// names reads "name {, name}" and then the end token.
func (p *parser) names(end tokKind) (names []string, pos []int, err error) {
	for {
		t := p.next()
		switch t.kind {
		case tokWord, tokNum, tokStar:
			names, pos = append(names, t.text), append(pos, t.pos)
		default:
			return nil, nil, p.errAt(t, fmt.Sprintf("want a standby name, found %s", t))
		}
		t = p.next()
		if t.kind == end {
			return names, pos, nil
		}
		if t.kind != tokComma {
			want := "',' or end of text"
			if end == tokRParen {
				want = "',' or ')'"
			}
			return nil, nil, p.errAt(t, fmt.Sprintf("want %s, found %s", want, t))
		}
	}
}
