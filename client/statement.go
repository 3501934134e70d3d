package client

import (
	"encoding/json"
	"errors"
)

// Statement is one SQL statement with its parameters. Args holds positional
// parameters (bound to ? or ?NNN) and Named holds named ones, keyed without
// the leading ':', '@' or '$'; at most one of them may be set.
type Statement struct {
	SQL   string
	Args  []any
	Named map[string]any
}

// errBothParams reports a Statement with both positional and named parameters.
var errBothParams = errors.New("client: statement has both Args and Named parameters; use one")

// MarshalJSON encodes the statement in rqlite's form: a bare string when it
// has no parameters, ["SQL", arg1, ...] with positional parameters, and
// ["SQL", {"name": value}] with named ones.
func (s Statement) MarshalJSON() ([]byte, error) {
	switch {
	case len(s.Args) > 0 && len(s.Named) > 0:
		return nil, errBothParams
	case len(s.Named) > 0:
		return json.Marshal([]any{s.SQL, s.Named})
	case len(s.Args) > 0:
		a := make([]any, 0, 1+len(s.Args))
		a = append(a, s.SQL)
		a = append(a, s.Args...)
		return json.Marshal(a)
	default:
		return json.Marshal(s.SQL)
	}
}

// SQL returns parameterless statements, one per string.
func SQL(sqls ...string) []Statement {
	out := make([]Statement, len(sqls))
	for i, s := range sqls {
		out[i] = Statement{SQL: s}
	}
	return out
}
