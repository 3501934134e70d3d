package sqlitedb

import (
	"strings"
)

// stmtClass is what the writer needs to know of a statement before it runs.
type stmtClass uint8

const (
	classDML       stmtClass = iota // INSERT, UPDATE, DELETE, REPLACE, SELECT, WITH...
	classDDL                        // CREATE, DROP, ALTER, REINDEX, ANALYZE
	classTxControl                  // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, END
	classRefused                    // ATTACH, DETACH, VACUUM, PRAGMA with a value
)

// classify looks at the first keyword of sql (after comments and space).
func classify(sql string) (stmtClass, string) {
	toks := tokens(sql, 3)
	if len(toks) == 0 {
		return classDML, ""
	}
	kw := toks[0]
	switch kw {
	case "create", "drop", "alter", "reindex", "analyze":
		return classDDL, kw
	case "begin", "commit", "rollback", "savepoint", "release", "end":
		return classTxControl, kw
	case "attach", "detach", "vacuum":
		return classRefused, kw
	case "pragma":
		if strings.Contains(stripLiterals(sql), "=") || strings.Contains(sql, "(") {
			return classRefused, kw
		}
	}
	return classDML, kw
}

// timeFuncs are the date and time functions; they read the clock when
// given no arguments or the argument 'now'.
var timeFuncs = map[string]bool{"date": true, "time": true, "datetime": true, "julianday": true, "unixepoch": true, "strftime": true, "timediff": true}

// alwaysNondet are functions whose result differs between runs or nodes.
var alwaysNondet = map[string]bool{
	"random": true, "randomblob": true, "changes": true, "total_changes": true,
	"last_insert_rowid": true, "sqlite_version": true, "sqlite_source_id": true,
	"current_timestamp": true, "current_date": true, "current_time": true,
}

// nondeterministic returns the first construct in sql whose value can
// differ when the statement is run again elsewhere, or "" if there is none.
func nondeterministic(sql string) string {
	lower := strings.ToLower(sql)
	i := 0
	for i < len(lower) {
		c := lower[i]
		switch {
		case c == '\'':
			i = skipQuoted(lower, i, '\'')
		case c == '"' || c == '`':
			i = skipQuoted(lower, i, c)
		case c == '[':
			if j := strings.IndexByte(lower[i:], ']'); j >= 0 {
				i += j + 1
			} else {
				i = len(lower)
			}
		case c == '-' && i+1 < len(lower) && lower[i+1] == '-':
			if j := strings.IndexByte(lower[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(lower)
			}
		case c == '/' && i+1 < len(lower) && lower[i+1] == '*':
			if j := strings.Index(lower[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(lower)
			}
		case isIdentStart(c):
			j := i
			for j < len(lower) && isIdent(lower[j]) {
				j++
			}
			word := lower[i:j]
			k := j
			for k < len(lower) && isSpace(lower[k]) {
				k++
			}
			isCall := k < len(lower) && lower[k] == '('
			if alwaysNondet[word] && (isCall || strings.HasPrefix(word, "current_")) {
				return word
			}
			if isCall && timeFuncs[word] {
				args := callArgs(lower, k)
				if strings.TrimSpace(args) == "" || strings.Contains(args, "'now'") || (word == "strftime" && !strings.Contains(args, ",")) {
					return word + "(" + args + ")"
				}
			}
			i = j
		default:
			i++
		}
	}
	return ""
}

// callArgs returns the text between the parenthesis at open and its match.
func callArgs(s string, open int) string {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return s[open+1 : i]
			}
		case '\'':
			i = skipQuoted(s, i, '\'') - 1
		}
	}
	return s[open+1:]
}

func skipQuoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		if s[j] == q {
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// stripLiterals removes string literals, so keywords inside them are not seen.
func stripLiterals(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '\'' {
			i = skipQuoted(s, i, '\'')
			b.WriteString("''")
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// tokens returns up to n lower-cased leading keywords, skipping comments.
func tokens(sql string, n int) []string {
	var out []string
	s := strings.ToLower(sql)
	for i := 0; i < len(s) && len(out) < n; {
		c := s[i]
		switch {
		case isSpace(c) || c == ';' || c == '(':
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				return out
			}
			i += j
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return out
			}
			i += j + 4
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			return out
		}
	}
	return out
}

func isSpace(c byte) bool      { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c == '_' || c >= 0x80 }
func isIdent(c byte) bool      { return isIdentStart(c) || c >= '0' && c <= '9' || c == '$' }
