package commitwait

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The lexer of standby config text (see Parse).

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokNum
	tokStar
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind   tokKind
	text   string
	quoted bool
	pos    int // 1-based
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of text"
	case tokWord, tokNum:
		if t.quoted {
			return strconv.Quote(t.text)
		}
		return "'" + t.text + "'"
	case tokStar:
		return "'*'"
	case tokLParen:
		return "'('"
	case tokRParen:
		return "')'"
	case tokComma:
		return "','"
	}
	return "?"
}

func isNameRune(r rune) bool {
	return r == '_' || r == '-' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// lex splits config text into tokens; the last is always tokEOF.
func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r):
			i += w
		case r == '(' || r == ')' || r == ',' || r == '*':
			k := map[rune]tokKind{'(': tokLParen, ')': tokRParen, ',': tokComma, '*': tokStar}[r]
			toks = append(toks, token{kind: k, text: string(r), pos: i + 1})
			i++
		case r == '"':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, &ConfigError{Input: s, Pos: i + 1, Msg: "unterminated quoted name"}
				}
				if s[j] == '"' {
					if j+1 < len(s) && s[j+1] == '"' {
						b.WriteByte('"')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			toks = append(toks, token{kind: tokWord, text: b.String(), quoted: true, pos: i + 1})
			i = j + 1
		case isNameRune(r):
			j := i
			for j < len(s) {
				r, w := utf8.DecodeRuneInString(s[j:])
				if !isNameRune(r) {
					break
				}
				j += w
			}
			k := tokWord
			if strings.Trim(s[i:j], "0123456789") == "" {
				k = tokNum
			}
			toks = append(toks, token{kind: k, text: s[i:j], pos: i + 1})
			i = j
		default:
			return nil, &ConfigError{Input: s, Pos: i + 1,
				Msg: fmt.Sprintf("unexpected character %q; quote names that hold it (\"n 2\")", r)}
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(s) + 1}), nil
}

// quoteName returns the name as Parse reads it back: bare when it is only
// name characters, double-quoted otherwise.
func quoteName(n string) string {
	if n == Wildcard {
		return n
	}
	bare := n != ""
	for _, r := range n {
		if !isNameRune(r) {
			bare = false
			break
		}
	}
	if bare {
		return n
	}
	return `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
}
