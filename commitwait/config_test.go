package commitwait

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestParse_Golden runs testdata/parse.txt: each input line is
// `parse "<Go-quoted text>"`; each output line is the canonical form with
// the parsed fields, or the error.
func TestParse_Golden(t *testing.T) {
	runGolden(t, "parse.txt", func(t *testing.T, in []string) []string {
		var out []string
		for _, l := range in {
			q, ok := strings.CutPrefix(l, "parse ")
			s, err := strconv.Unquote(q)
			if !ok || err != nil {
				t.Fatalf("bad input line %q: want parse \"<text>\"", l)
			}
			c, err := Parse(s)
			if err != nil {
				if !errors.Is(err, ErrBadConfig) {
					t.Errorf("Parse(%q) error %v does not wrap ErrBadConfig", s, err)
				}
				out = append(out, "error: "+err.Error())
				continue
			}
			out = append(out, strconv.Quote(c.String())+" "+describeConfig(c))
		}
		return out
	})
}

func describeConfig(c Config) string {
	if c.Async() {
		return "async"
	}
	return c.Method.String() + " k=" + strconv.Itoa(c.K) + " names=" + strconv.Quote(strings.Join(c.Names, "|"))
}

func TestConfig_StringRoundTrip(t *testing.T) {
	for _, c := range []Config{
		{},
		{Method: First, K: 2, Names: []string{"n2", "n3", "n4"}},
		{Method: Any, K: 1, Names: []string{"n-2", "n 3", `q"x`, "*", "FIRST", "7"}},
		{Method: First, K: 2, Names: []string{"Ünïcode", "a.b_c"}},
	} {
		got, err := Parse(c.String())
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.String(), err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("Parse(%q) = %#v, want %#v", c.String(), got, c)
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string // "" for valid
	}{
		{Config{}, ""},
		{Config{K: 1}, "k=1 but no standby listed"},
		{Config{Method: Any, K: 0, Names: []string{"a"}}, "must be at least 1"},
		{Config{Method: 7, K: 1, Names: []string{"a"}}, "unknown method Method(7)"},
		{Config{K: 2, Names: []string{"a"}}, "k=2 but only 1 standbys listed"},
		{Config{K: 5, Names: []string{"a", "*"}}, ""},
		{Config{K: 1, Names: []string{"a", "a"}}, "standby a listed twice"},
		{Config{K: 1, Names: []string{""}}, "empty standby name"},
	} {
		err := tc.c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%#v.Validate() = %v, want nil", tc.c, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadConfig)):
			t.Errorf("%#v.Validate() = %v, want ErrBadConfig containing %q", tc.c, err, tc.want)
		}
	}
}

func TestConfig_Priority(t *testing.T) {
	c := Config{Method: First, K: 1, Names: []string{"n2", "*", "n3"}}
	for name, want := range map[string]int{"n2": 1, "n9": 2, "n3": 2, "N2": 2} {
		if got := c.Priority(name); got != want {
			t.Errorf("Priority(%q) = %d, want %d", name, got, want)
		}
	}
	if got := (Config{K: 1, Names: []string{"n2"}}).Priority("n3"); got != 0 {
		t.Errorf("unlisted Priority = %d, want 0", got)
	}
}

func TestConfig_JSON(t *testing.T) {
	var v struct{ Sync Config }
	if err := json.Unmarshal([]byte(`{"Sync":"any 2 (n2, n3, n4)"}`), &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"Sync":"ANY 2 (n2,n3,n4)"}`; got != want {
		t.Fatalf("json = %s, want %s", got, want)
	}
	if err := json.Unmarshal([]byte(`{"Sync":"ANY 3 (n2)"}`), &v); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("bad config err = %v, want ErrBadConfig", err)
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts is
// valid and prints to text that parses back to the same config.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "n2", "FIRST 2 (n2, n3, n4)", "ANY 1 (n2,n3)", "2 (n2,n3)", `any 1 ("n-2", "a""b", *)`,
		"n2, n3", "FIRST (n2)", "MOST 1 (a)", `"unterminated`, "ANY 99999999999999999999 (a)", "x (", "(a)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Pos < 0 || ce.Pos > len(s)+1 {
				t.Fatalf("Parse(%q) error %v: want a *ConfigError with a position inside the input", s, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %#v, which fails Validate: %v", s, c, err)
		}
		back, err := Parse(c.String())
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("Parse(%q) = %#v; reparse of %q = %#v, %v", s, c, c.String(), back, err)
		}
	})
}
