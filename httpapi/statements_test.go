package httpapi_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/httpapi"
)

func TestParseStatements(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []command.Statement
	}{
		{"simple", `["CREATE TABLE t (id INTEGER)"]`, []command.Statement{{SQL: "CREATE TABLE t (id INTEGER)"}}},
		{"several", ` [ "A" , "B" ] `, []command.Statement{{SQL: "A"}, {SQL: "B"}}},
		{"sql only array", `[["SELECT 1"]]`, []command.Statement{{SQL: "SELECT 1"}}},
		{"positional", `[["INSERT INTO t VALUES(?, ?, ?, ?)", 1, "fiona", 2.5, null]]`,
			[]command.Statement{{SQL: "INSERT INTO t VALUES(?, ?, ?, ?)", Args: []any{int64(1), "fiona", 2.5, nil}}}},
		{"numbers", `[["S", 0, -7, 9223372036854775807, 9223372036854775808, 1.0, 1e3, -2.5E-3]]`,
			[]command.Statement{{SQL: "S", Args: []any{int64(0), int64(-7), int64(9223372036854775807),
				9223372036854775808.0, 1.0, 1000.0, -0.0025}}}},
		{"bools", `[["S", true, false]]`, []command.Statement{{SQL: "S", Args: []any{int64(1), int64(0)}}}},
		{"named", `[["INSERT INTO t VALUES(:name, @age, $x)", {"name": "fiona", ":age": 20, "$x": null}]]`,
			[]command.Statement{{SQL: "INSERT INTO t VALUES(:name, @age, $x)",
				Named: map[string]any{"name": "fiona", "age": int64(20), "x": nil}}}},
		{"two named objects merge", `[["S", {"a": 1}, {"b": 2}]]`,
			[]command.Statement{{SQL: "S", Named: map[string]any{"a": int64(1), "b": int64(2)}}}},
		{"empty named object", `[["S", {}]]`, []command.Statement{{SQL: "S"}}},
		{"mixed forms", `["A", ["B", 1]]`, []command.Statement{{SQL: "A"}, {SQL: "B", Args: []any{int64(1)}}}},
		{"escapes", `["a\"b\\c\/d\n\t\u00e9\ud83d\ude00"]`, []command.Statement{{SQL: "a\"b\\c/d\n\té😀"}}},
		{"lone surrogate", `["\ud800x"]`, []command.Statement{{SQL: "\ufffdx"}}},
		{"invalid utf8", "[\"a\xffb\"]", []command.Statement{{SQL: "a\ufffdb"}}},
		{"utf8", `["SELECT 'héllo'"]`, []command.Statement{{SQL: "SELECT 'héllo'"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := httpapi.ParseStatements([]byte(tt.body), 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want; !reflect.DeepEqual(got, want) {
				t.Errorf("got  %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestParseStatements_Errors(t *testing.T) {
	tests := []struct {
		name string
		body string
		max  int
		want error
		sub  string
	}{
		{"empty body", ``, 0, httpapi.ErrNoStatements, "empty"},
		{"empty array", `[]`, 0, httpapi.ErrNoStatements, "empty"},
		{"not array", `{"sql": "x"}`, 0, httpapi.ErrInvalidRequest, "JSON array"},
		{"number statement", `[1]`, 0, httpapi.ErrInvalidRequest, "index 0 is a JSON number"},
		{"empty statement array", `["A", []]`, 0, httpapi.ErrInvalidRequest, "index 1 is an empty array"},
		{"sql not first", `[[1, "S"]]`, 0, httpapi.ErrInvalidRequest, "first item must be the SQL string"},
		{"nested array param", `[["S", [1, 2]]]`, 0, httpapi.ErrInvalidRequest, "parameter 1 is a JSON array"},
		{"nested object param", `[["S", {"a": {"b": 1}}]]`, 0, httpapi.ErrInvalidRequest, "JSON object"},
		{"mixed params", `[["S", 1, {"a": 2}]]`, 0, httpapi.ErrInvalidRequest, "mixes positional and named"},
		{"mixed params named first", `[["S", {"a": 2}, 1]]`, 0, httpapi.ErrInvalidRequest, "mixes positional and named"},
		{"empty name", `[["S", {":": 2}]]`, 0, httpapi.ErrInvalidRequest, "empty parameter name"},
		{"huge number", `[["S", 1e400]]`, 0, httpapi.ErrInvalidRequest, "out of range"},
		{"truncated", `["SELECT 1"`, 0, httpapi.ErrInvalidJSON, "at byte 11"},
		{"trailing comma", `["A",]`, 0, httpapi.ErrInvalidJSON, "at byte 5"},
		{"trailing data", `["A"] x`, 0, httpapi.ErrInvalidJSON, "at byte 6"},
		{"bad literal", `[["S", tru]]`, 0, httpapi.ErrInvalidJSON, "expected true"},
		{"bad number", `[["S", 01]]`, 0, httpapi.ErrInvalidJSON, "at byte 8"},
		{"bad fraction", `[["S", 1.]]`, 0, httpapi.ErrInvalidJSON, "decimal point"},
		{"bad escape", `["\x"]`, 0, httpapi.ErrInvalidJSON, "invalid escape"},
		{"control char", "[\"a\nb\"]", 0, httpapi.ErrInvalidJSON, "control character"},
		{"unterminated string", `["abc`, 0, httpapi.ErrInvalidJSON, "unterminated"},
		{"garbage", `[{]`, 0, httpapi.ErrInvalidRequest, "JSON object"},
		{"too many", `["A","B","C"]`, 2, httpapi.ErrTooManyStatements, "more than 2 statements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpapi.ParseStatements([]byte(tt.body), tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.sub) {
				t.Errorf("error %q does not contain %q", err, tt.sub)
			}
		})
	}
}

func TestParseStatements_Limit(t *testing.T) {
	got, err := httpapi.ParseStatements([]byte(`["A","B"]`), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("got %d statements, want 2", len(got))
	}
}
