package golden

import (
	"os"
	"strings"
	"testing"
)

// Case is one case of a golden file.
type Case struct {
	Input, Output []string
	Line          int // line number of its first input line
}

// Run checks every case of the file at path against run, which computes
// the output from the input lines. With rewrite, the file's outputs are
// rewritten from run instead (regenerate with the test's -rewrite flag).
func Run(t *testing.T, path string, rewrite bool, run func(t *testing.T, input []string) []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := Parse(string(data))
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	var out strings.Builder
	for i := range cases {
		c := &cases[i]
		var in []string
		for _, l := range c.Input {
			if !strings.HasPrefix(l, "#") {
				in = append(in, l)
			}
		}
		got := run(t, in)
		if rewrite {
			c.Output = got
		} else if g, w := strings.Join(got, "\n"), strings.Join(c.Output, "\n"); g != w {
			t.Errorf("%s:%d: output changed (run with -rewrite if intended)\ninput:\n%s\ngot:\n%s\nwant:\n%s",
				path, c.Line, strings.Join(in, "\n"), g, w)
		}
		if i > 0 {
			out.WriteString("\n")
		}
		for _, l := range c.Input {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n")
		for _, l := range c.Output {
			out.WriteString(l + "\n")
		}
	}
	if rewrite {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Parse splits a golden file into its cases.
func Parse(s string) []Case {
	var cases []Case
	var cur *Case
	inOutput := false
	for n, l := range strings.Split(s, "\n") {
		switch {
		case strings.TrimSpace(l) == "":
			cur, inOutput = nil, false
		case cur == nil:
			cases = append(cases, Case{Line: n + 1, Input: []string{l}})
			cur = &cases[len(cases)-1]
		case l == "----" && !inOutput:
			inOutput = true
		case inOutput:
			cur.Output = append(cur.Output, l)
		default:
			cur.Input = append(cur.Input, l)
		}
	}
	return cases
}
